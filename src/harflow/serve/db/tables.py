"""The service's tables (SQLAlchemy Core). The schema itself is owned by the Alembic migrations in
``db/migrations``; these definitions are what queries and ``alembic`` autogenerate compare against."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
_ID = BigInteger().with_variant(Integer, "sqlite")
tokens = Table(
    "device_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("device_id", String(128), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),  # migration 0003: NULL = never (tokens issued before it)
    Column("revoked_at", Float, nullable=True),
)
predictions = Table(
    "predictions",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("t_start", Float, nullable=False),
    Column("t_end", Float, nullable=False),
    Column("activity", String(64), nullable=False),
    Column("smoothed", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("probabilities", Text, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    # unique (migration 0003): a window is stored once per device and time, whatever resends or connections
    Index("ix_predictions_device_t", "device_id", "t_start", unique=True),
)
events = Table(
    "events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("t", Float, nullable=False),
    Column("from_activity", String(64), nullable=True),
    Column("to_activity", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_events_device_t", "device_id", "t"),
    Index("uq_events_device_type_t", "device_id", "type", "t", unique=True),
)

# --- activity patterns (migration 0002) -------------------------------------------------------------------
persons = Table(
    "persons",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("tz", String(64), nullable=False),  # IANA zone: days are the person's local calendar days
    Column("created_at", Float, nullable=False),
)
# which device a person wore when: a person's timeline is the union of their devices' predictions over
# these intervals (t_to NULL = still worn)
device_assignments = Table(
    "device_assignments",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("person_id", String(128), ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("t_from", Float, nullable=False),
    Column("t_to", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_assignments_device", "device_id", "t_from"),
    Index("ix_assignments_person", "person_id", "t_from"),
)
# runs of one smoothed activity, kept after the raw per-window predictions expire (retention)
segments = Table(
    "segments",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("t_start", Float, nullable=False),
    Column("t_end", Float, nullable=False),
    Column("activity", String(64), nullable=False),
    Column("windows", Integer, nullable=False),
    Index("ix_segments_device_t", "device_id", "t_start"),
)
daily_metrics = Table(
    "daily_metrics",
    metadata,
    Column("person_id", String(128), ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    Column("date", String(10), primary_key=True),  # local calendar day, YYYY-MM-DD
    Column("valid", Boolean, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON object: the day's metrics (harflow.patterns.daily)
    Column("computed_at", Float, nullable=False),
)
alerts = Table(
    "alerts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("person_id", String(128), ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("onset", String(16), nullable=False),
    Column("detected", String(16), nullable=False),
    Column("magnitude", Float, nullable=True),
    Column("severity", String(16), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("acknowledged_at", Float, nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    Column("ack_note", Text, nullable=True),
    # re-running the analytics over the same data finds the same alert: stored once
    UniqueConstraint("person_id", "kind", "metric", "onset", name="uq_alerts_identity"),
    Index("ix_alerts_person_created", "person_id", "created_at"),
)
# the outbox: written in the alert's own transaction, so a committed alert is always delivered (at least once)
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("alert_id", _ID, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("target", String(500), nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_deliveries_due", "delivered_at", "next_attempt_at"),
)
# per person: analytics are complete up to this time (epoch s); the next run starts from the day it falls in
pattern_state = Table(
    "pattern_state",
    metadata,
    Column("person_id", String(128), ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    Column("processed_until", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # the person's inactivity profile (JSON, harflow.patterns.inactivity) and when it was learned
    Column("profile", Text, nullable=True),
    Column("profile_learned_at", Float, nullable=True),
)

# --- caregiver accounts (migration 0004) ------------------------------------------------------------------
users = Table(
    "users",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # "caregiver" | "admin"
    Column("password_hash", String(200), nullable=False),  # argon2id, PHC string
    Column("created_at", Float, nullable=False),
    Column("password_changed_at", Float, nullable=False),
)
# which persons a caregiver looks after: they see these and nothing else
user_persons = Table(
    "user_persons",
    metadata,
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", String(128), ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", Float, nullable=False),
    Index("ix_user_persons_person", "person_id"),
)
# server-side sign-in sessions: only the SHA-256 of the cookie's session id is stored
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", _ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_web_sessions_user", "user_id"),
)
# erasures of a person's data: who, when, how many rows per table; the person only as a SHA-256 reference,
# so the audit itself keeps no identifier of the erased person in the clear
erasures = Table(
    "erasures",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("person_ref", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", Float, nullable=False),
    Column("rows", Text, nullable=False),  # JSON object: table -> rows deleted
)

"""The service's tables (SQLAlchemy Core). The schema itself is owned by the Alembic migrations in
``db/migrations``; these definitions are what queries and ``alembic`` autogenerate compare against."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()
tokens = Table(
    "device_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("device_id", String(128), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
)
predictions = Table(
    "predictions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
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
    Index("ix_predictions_device_t", "device_id", "t_start"),
)
events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("t", Float, nullable=False),
    Column("from_activity", String(64), nullable=True),
    Column("to_activity", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_events_device_t", "device_id", "t"),
)

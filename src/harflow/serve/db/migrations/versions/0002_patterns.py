"""activity patterns: persons, device assignments, segments, daily metrics, alerts, alert outbox, state

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _person() -> sa.ForeignKey:  # a ForeignKey belongs to one column: a new one each time
    return sa.ForeignKey("persons.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "device_assignments",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("person_id", sa.String(128), _person(), nullable=False),
        sa.Column("t_from", sa.Float, nullable=False),
        sa.Column("t_to", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_assignments_device", "device_assignments", ["device_id", "t_from"])
    op.create_index("ix_assignments_person", "device_assignments", ["person_id", "t_from"])
    op.create_table(
        "segments",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("t_start", sa.Float, nullable=False),
        sa.Column("t_end", sa.Float, nullable=False),
        sa.Column("activity", sa.String(64), nullable=False),
        sa.Column("windows", sa.Integer, nullable=False),
    )
    op.create_index("ix_segments_device_t", "segments", ["device_id", "t_start"])
    op.create_table(
        "daily_metrics",
        sa.Column("person_id", sa.String(128), _person(), primary_key=True),
        sa.Column("date", sa.String(10), primary_key=True),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("computed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(128), _person(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("onset", sa.String(16), nullable=False),
        sa.Column("detected", sa.String(16), nullable=False),
        sa.Column("magnitude", sa.Float, nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("acknowledged_at", sa.Float, nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("ack_note", sa.Text, nullable=True),
        sa.UniqueConstraint("person_id", "kind", "metric", "onset", name="uq_alerts_identity"),
    )
    op.create_index("ix_alerts_person_created", "alerts", ["person_id", "created_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("alert_id", _ID, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_deliveries_due", "alert_deliveries", ["delivered_at", "next_attempt_at"])
    op.create_table(
        "pattern_state",
        sa.Column("person_id", sa.String(128), _person(), primary_key=True),
        sa.Column("processed_until", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("profile", sa.Text, nullable=True),
        sa.Column("profile_learned_at", sa.Float, nullable=True),
    )


def downgrade() -> None:
    for t in ("pattern_state", "alert_deliveries", "alerts", "daily_metrics", "segments"):
        op.drop_table(t)
    op.drop_table("device_assignments")
    op.drop_table("persons")

"""initial schema: device tokens, predictions, events

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "device_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(128), nullable=False, index=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "predictions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("t_start", sa.Float, nullable=False),
        sa.Column("t_end", sa.Float, nullable=False),
        sa.Column("activity", sa.String(64), nullable=False),
        sa.Column("smoothed", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("probabilities", sa.Text, nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_predictions_device_t", "predictions", ["device_id", "t_start"])
    op.create_table(
        "events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("from_activity", sa.String(64), nullable=True),
        sa.Column("to_activity", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_events_device_t", "events", ["device_id", "t"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("predictions")
    op.drop_table("device_tokens")

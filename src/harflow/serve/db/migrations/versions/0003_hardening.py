"""hardening: a window stored once per (device, t_start) and an event once per (device, type, t); device
tokens expire and can be revoked

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # duplicates stored before this revision (resends, two connections of one device): the first one stays
    op.execute(
        "DELETE FROM predictions WHERE id NOT IN "
        "(SELECT MIN(id) FROM predictions GROUP BY device_id, t_start)"
    )
    op.execute("DELETE FROM events WHERE id NOT IN (SELECT MIN(id) FROM events GROUP BY device_id, type, t)")
    op.drop_index("ix_predictions_device_t", table_name="predictions")
    op.create_index("ix_predictions_device_t", "predictions", ["device_id", "t_start"], unique=True)
    op.create_index("uq_events_device_type_t", "events", ["device_id", "type", "t"], unique=True)
    op.add_column("device_tokens", sa.Column("expires_at", sa.Float, nullable=True))
    op.add_column("device_tokens", sa.Column("revoked_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_tokens") as b:
        b.drop_column("revoked_at")
        b.drop_column("expires_at")
    op.drop_index("uq_events_device_type_t", table_name="events")
    op.drop_index("ix_predictions_device_t", table_name="predictions")
    op.create_index("ix_predictions_device_t", "predictions", ["device_id", "t_start"])

"""The job store's runner lease: one job runner drives a store at a time.

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wps_runner_lease",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("runner", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("wps_runner_lease")

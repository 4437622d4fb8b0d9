"""The job table.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wps_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("process_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("percent", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_locator", sa.String(200)),
        sa.Column("error_text", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("started", sa.Float),
        sa.Column("finished", sa.Float),
        sa.Column("heartbeat", sa.Float),
        sa.Column("runner", sa.String(200)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sync", sa.Boolean, nullable=False),
    )
    op.create_index("ix_wps_jobs_status_created", "wps_jobs", ["status", "created"])
    op.create_index("ix_wps_jobs_finished", "wps_jobs", ["finished"])


def downgrade() -> None:
    op.drop_table("wps_jobs")

"""Each job's measured cluster use and cost (JSON), for reports and `wps-server jobs cost`.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wps_jobs") as batch:
        batch.add_column(sa.Column("cost", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("wps_jobs") as batch:
        batch.drop_column("cost")

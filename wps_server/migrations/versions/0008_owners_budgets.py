"""Users: the owner of every job and tasking request, failed sign-ins, and monthly budget charges.

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("wps_jobs", sa.Column("owner", sa.String(200)))
    op.create_index("ix_wps_jobs_owner_created", "wps_jobs", ["owner", "created"])
    # revision 0002 creates the catalogue from the current declarations, which have the column
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("ssa_tasking_requests")}
    if "owner" not in present:
        op.add_column("ssa_tasking_requests", sa.Column("owner", sa.String(200)))
    op.create_table(
        "wps_login_failures",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first", sa.Float, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
    )
    op.create_table(
        "wps_budget_accounts",
        sa.Column("account", sa.String(300), primary_key=True),
        sa.Column("changes", sa.Integer, nullable=False),
    )
    op.create_table(
        "wps_budget_charges",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("account", sa.String(300), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("micros", sa.BigInteger, nullable=False),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_wps_budget_charges_account_month", "wps_budget_charges", ["account", "month"])


def downgrade() -> None:
    op.drop_index("ix_wps_budget_charges_account_month", "wps_budget_charges")
    op.drop_table("wps_budget_charges")
    op.drop_table("wps_budget_accounts")
    op.drop_table("wps_login_failures")
    with op.batch_alter_table("ssa_tasking_requests") as batch:
        batch.drop_column("owner")
    op.drop_index("ix_wps_jobs_owner_created", "wps_jobs")
    with op.batch_alter_table("wps_jobs") as batch:
        batch.drop_column("owner")

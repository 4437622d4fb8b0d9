"""The SSA catalogue tables, as first released (later changes get explicit revisions).

Revision ID: 0002
"""

from __future__ import annotations

from alembic import op

from processes.ssa.catalogue.schema import metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

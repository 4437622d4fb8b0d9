"""Tasking requests carry a priority and the observation type asked for.

Revision 0002 creates the catalogue tables from the current declarations, so a catalogue created by it
after this change already has the columns: they are added only where they are missing.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "ssa_tasking_requests"
COLUMNS = (
    sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="5"),
    sa.Column("obs_type", sa.String(32), nullable=False, server_default=""),
)


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(TABLE)}
    missing = [c for c in COLUMNS if c.name not in present]
    if missing:
        with op.batch_alter_table(TABLE) as batch:
            for column in missing:
                batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for column in COLUMNS:
            batch.drop_column(column.name)

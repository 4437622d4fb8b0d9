"""Observation indexes end with the row id, the tie-breaker of the pages' order (epoch_us, id).

With the id in the index, a page of one object's, one sensor's or any rows in a time window is read
in order straight from the index and stops after its rows; without it PostgreSQL may fetch and sort
every match of the window (tens of thousands of rows for a sensor over an hour) to return 1,000.

Revision 0002 creates the catalogue tables from the current declarations, so a catalogue created by
it after this change already has these indexes: only an index whose columns differ is rebuilt. On a
large catalogue this rebuilds three indexes of the observation table (minutes at 10 million rows on
PostgreSQL, writes wait meanwhile).

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "ssa_observations"
NEW = {
    "ix_ssa_obs_object_epoch": ["norad_id", "epoch_us", "id"],
    "ix_ssa_obs_sensor_epoch": ["sensor_id", "epoch_us", "id"],
    "ix_ssa_obs_epoch": ["epoch_us", "id"],
}
OLD = {
    "ix_ssa_obs_object_epoch": ["norad_id", "epoch_us"],
    "ix_ssa_obs_sensor_epoch": ["sensor_id", "epoch_us"],
    "ix_ssa_obs_epoch": ["epoch_us"],
}


def _rebuild(wanted: dict[str, list[str]]) -> None:
    present = {i["name"]: i["column_names"] for i in sa.inspect(op.get_bind()).get_indexes(TABLE)}
    for name, columns in wanted.items():
        if present.get(name) == columns:
            continue
        if name in present:
            op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, columns)


def upgrade() -> None:
    _rebuild(NEW)


def downgrade() -> None:
    _rebuild(OLD)

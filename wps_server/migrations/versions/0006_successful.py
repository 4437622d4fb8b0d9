"""Jobs that ended well are ``successful``, OGC API - Processes' word, in the store as in the CLI.

Revision ID: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE wps_jobs SET status = 'successful' WHERE status = 'succeeded'")


def downgrade() -> None:
    op.execute("UPDATE wps_jobs SET status = 'succeeded' WHERE status = 'successful'")

"""Alembic migrations of the server's database (jobs and catalogue)."""

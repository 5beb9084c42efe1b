"""Alembic environment and migrations of the local database (loaded by Alembic by path)."""

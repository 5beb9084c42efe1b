"""The sync service's tests run on a real PostgreSQL (tests/pgcluster.py)."""

from tests.pgcluster import pg_cluster, pg_database_url, sync_service

__all__ = ["pg_cluster", "pg_database_url", "sync_service"]

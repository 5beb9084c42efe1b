"""Pulls served from a streaming read replica (--read-db-url) see every change exactly once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from app.syncserver.app import create_app
from app.syncserver.auth import create_user
from app.syncserver.db import make_engine
from app.syncserver.pgtemp import TempCluster
from app.syncserver.serve import ServerThread
from tests.pgcluster import make_settings
from tests.syncserver.wire import Api, change, signin


def test_pull_from_a_read_replica(pg_cluster: TempCluster, pg_database_url: str) -> None:
    engine = make_engine(pg_database_url)  # the schema exists before the replica is copied
    replica = pg_cluster.start_replica()
    try:
        with psycopg.connect(replica.dsn()) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        read_url = replica.url(pg_database_url.rsplit("/", 1)[1])
        settings = make_settings(pg_database_url, read_db_url=read_url)
        uid = create_user(engine, settings, "rep@example.org", "password 123", "s", ["teacher"])
        with ServerThread(create_app(settings, engine)) as server:
            token = signin(server.url, "rep@example.org", "password 123")["access_token"]
            scope = f"user:{uid}"

            def write(w: int) -> int:
                api = Api(server.url, token, f"w{w}")
                for p in range(10):
                    changes = [change("class", f"w{w}-{p}-{i}", {"i": i}) for i in range(10)]
                    assert api.push(scope, changes).status_code == 200
                api.close()
                return 100

            reader = Api(server.url, token, "reader")
            seen: list[int] = []
            after = 0
            with ThreadPoolExecutor(2) as pool:
                futures = [pool.submit(write, w) for w in range(2)]
                deadline = time.monotonic() + 60
                while len(seen) < 200 and time.monotonic() < deadline:
                    page = reader.pull(scope, after=after, limit=13).json()
                    seen += [c["seq"] for c in page["changes"]]
                    after = page["next"]
                    if not page["changes"]:
                        time.sleep(0.02)
                assert sum(f.result() for f in futures) == 200
            reader.close()
            assert seen == list(range(1, 201))
    finally:
        replica.stop()
        engine.dispose()

"""``huleedu sync-server``: refuses to start without a secret, --dev, create-user, the embedded
SQLite server end to end, one command against an existing PostgreSQL, and the bench's wiring."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.syncserver.pgtemp import ClusterError, TempCluster, free_port
from app.syncserver.serve import ServerProcess
from tests.syncserver.wire import Api, change, signin

PY = [sys.executable, "-m", "app"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HULEEDU_SYNC_SECRET"}
    env["HULEEDU_DATA_DIR"] = str(tmp_path)
    env.update(extra)
    return env


def test_serve_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*PY, "sync-server", "serve", "--port", str(free_port())],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "HULEEDU_SYNC_SECRET" in proc.stderr and "--dev" in proc.stderr


def test_embedded_sqlite_dev_server_end_to_end(tmp_path: Path) -> None:
    env = _env(tmp_path, HULEEDU_TEST_PW="sqlite password")
    made = subprocess.run(
        [
            *PY,
            "sync-server",
            "create-user",
            "solo@example.org",
            "--org",
            "home",
            "--role",
            "teacher",
            "--password-env",
            "HULEEDU_TEST_PW",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "sync-server.sqlite3").exists()
    again = subprocess.run(
        [
            *PY,
            "sync-server",
            "create-user",
            "solo@example.org",
            "--org",
            "home",
            "--role",
            "teacher",
        ],
        env=env,
        input="another password\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    port = free_port()
    proc = subprocess.Popen(
        [*PY, "sync-server", "--dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        session = signin(url, "solo@example.org", "sqlite password")
        api = Api(url, session["access_token"])
        scope = "user:" + session["user"]["id"]
        r = api.push(scope, [change("class", "c", {"n": 1}), change("class", "c", {"n": 2}, 1)])
        assert r.status_code == 200, r.text
        assert [a["version"] for a in r.json()["applied"]] == [1, 2]
        [rec] = api.pull_all(scope)
        assert rec["data"] == {"n": 2} and rec["seq"] == 2
        api.close()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "random token secret" in out and "embedded SQLite" in out


def test_one_command_against_an_existing_postgresql(pg_cluster: TempCluster) -> None:
    db_url = pg_cluster.create_database("one_command")
    env_pw = {"HULEEDU_TEST_PW": "postgres password"}
    made = subprocess.run(
        [
            *PY,
            "sync-server",
            "create-user",
            "pg@example.org",
            "--org",
            "s",
            "--role",
            "lead",
            "--db-url",
            db_url,
            "--password-env",
            "HULEEDU_TEST_PW",
        ],
        env={**os.environ, **env_pw},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with ServerProcess(db_url, "a-long-random-secret-for-this-test-only-0123") as server:
        session = signin(server.url, "pg@example.org", "postgres password")
        assert session["user"]["roles"] == ["lead"]
        api = Api(server.url, session["access_token"])
        assert api.push("org:s", [change("scale_version", "g1", {"A": 90})]).status_code == 200
        api.close()


def test_cluster_failure_is_loud(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.syncserver import pgtemp  # noqa: PLC0415

    monkeypatch.setattr(pgtemp, "_SEARCH_GLOBS", ())
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("PG_BIN_DIR", raising=False)
    with pytest.raises(ClusterError, match="apt-get install"):
        pgtemp.start_cluster()


def test_bench_runs_small_and_reports_every_key() -> None:
    from app.bench.sync import run  # noqa: PLC0415

    result = run(records=150, repeats=1, chunk=100, page=70)
    for key in ("push_ratio_vs_copy", "pull_ratio_vs_select", "push_seconds", "copy_seconds"):
        assert result[key] > 0
    assert "conflict_lost_values" in result

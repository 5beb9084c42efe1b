"""Sign-in, token refresh, refusals and the ``huleedu sync`` command line, against the real
service on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from app.operations.classes import NewClass, StudentFields, add_student, new_class
from app.sync.client import SyncError, SyncHttp
from app.sync.device import Device
from app.sync.tokens import KeyringStore, MemoryStore
from tests.pgcluster import TEST_SECRET, SyncService
from tests.sync.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def expired_token(user_id: str) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "org": "school1",
        "roles": ["teacher"],
        "iat": now - 100,
        "exp": now - 10,
        "iss": "huleedu-sync",
    }
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def test_an_expired_access_token_is_refreshed_and_the_refresh_token_rotates(
    make_device: Callable[..., Device], teacher: str
) -> None:
    a = make_device("a", teacher)
    a.sync()
    first_refresh = a.http.tokens.get(a.http.account)
    a.http.access_token = expired_token(a.http.user["id"])
    new_class(a.db, NewClass(name="Refreshed"))
    assert a.sync().pushed == 2
    assert a.http.tokens.get(a.http.account) not in (None, first_refresh)


def test_bad_credentials_and_no_sign_in(sync_service: SyncService, teacher: str) -> None:
    http = SyncHttp(sync_service.url, teacher, "dev1", tokens=MemoryStore())
    with pytest.raises(SyncError) as bad:
        http.signin("wrong password")
    assert bad.value.code == "bad_credentials" and "password is wrong" in str(bad.value)
    with pytest.raises(SyncError) as none:
        http.refresh()
    assert none.value.code == "signin_needed"
    http.close()


def test_another_teachers_scope_is_refused(
    make_device: Callable[..., Device], sync_service: SyncService, teacher: str
) -> None:
    a = make_device("a", teacher)
    a.sync()
    other = str(int(a.http.user["id"]) + 1000)
    with pytest.raises(SyncError) as refused:
        a.http.call("GET", a.http.path(f"user:{other}", "changes"), params={"after": 0})
    assert refused.value.status == 403 and "refused" in str(refused.value)


def test_offline_server_retries_then_fails_and_loses_nothing(tmp_path: Path) -> None:
    device = Device(
        tmp_path / "a",
        "http://127.0.0.1:9",
        "x@example.org",
        PASSWORD,
        base_delay=0.01,
        max_attempts=3,
    )
    try:
        new_class(device.db, NewClass(name="Offline"))
        with pytest.raises(SyncError) as offline:
            device.sync()
        assert offline.value.code == "offline" and "Nothing was lost" in str(offline.value)
    finally:
        device.close()


def test_keyring_store_falls_back_to_memory_without_a_backend() -> None:
    import keyring  # noqa: PLC0415
    from keyring.backends.fail import Keyring as Failing  # noqa: PLC0415

    previous = keyring.get_keyring()
    keyring.set_keyring(Failing())  # type: ignore[no-untyped-call]
    try:
        store = KeyringStore()
        store.put("acct", "tok")
        assert store.get("acct") == "tok" and not store.persistent and store.problem
    finally:
        keyring.set_keyring(previous)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **(env or {}),
    }
    return subprocess.run(  # noqa: PLW1510 (the exit code is the point)
        [sys.executable, "-m", "app", "sync", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_line(sync_service: SyncService, teacher: str, tmp_path: Path) -> None:
    from app.db import open_database  # noqa: PLC0415

    data = str(tmp_path / "cli")
    with open_database(data) as db:
        klass = new_class(db, NewClass(name="CLI"))
        add_student(db, klass.id, StudentFields("Eva", "Ek"))
    # offline server: exit 3, nothing lost
    down = cli(
        "--server",
        "http://127.0.0.1:9",
        "--email",
        teacher,
        "--data-dir",
        data,
        env={"HULEEDU_SYNC_PASSWORD": PASSWORD},
    )
    assert down.returncode == 3, down.stderr
    assert "cannot be reached" in down.stderr
    status = cli("status", "--json", "--data-dir", data)
    assert json.loads(status.stdout)["pending_changes"] == 4
    # wrong password: exit 4
    wrong = cli(
        "--server",
        sync_service.url,
        "--email",
        teacher,
        "--data-dir",
        data,
        env={"HULEEDU_SYNC_PASSWORD": "nope nope"},
    )
    assert wrong.returncode == 4 and "password is wrong" in wrong.stderr
    # no password and no keyring: exit 4 with advice
    unsigned = cli("--server", sync_service.url, "--email", teacher, "--data-dir", data)
    assert unsigned.returncode == 4 and "sign" in unsigned.stderr
    ok = cli(
        "--server",
        sync_service.url,
        "--email",
        teacher,
        "--data-dir",
        data,
        "--json",
        env={"HULEEDU_SYNC_PASSWORD": PASSWORD},
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["pushed"] == 4
    assert "no system keyring" in ok.stderr
    after = json.loads(cli("status", "--json", "--data-dir", data).stdout)
    assert after["pending_changes"] == 0
    assert after["scopes"][0]["last_sync_at"] is not None
    out = cli("signout", "--data-dir", data)
    assert out.returncode == 0 and "Signed out" in out.stdout
    listed = cli("conflicts", "--data-dir", data)
    assert listed.returncode == 0 and "No conflicts" in listed.stdout
    missing = cli("conflicts", "--restore", "99", "--data-dir", data)
    assert missing.returncode == 2 and "No conflict number 99" in missing.stderr


def test_restore_a_kept_value(make_device: Callable[..., Device], teacher: str) -> None:
    from sqlalchemy import select  # noqa: PLC0415

    from app.db.models import Student  # noqa: PLC0415
    from app.sync.conflicts import list_conflicts, restore_conflict  # noqa: PLC0415

    a, b = make_device("a", teacher), make_device("b", teacher)
    klass = new_class(a.db, NewClass(name="R"))
    st = add_student(a.db, klass.id, StudentFields("Ida", "Old"))
    a.sync()
    b.sync()
    with a.db.session() as s:
        row = s.get(Student, st.id)
        assert row is not None
        row.last_name = "FromA"
    with b.db.session() as s:
        row = s.get(Student, st.id)
        assert row is not None
        row.last_name = "FromB"
    a.sync()
    b.sync()  # b's later edit wins; a's value is kept on b's list
    (conflict,) = list_conflicts(b.db)
    assert conflict.loser["data"]["last_name"] == "FromA"
    restore_conflict(b.db, conflict.id)
    assert list_conflicts(b.db) == []
    b.sync()
    a.sync()
    for device in (a, b):
        with device.db.read() as s:
            assert [x.last_name for x in s.scalars(select(Student))] == ["FromA"]

"""Sign-in attempts are limited per e-mail and per client address (10 failures per 5 min)."""

from __future__ import annotations

import httpx

from tests.pgcluster import SyncService


def _try(url: str, email: str, password: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/auth/signin", json={"email": email, "password": password, "device_id": "d"}
    )


def test_per_email_then_per_address(sync_service: SyncService) -> None:
    url = sync_service.url
    sync_service.create_user("victim@example.org", "the real password")
    codes = [_try(url, "victim@example.org", f"guess {i}").status_code for i in range(10)]
    assert codes == [401] * 10
    # The 11th attempt is refused before the password is looked at, even the right one.
    r = _try(url, "VICTIM@example.org", "the real password")
    assert r.status_code == 429
    assert r.json()["error"] == "too_many_attempts"
    assert "minutes" in r.json()["message"]
    # The address (127.0.0.1) has now failed 11 times: other e-mails from it are limited too.
    sync_service.create_user("bystander@example.org", "bystander password")
    r = _try(url, "bystander@example.org", "bystander password")
    assert r.status_code == 429


def test_the_wait_ends_one_window_after_the_last_failure(pg_database_url: str) -> None:
    """Refused attempts do not extend the wait: after the window the right password works."""
    import time  # noqa: PLC0415

    from app.syncserver.app import create_app  # noqa: PLC0415
    from app.syncserver.auth import create_user  # noqa: PLC0415
    from app.syncserver.db import make_engine  # noqa: PLC0415
    from app.syncserver.serve import ServerThread  # noqa: PLC0415
    from tests.pgcluster import make_settings  # noqa: PLC0415

    settings = make_settings(
        pg_database_url, signin_limit=3, signin_address_limit=100, signin_window_s=2
    )
    engine = make_engine(settings.db_url)
    create_user(engine, settings, "window@example.org", "the password", "s", ["teacher"])
    with ServerThread(create_app(settings, engine)) as server:
        assert [_try(server.url, "window@example.org", "bad").status_code for _ in range(3)] == [
            401
        ] * 3
        for _ in range(5):  # retries while refused
            assert _try(server.url, "window@example.org", "the password").status_code == 429
        time.sleep(2.2)
        assert _try(server.url, "window@example.org", "the password").status_code == 200
    engine.dispose()

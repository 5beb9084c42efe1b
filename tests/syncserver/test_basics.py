"""Health, sign-in, push and pull on loopback against a real PostgreSQL."""

from __future__ import annotations

import httpx

from tests.pgcluster import SyncService
from tests.syncserver.wire import Api, change, signin


def test_health_needs_no_token(sync_service: SyncService) -> None:
    r = httpx.get(sync_service.url + "/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert "version" in r.json()


def test_signin_push_pull_roundtrip(sync_service: SyncService) -> None:
    uid = sync_service.create_user("basic@example.org", "correct horse 1")
    session = signin(sync_service.url, "Basic@Example.org", "correct horse 1")
    assert session["user"] == {"id": str(uid), "org": "school1", "roles": ["teacher"]}
    assert session["expires_in"] > 0 and session["refresh_token"]
    api = Api(sync_service.url, session["access_token"])
    scope = f"user:{uid}"
    scopes = api.client.get("/v1/scopes").json()["scopes"]
    assert {"scope": scope, "can_write": True} in scopes
    assert {"scope": "org:school1", "can_write": False} in scopes

    r = api.push(
        scope,
        [
            change("class", "c1", {"name": "7B"}),
            change("student", "s1", {"name": "Ada", "class": "c1"}),
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(a["key"], a["version"], a["seq"]) for a in body["applied"]] == [
        ("c1", 1, 1),
        ("s1", 1, 2),
    ]
    assert body["conflicts"] == [] and body["rejected"] == [] and body["server_seq"] == 2

    page = api.pull(scope, after=0).json()
    assert [c["key"] for c in page["changes"]] == ["c1", "s1"]
    assert page["changes"][0]["data"] == {"name": "7B"}
    assert page["changes"][0]["device_id"] == "dev-a"
    assert page["next"] == 2 and page["more"] is False
    # An edit at the current version applies and moves the record to a new seq.
    r = api.push(scope, [change("class", "c1", {"name": "7C"}, base=1)])
    assert r.json()["applied"] == [{"kind": "class", "key": "c1", "version": 2, "seq": 3}]
    page = api.pull(scope, after=2).json()
    assert [(c["key"], c["version"], c["data"]) for c in page["changes"]] == [
        ("c1", 2, {"name": "7C"})
    ]
    # From the start the record appears once, at its latest state.
    assert [(c["key"], c["seq"]) for c in api.pull_all(scope, limit=1)] == [("s1", 2), ("c1", 3)]
    api.close()


def test_wrong_password_is_401(sync_service: SyncService) -> None:
    sync_service.create_user("wrongpw@example.org", "right password")
    r = httpx.post(
        sync_service.url + "/v1/auth/signin",
        json={"email": "wrongpw@example.org", "password": "nope nope", "device_id": "d"},
    )
    assert r.status_code == 401
    assert r.json()["error"] == "bad_credentials"
    r = httpx.post(
        sync_service.url + "/v1/auth/signin",
        json={"email": "nobody@example.org", "password": "nope nope", "device_id": "d"},
    )
    assert r.status_code == 401 and r.json()["error"] == "bad_credentials"


def test_unknown_paths_and_methods_answer_in_the_error_shape(sync_service: SyncService) -> None:
    r = httpx.get(sync_service.url + "/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = httpx.delete(sync_service.url + "/v1/health")
    assert r.status_code == 405 and set(r.json()) == {"error", "message"}


def test_a_lead_may_write_the_school_scope(sync_service: SyncService) -> None:
    uid = sync_service.create_user("lead2@example.org", "lead password", roles=("lead",))
    session = signin(sync_service.url, "lead2@example.org", "lead password")
    assert session["user"]["roles"] == ["lead"]
    api = Api(sync_service.url, session["access_token"])
    scopes = api.client.get("/v1/scopes").json()["scopes"]
    assert scopes == [
        {"scope": f"user:{uid}", "can_write": True},
        {"scope": "org:school1", "can_write": True},
    ]
    api.close()

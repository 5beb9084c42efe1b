"""Push semantics: idempotency, permissions, conflicts (loser kept), immutable kinds, runs,
clock skew, validation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.pgcluster import SyncService
from tests.syncserver.wire import Api, change, hlc, signin


@dataclass
class Users:
    teacher: Api
    teacher_scope: str
    other: Api
    other_scope: str
    lead: Api
    outsider: Api


@pytest.fixture(scope="module")
def users(sync_service: SyncService) -> Iterator[Users]:
    url = sync_service.url
    made = {}
    for email, org, role in [
        ("t1@school.org", "school1", "teacher"),
        ("t2@school.org", "school1", "teacher"),
        ("lead@school.org", "school1", "lead"),
        ("far@other.org", "school2", "admin"),
    ]:
        uid = sync_service.create_user(email, "password 123", org=org, roles=(role,))
        made[email] = (uid, Api(url, signin(url, email, "password 123")["access_token"]))
    u = Users(
        teacher=made["t1@school.org"][1],
        teacher_scope=f"user:{made['t1@school.org'][0]}",
        other=made["t2@school.org"][1],
        other_scope=f"user:{made['t2@school.org'][0]}",
        lead=made["lead@school.org"][1],
        outsider=made["far@other.org"][1],
    )
    yield u
    for _, api in made.values():
        api.close()


def test_retried_push_applies_once(users: Users) -> None:
    api, scope = users.teacher, users.teacher_scope
    push_id = str(uuid.uuid4())
    changes = [change("class", "retry-c", {"n": 1}), change("verdict", "retry-v", {"w": "a"})]
    first = api.push(scope, changes, push_id=push_id)
    assert first.status_code == 200
    before = api.pull_all(scope)
    again = api.push(scope, changes, push_id=push_id)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert api.pull_all(scope) == before
    # The same changes under a new push_id (a client that lost its push_id) repeat nothing.
    third = api.push(scope, changes)
    assert [(a["key"], a["version"], a["seq"]) for a in third.json()["applied"]] == [
        (a["key"], a["version"], a["seq"]) for a in first.json()["applied"]
    ]
    assert third.json()["conflicts"] == [] and third.json()["rejected"] == []
    assert api.pull_all(scope) == before


def test_push_id_of_another_scope_is_409(users: Users) -> None:
    push_id = str(uuid.uuid4())
    assert users.teacher.push(users.teacher_scope, [], push_id=push_id).status_code == 200
    r = users.lead.push("org:school1", [], push_id=push_id)
    assert r.status_code == 409 and r.json()["error"] == "push_id_reused"


def test_scope_permissions(users: Users) -> None:
    c = [change("class", "x", {"n": 1})]
    # Another teacher's scope: 403 for push, pull, conflicts and blobs.
    for resp in [
        users.other.push(users.teacher_scope, c),
        users.other.pull(users.teacher_scope),
        users.other.conflicts(users.teacher_scope),
        users.other.client.post(
            f"/v1/scopes/{users.teacher_scope}/blobs/missing", json={"sha256": []}
        ),
    ]:
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == "forbidden"
    # Ordinary teacher: reads the school's shared data, cannot write it.
    r = users.teacher.push("org:school1", [change("anchor_set_version", "a1", {"v": 1})])
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert users.teacher.pull("org:school1").status_code == 200
    # Lead writes it; the teacher then reads it.
    r = users.lead.push("org:school1", [change("anchor_set_version", "a1", {"v": 1})])
    assert r.status_code == 200 and len(r.json()["applied"]) == 1
    keys = [x["key"] for x in users.teacher.pull_all("org:school1")]
    assert "a1" in keys
    # Another school's admin can neither read nor write this school.
    assert users.outsider.pull("org:school1").status_code == 403
    assert users.outsider.push("org:school1", c).status_code == 403
    # Malformed scope.
    r = users.teacher.pull("nonsense")
    assert r.status_code == 400 and r.json()["error"] == "bad_scope"


def test_stale_edit_conflict_keeps_the_loser(users: Users) -> None:
    api, scope = users.teacher, users.teacher_scope
    t0 = int(time.time() * 1000) - 10_000
    api.push(scope, [change("student", "s-conf", {"name": "Ada"}, stamp=hlc("A", t0))])
    # Device A edits at base 1 (later clock); device B, offline, edited at base 1 earlier.
    a = api.push(
        scope, [change("student", "s-conf", {"name": "Ada L."}, 1, stamp=hlc("A", t0 + 5000))]
    )
    assert a.json()["applied"][0]["version"] == 2
    b = api.push(
        scope, [change("student", "s-conf", {"name": "Ada B."}, 1, stamp=hlc("B", t0 + 1000))]
    )
    body = b.json()
    assert body["applied"] == []
    [conf] = body["conflicts"]
    assert conf["winner"]["data"] == {"name": "Ada L."}
    assert conf["loser"]["data"] == {"name": "Ada B."} and conf["loser"]["version"] == 1
    # A later clock wins even on a stale base; the old value becomes the listed loser.
    c = api.push(
        scope, [change("student", "s-conf", {"name": "Ada C."}, 1, stamp=hlc("C", t0 + 9000))]
    )
    body = c.json()
    assert body["applied"][0]["version"] == 3
    assert body["conflicts"][0]["loser"]["data"] == {"name": "Ada L."}
    listed = api.conflicts(scope).json()["conflicts"]
    losers = [x["loser"]["data"]["name"] for x in listed if x["key"] == "s-conf"]
    assert losers == ["Ada B.", "Ada L."]
    assert all(x["created_at"] and x["id"] for x in listed)
    after = api.conflicts(scope, after=listed[0]["id"]).json()["conflicts"]
    assert [x["id"] for x in after] == [x["id"] for x in listed[1:]]
    [rec] = [x for x in api.pull_all(scope) if x["key"] == "s-conf"]
    assert rec["data"] == {"name": "Ada C."} and rec["version"] == 3


def test_delete_is_a_tombstone_and_follows_the_mutable_rule(users: Users) -> None:
    api, scope = users.teacher, users.teacher_scope
    t0 = int(time.time() * 1000) - 5000
    api.push(scope, [change("class", "del-c", {"n": "9A"}, stamp=hlc("A", t0))])
    r = api.push(scope, [change("class", "del-c", {}, 1, deleted=True, stamp=hlc("A", t0 + 1))])
    assert r.json()["applied"][0]["version"] == 2
    [rec] = [x for x in api.pull_all(scope) if x["key"] == "del-c"]
    assert rec["deleted"] is True
    # An older offline edit loses to the delete but is kept.
    r = api.push(scope, [change("class", "del-c", {"n": "9B"}, 1, stamp=hlc("B", t0 - 100))])
    assert r.json()["conflicts"][0]["loser"]["data"] == {"n": "9B"}


def test_immutable_kinds_and_forward_only_runs(users: Users) -> None:
    api, scope = users.teacher, users.teacher_scope
    v = change("verdict", "v-imm", {"winner": "e1", "loser": "e2"})
    assert len(api.push(scope, [v]).json()["applied"]) == 1
    # Identical re-push under a new push_id: a no-op reported as applied.
    again = api.push(scope, [v]).json()
    assert again["applied"][0]["version"] == 1 and again["rejected"] == []
    # Different content: rejected, other changes of the same push still apply.
    r = api.push(
        scope,
        [
            change("verdict", "v-imm", {"winner": "e2", "loser": "e1"}, 1),
            change("class", "with-rejected", {"n": 1}),
        ],
    ).json()
    assert [x["key"] for x in r["rejected"]] == ["v-imm"]
    assert r["rejected"][0]["reason"].startswith("immutable")
    assert [x["key"] for x in r["applied"]] == ["with-rejected"]

    run = "run-1"
    assert api.push(scope, [change("run", run, {"state": "running", "done": 1})]).json()["applied"]
    r = api.push(scope, [change("run", run, {"state": "paused", "done": 5}, 1)]).json()
    assert r["applied"][0]["version"] == 2
    r = api.push(scope, [change("run", run, {"state": "queued"}, 2)]).json()
    assert r["rejected"][0]["reason"].startswith("backwards")
    # Forward moves apply even from a stale base.
    r = api.push(scope, [change("run", run, {"state": "finished", "done": 9}, 1)]).json()
    assert r["applied"][0]["version"] == 3
    r = api.push(scope, [change("run", run, {"state": "finished", "done": 10}, 3)]).json()
    assert r["rejected"][0]["reason"].startswith("finished")
    [rec] = [x for x in api.pull_all(scope) if x["key"] == run]
    assert rec["data"] == {"state": "finished", "done": 9}


def test_clock_skew_refuses_the_whole_push(users: Users) -> None:
    api, scope = users.teacher, users.teacher_scope
    future = int(time.time() * 1000) + 6 * 60 * 1000
    r = api.push(
        scope,
        [
            change("class", "skew-ok", {"n": 1}),
            change("class", "skew", {"n": 1}, stamp=hlc("Z", future)),
        ],
    )
    assert r.status_code == 400 and r.json()["error"] == "clock_skew"
    assert "clock" in r.json()["message"]
    assert "skew-ok" not in [x["key"] for x in api.pull_all(scope)]
    near = int(time.time() * 1000) + 60 * 1000
    r = api.push(scope, [change("class", "skew-near", {"n": 1}, stamp=hlc("Z", near))])
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"device_id": "d", "changes": []}, "push_id"),
        ({"push_id": "12345678-aaaa", "changes": []}, "device_id"),
        ({"push_id": "12345678-aaaa", "device_id": "d", "changes": [{"kind": "Class"}]}, "kind"),
        (
            {
                "push_id": "12345678-aaaa",
                "device_id": "d",
                "changes": [{"kind": "class", "key": "k", "hlc": "yesterday"}],
            },
            "clock stamp",
        ),
        (
            {
                "push_id": "12345678-aaaa",
                "device_id": "d",
                "changes": [{"kind": "class", "key": "k", "hlc": hlc("d"), "data": [1]}],
            },
            "data",
        ),
    ],
)
def test_bad_pushes_get_clear_400s(users: Users, body: dict[str, object], fragment: str) -> None:
    r = users.teacher.client.post(f"/v1/scopes/{users.teacher_scope}/push", json=body)
    assert r.status_code == 400
    assert fragment in r.json()["message"]


def test_too_many_changes_and_bad_json(users: Users) -> None:
    api, scope = users.teacher, users.teacher_scope
    many = [change("class", f"k{i}", {}) for i in range(1001)]
    r = api.push(scope, many)
    assert r.status_code == 400 and "1000" in r.json()["message"]
    r = api.client.post(f"/v1/scopes/{scope}/push", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = api.client.post(f"/v1/scopes/{scope}/push", content=b"x" * (9 * 1024 * 1024))
    assert r.status_code == 413


def test_erasing_a_class_everywhere(users: Users) -> None:
    """Tombstones reach other devices; an explicit erase removes the kept losing values."""
    api, scope = users.teacher, users.teacher_scope
    t0 = int(time.time() * 1000) - 20_000
    api.push(scope, [change("student", "erase-s", {"name": "Bo"}, stamp=hlc("A", t0))])
    api.push(scope, [change("student", "erase-s", {"name": "Bo A"}, 1, stamp=hlc("A", t0 + 2))])
    api.push(scope, [change("student", "erase-s", {"name": "Bo B"}, 1, stamp=hlc("B", t0 + 1))])
    r = api.push(scope, [change("student", "erase-s", {}, 2, deleted=True, stamp=hlc("A", t0 + 3))])
    assert r.json()["applied"][0]["version"] == 3
    [rec] = [c for c in api.pull_all(scope) if c["key"] == "erase-s"]
    assert rec["deleted"] is True and rec["data"] == {}
    keys = [c["key"] for c in api.conflicts(scope).json()["conflicts"]]
    assert "erase-s" in keys
    r = api.client.post(
        f"/v1/scopes/{scope}/conflicts/erase",
        json={"records": [{"kind": "student", "key": "erase-s"}]},
    )
    assert r.status_code == 200 and r.json()["erased"] == 1
    keys = [c["key"] for c in api.conflicts(scope).json()["conflicts"]]
    assert "erase-s" not in keys
    r = users.other.client.post(
        f"/v1/scopes/{scope}/conflicts/erase", json={"records": [{"kind": "student", "key": "x"}]}
    )
    assert r.status_code == 403


def test_a_push_that_fails_midway_keeps_nothing_and_retries_once(
    users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole push is one transaction: a failure after the new rows were copied in leaves
    nothing behind, and the retry with the same push_id applies every change exactly once."""
    from app.syncserver import push as push_mod  # noqa: PLC0415

    api, scope = users.teacher, users.teacher_scope
    api.push(scope, [change("class", "mid-old", {"n": 0})])
    before = api.pull_all(scope)
    real = push_mod._update_changed

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash inside the push")

    monkeypatch.setattr(push_mod, "_update_changed", explode)
    push_id = str(uuid.uuid4())
    changes = [change("class", f"mid-new-{i}", {"i": i}) for i in range(5)]
    changes.append(change("class", "mid-old", {"n": 1}, 1))
    r = api.push(scope, changes, push_id=push_id)
    assert r.status_code == 500 and r.json()["error"] == "internal"
    assert api.pull_all(scope) == before
    monkeypatch.setattr(push_mod, "_update_changed", real)
    r = api.push(scope, changes, push_id=push_id)
    assert r.status_code == 200 and len(r.json()["applied"]) == 6
    r2 = api.push(scope, changes, push_id=push_id)
    assert r2.json() == r.json()
    after = api.pull_all(scope)
    assert len(after) == len(before) + 5
    seqs = sorted(c["seq"] for c in after)
    assert seqs[-6:] == list(range(seqs[-6], seqs[-6] + 6))


def test_values_postgresql_cannot_store_get_400_not_500(users: Users) -> None:
    api, scope = users.teacher, users.teacher_scope
    r = api.push(scope, [change("class", "nul", {"name": "a\u0000b"})])
    assert r.status_code == 400 and "NUL" in r.json()["message"]
    r = api.push(scope, [change("class", "long-dev", {}, stamp=hlc("d" * 150))])
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = api.client.post(
        "/v1/auth/signin", json={"email": "x" * 400 + "@a.b", "password": "p", "device_id": "d"}
    )
    assert r.status_code == 400


def test_changes_to_one_key_within_a_push_build_on_each_other(users: Users) -> None:
    api, scope = users.teacher, users.teacher_scope
    r = api.push(
        scope,
        [
            change("class", "twice", {"n": 1}),
            change("class", "twice", {"n": 2}),
            change("class", "twice", {"n": 3}),
        ],
    ).json()
    assert [a["version"] for a in r["applied"]] == [1, 2, 3]
    assert r["conflicts"] == []
    [rec] = [c for c in api.pull_all(scope) if c["key"] == "twice"]
    assert rec["data"] == {"n": 3} and rec["version"] == 3


def test_pruned_push_responses_still_apply_once(users: Users, sync_service: SyncService) -> None:
    from dataclasses import replace  # noqa: PLC0415

    from app.syncserver.push import prune_pushes  # noqa: PLC0415

    api, scope = users.teacher, users.teacher_scope
    push_id = str(uuid.uuid4())
    changes = [change("class", "pruned", {"n": 1}), change("verdict", "pruned-v", {"w": 1})]
    first = api.push(scope, changes, push_id=push_id).json()
    settings = replace(sync_service.settings, push_retention_days=-1)
    assert prune_pushes(sync_service.engine, settings) >= 1  # type: ignore[arg-type]
    again = api.push(scope, changes, push_id=push_id).json()
    assert again["applied"] == first["applied"]
    assert again["conflicts"] == [] and again["rejected"] == []

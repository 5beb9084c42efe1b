"""Essay texts as blobs: hash checked, idempotent, batch upload and fetch, delete, permissions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.pgcluster import SyncService
from tests.syncserver.wire import Api, signin


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def owner(sync_service: SyncService) -> Iterator[tuple[Api, str, Api]]:
    uid = sync_service.create_user("blob@example.org", "password 123")
    sync_service.create_user("nosy@example.org", "password 123")
    api = Api(
        sync_service.url,
        signin(sync_service.url, "blob@example.org", "password 123")["access_token"],
    )
    nosy = Api(
        sync_service.url,
        signin(sync_service.url, "nosy@example.org", "password 123")["access_token"],
    )
    yield api, f"user:{uid}", nosy
    api.close()
    nosy.close()


def test_put_get_missing_delete(owner: tuple[Api, str, Api]) -> None:
    api, scope, nosy = owner
    text = "Ett litet essä om hösten – med å, ä och ö."
    digest = sha(text)
    base = f"/v1/scopes/{scope}/blobs"
    assert api.client.post(base + "/missing", json={"sha256": [digest]}).json() == {
        "missing": [digest]
    }
    r = api.client.put(f"{base}/{digest}", content=text.encode())
    assert r.status_code == 200 and r.json()["size"] == len(text.encode())
    assert api.client.put(f"{base}/{digest}", content=text.encode()).status_code == 200
    assert api.client.post(base + "/missing", json={"sha256": [digest]}).json() == {"missing": []}
    r = api.client.get(f"{base}/{digest}")
    assert r.status_code == 200 and r.content.decode() == text
    # Content must match its name; nothing is stored otherwise.
    wrong = sha("something else")
    r = api.client.put(f"{base}/{wrong}", content=text.encode())
    assert r.status_code == 400 and r.json()["error"] == "hash_mismatch"
    assert api.client.get(f"{base}/{wrong}").status_code == 404
    assert api.client.get(f"{base}/{wrong}").json()["error"] == "not_found"
    assert api.client.put(f"{base}/NOTAHASH", content=b"x").status_code == 400
    latin1 = "Åsa skrev".encode("latin-1")
    r = api.client.put(f"{base}/{hashlib.sha256(latin1).hexdigest()}", content=latin1)
    assert r.status_code == 400 and r.json()["error"] == "not_utf8"
    # Another teacher can neither read nor write these texts.
    assert nosy.client.get(f"{base}/{digest}").status_code == 403
    assert nosy.client.put(f"{base}/{digest}", content=text.encode()).status_code == 403
    # Delete (erasing a class everywhere) is idempotent.
    assert api.client.delete(f"{base}/{digest}").json() == {"deleted": True}
    assert api.client.delete(f"{base}/{digest}").json() == {"deleted": False}
    assert api.client.get(f"{base}/{digest}").status_code == 404


def test_batch_upload_and_fetch(owner: tuple[Api, str, Api]) -> None:
    api, scope, _ = owner
    base = f"/v1/scopes/{scope}/blobs"
    texts = [f"essay number {i} " * 50 for i in range(300)]
    items = [{"sha256": sha(t), "text": t} for t in texts]
    bad = [*items[:5], {"sha256": sha("x"), "text": "y"}]
    r = api.client.post(base + "/batch", json={"blobs": bad})
    assert r.status_code == 400 and r.json()["error"] == "hash_mismatch"
    # Nothing of the failed batch was stored.
    assert (
        len(
            api.client.post(
                base + "/missing", json={"sha256": [i["sha256"] for i in items[:5]]}
            ).json()["missing"]
        )
        == 5
    )
    r = api.client.post(base + "/batch", json={"blobs": items})
    assert r.status_code == 200 and r.json() == {"stored": 300}
    assert api.client.post(base + "/batch", json={"blobs": items[:10]}).status_code == 200
    unknown = sha("never uploaded")
    r = api.client.post(
        base + "/fetch", json={"sha256": [items[3]["sha256"], unknown, items[7]["sha256"]]}
    )
    body = r.json()
    assert [b["text"] for b in body["blobs"]] == [texts[3], texts[7]]
    assert body["missing"] == [unknown]

"""Two instances of the service over one database behave as one (the service is stateless)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from app.syncserver.app import create_app
from app.syncserver.db import make_engine
from app.syncserver.serve import ServerThread
from tests.pgcluster import SyncService
from tests.syncserver.wire import Api, change, signin


def test_two_instances_share_tokens_sequence_and_limits(sync_service: SyncService) -> None:
    engine = make_engine(sync_service.settings.db_url)
    with ServerThread(create_app(sync_service.settings, engine)) as second:
        a, b = sync_service.url, second.url
        uid = sync_service.create_user("two@example.org", "password 123")
        scope = f"user:{uid}"
        session = signin(a, "two@example.org", "password 123")
        # A refresh token from instance A rotates on B; its reuse is caught on A.
        r = httpx.post(b + "/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 200
        r = httpx.post(a + "/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 401 and r.json()["error"] == "token_reused"
        token = signin(b, "two@example.org", "password 123")["access_token"]

        def write(i: int) -> list[int]:
            api = Api(a if i % 2 else b, token, f"dev{i}")
            seqs = []
            for p in range(10):
                r = api.push(scope, [change("class", f"i{i}-{p}-{k}", {"k": k}) for k in range(5)])
                assert r.status_code == 200, r.text
                seqs += [x["seq"] for x in r.json()["applied"]]
            api.close()
            return seqs

        with ThreadPoolExecutor(4) as pool:
            all_seqs = sorted(s for seqs in pool.map(write, range(4)) for s in seqs)
        assert all_seqs == list(range(1, 201))
        reader = Api(a, token)
        assert [c["seq"] for c in reader.pull_all(scope, limit=33)] == all_seqs
        reader.close()
        # Failed sign-ins count across instances.
        for i in range(10):
            url = a if i % 2 else b
            r = httpx.post(
                url + "/v1/auth/signin",
                json={"email": "two@example.org", "password": f"wrong {i}", "device_id": "d"},
            )
            assert r.status_code == 401
        r = httpx.post(
            a + "/v1/auth/signin",
            json={"email": "two@example.org", "password": "password 123", "device_id": "d"},
        )
        assert r.status_code == 429
    engine.dispose()

"""`huleedu bench sync`: the sync service against bare PostgreSQL, as one JSON object.

One throwaway PostgreSQL cluster (:mod:`app.syncserver.pgtemp`) serves both sides. ``records``
synthetic essays (2-3 KB of text each, seeded) become essay records (metadata + ``text_sha256``)
whose texts are blobs:

* **push** through the service, a child process on 127.0.0.1 (``huleedu sync-server``), with a
  bare HTTP client: ``blobs/missing``, ``blobs/batch`` and ``push`` in chunks of ``chunk``;
  against **copy**: PostgreSQL ``COPY`` of the same rows (record fields + text) into a plain
  table, one transaction;
* **pull** through the service: ``changes`` pages by cursor plus ``blobs/fetch`` of each page's
  texts; against **select**: one plain ``SELECT`` of the same rows with psycopg ``fetchall``.

Each repeat uses a fresh account (scope) and a fresh plain table; each side is timed best of
``repeats``. ``push_ratio_vs_copy`` and ``pull_ratio_vs_select`` are service over bare
(bar: <= 5 each). ``conflict_lost_values`` comes from the client's randomised three-device run
(``app.sync.convergence.run_three_devices``) when that module exists, else null.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

_WORDS = [
    "the",
    "essay",
    "argues",
    "that",
    "climate",
    "policy",
    "should",
    "weigh",
    "costs",
    "and",
    "benefits",
    "across",
    "generations",
    "while",
    "students",
    "often",
    "write",
    "about",
    "school",
    "uniforms",
    "homework",
    "and",
    "the",
    "value",
    "of",
    "reading",
    "novels",
    "history",
    "teaches",
    "us",
    "that",
    "evidence",
    "matters",
    "and",
    "a",
    "clear",
    "thesis",
    "guides",
    "the",
    "reader",
    "through",
    "each",
    "paragraph",
    "with",
    "examples",
    "counterarguments",
    "and",
    "a",
    "conclusion",
    "that",
    "returns",
    "to",
    "the",
    "question",
]


@dataclass
class Row:
    key: str
    hlc: str
    data: dict[str, Any]
    text: str
    sha: str


def make_rows(n: int, seed: int, device: str) -> list[Row]:
    """``n`` essays of 2-3 KB with their records' data (seeded, so both sides get the same)."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000) - 60_000
    rows = []
    for i in range(n):
        words: list[str] = []
        size = rng.randint(2000, 3000)
        length = 0
        while length < size:
            w = rng.choice(_WORDS)
            words.append(w)
            length += len(w) + 1
        text = " ".join(words)[:size]
        sha = hashlib.sha256(text.encode()).hexdigest()
        data = {
            "title": f"Essay {i}",
            "student_key": f"s{i % 300}",
            "batch_key": f"b{i // 30}",
            "text_sha256": sha,
            "words": len(words),
        }
        rows.append(Row(f"e{i:06d}", f"{now_ms + i:013d}-00000-{device}", data, text, sha))
    return rows


def _json_post(client: httpx.Client, path: str, payload: Any) -> Any:
    r = client.post(
        path, content=orjson.dumps(payload), headers={"content-type": "application/json"}
    )
    if r.status_code != 200:
        raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
    return orjson.loads(r.content)


def push_through_service(client: httpx.Client, scope: str, rows: list[Row], chunk: int) -> float:
    base = f"/v1/scopes/{quote(scope, safe='')}"
    t0 = time.perf_counter()
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        missing = set(
            _json_post(client, base + "/blobs/missing", {"sha256": [r.sha for r in part]})[
                "missing"
            ]
        )
        todo = [{"sha256": r.sha, "text": r.text} for r in part if r.sha in missing]
        if todo:
            _json_post(client, base + "/blobs/batch", {"blobs": todo})
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        body = {
            "push_id": secrets.token_hex(16),
            "device_id": "bench",
            "changes": [
                {
                    "kind": "essay",
                    "key": r.key,
                    "base_version": 0,
                    "hlc": r.hlc,
                    "deleted": False,
                    "data": r.data,
                }
                for r in part
            ],
        }
        result = _json_post(client, base + "/push", body)
        if len(result["applied"]) != len(part):
            raise RuntimeError(f"push applied {len(result['applied'])} of {len(part)}")
    return time.perf_counter() - t0


def pull_through_service(client: httpx.Client, scope: str, page: int) -> tuple[float, int, int]:
    base = f"/v1/scopes/{quote(scope, safe='')}"
    t0 = time.perf_counter()
    after, records, texts = 0, 0, 0
    while True:
        r = client.get(base + "/changes", params={"after": after, "limit": page})
        if r.status_code != 200:
            raise RuntimeError(f"changes: {r.status_code} {r.text[:300]}")
        body = orjson.loads(r.content)
        changes = body["changes"]
        records += len(changes)
        shas = [c["data"]["text_sha256"] for c in changes if c["kind"] == "essay"]
        if shas:
            got = _json_post(client, base + "/blobs/fetch", {"sha256": shas})
            texts += len(got["blobs"])
        after = body["next"]
        if not body["more"]:
            break
    return time.perf_counter() - t0, records, texts


_PLAIN = (
    "CREATE TABLE IF NOT EXISTS bench_plain (scope text, kind text, key text, version bigint, "
    "hlc text, deleted boolean, data jsonb, device_id text, seq bigint, text text)"
)


def copy_plain(dsn: str, scope: str, rows: list[Row]) -> float:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(dsn) as conn:
        conn.execute(_PLAIN)
        conn.execute("TRUNCATE bench_plain")
        conn.commit()
        t0 = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY bench_plain (scope, kind, key, version, hlc, deleted, data, device_id, seq, "
                "text) FROM STDIN"
            ) as copy,
        ):
            for i, r in enumerate(rows, 1):
                copy.write_row(
                    (scope, "essay", r.key, 1, r.hlc, False, json.dumps(r.data), "bench", i, r.text)
                )
        conn.commit()
        return time.perf_counter() - t0


def select_plain(dsn: str) -> tuple[float, int]:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        rows = conn.execute(
            "SELECT scope, kind, key, version, hlc, deleted, data, device_id, seq, text "
            "FROM bench_plain ORDER BY seq"
        ).fetchall()
        return time.perf_counter() - t0, len(rows)


def conflict_lost_values(seed: int) -> tuple[int | None, str]:
    try:
        convergence = importlib.import_module("app.sync.convergence")
    except ImportError:
        return None, "app.sync.convergence is not there yet (the client's three-device run)"
    try:
        lost = int(convergence.run_three_devices(seed))
    except Exception as exc:  # reported in the JSON, not hidden
        return None, f"app.sync.convergence.run_three_devices failed: {exc!r}"
    return lost, "app.sync.convergence.run_three_devices"


def run(
    records: int = 10_000, repeats: int = 3, chunk: int = 1000, page: int = 1000, seed: int = 1
) -> dict[str, Any]:
    from app.syncserver.auth import create_user  # noqa: PLC0415
    from app.syncserver.db import make_engine  # noqa: PLC0415
    from app.syncserver.pgtemp import start_cluster  # noqa: PLC0415
    from app.syncserver.serve import ServerProcess  # noqa: PLC0415
    from app.syncserver.settings import Settings  # noqa: PLC0415

    rows = make_rows(records, seed, "bench")
    text_bytes = sum(len(r.text.encode()) for r in rows)
    push_s, copy_s, pull_s, select_s = [], [], [], []
    with start_cluster(fsync=True) as cluster:
        db_url = cluster.create_database("sync")
        dsn = cluster.dsn("sync")
        secret = secrets.token_urlsafe(32)
        settings = Settings(db_url=db_url, jwt_secret=secret)
        engine = make_engine(db_url, pool_size=1)
        with ServerProcess(db_url, secret) as server:
            for rep in range(repeats):
                email = f"bench{rep}@example.org"
                uid = create_user(engine, settings, email, "bench password", "bench", ["teacher"])
                scope = f"user:{uid}"
                with httpx.Client(base_url=server.url, timeout=300) as anon:
                    session = _json_post(
                        anon,
                        "/v1/auth/signin",
                        {"email": email, "password": "bench password", "device_id": "bench"},
                    )
                headers = {"Authorization": f"Bearer {session['access_token']}"}
                with httpx.Client(base_url=server.url, headers=headers, timeout=300) as client:
                    copy_s.append(copy_plain(dsn, scope, rows))
                    push_s.append(push_through_service(client, scope, rows, chunk))
                    sel, n_sel = select_plain(dsn)
                    select_s.append(sel)
                    pulled, n_rec, n_txt = pull_through_service(client, scope, page)
                    pull_s.append(pulled)
                    if not n_sel == n_rec == n_txt == records:
                        raise RuntimeError(
                            f"counts differ: select {n_sel}, records {n_rec}, texts {n_txt}"
                        )
        engine.dispose()
    lost, lost_source = conflict_lost_values(seed)
    push_b, copy_b, pull_b, sel_b = min(push_s), min(copy_s), min(pull_s), min(select_s)
    return {
        "records": records,
        "text_mb": round(text_bytes / 1e6, 1),
        "repeats": repeats,
        "push_seconds": round(push_b, 3),
        "copy_seconds": round(copy_b, 3),
        "push_ratio_vs_copy": round(push_b / copy_b, 2),
        "pull_seconds": round(pull_b, 3),
        "select_seconds": round(sel_b, 3),
        "pull_ratio_vs_select": round(pull_b / sel_b, 2),
        "conflict_lost_values": lost,
        "conflict_lost_values_source": lost_source,
        "bars": {"push_ratio_vs_copy": 5, "pull_ratio_vs_select": 5, "conflict_lost_values": 0},
        "postgres": {"fsync": True, "same_cluster_both_sides": True},
    }


def main(records: int, repeats: int, chunk: int, page: int, seed: int) -> int:
    result = run(records, repeats, chunk, page, seed)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0

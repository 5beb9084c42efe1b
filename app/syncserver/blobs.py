"""Essay texts as blobs named by their SHA-256, per scope (protocol v1, "Blobs").

Content is checked against its name (400 ``hash_mismatch``); storing is idempotent
(``INSERT ... ON CONFLICT DO NOTHING``). The batch endpoints move many texts per request so a
first upload of thousands of essays is not thousands of round trips.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
from sqlalchemy import Engine, delete, select

from app.syncserver.db import insert_ignore
from app.syncserver.errors import ApiError, bad_request
from app.syncserver.models import blobs

_SHA = re.compile(r"^[0-9a-f]{64}$")


def check_sha(sha: Any) -> str:
    if not isinstance(sha, str) or not _SHA.match(sha):
        raise bad_request(f"{sha!r} is not a lower-case hex SHA-256")
    return sha


def _sha_list(body: Any, field: str = "sha256", limit: int = 5000) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get(field), list):
        raise bad_request(f'expected {{"{field}": [..]}}')
    items = body[field]
    if len(items) > limit:
        raise bad_request(f"at most {limit} hashes per request")
    return [check_sha(s) for s in items]


def missing(engine: Engine, scope: str, body: Any) -> bytes:
    wanted = _sha_list(body)
    have: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(wanted), 1000):
            chunk = wanted[i : i + 1000]
            have.update(
                conn.execute(
                    select(blobs.c.sha256).where(blobs.c.scope == scope, blobs.c.sha256.in_(chunk))
                ).scalars()
            )
    return orjson.dumps({"missing": [s for s in dict.fromkeys(wanted) if s not in have]})


def put(engine: Engine, scope: str, sha: str, content: bytes) -> bytes:
    check_sha(sha)
    if hashlib.sha256(content).hexdigest() != sha:
        raise ApiError(400, "hash_mismatch", "The text does not match its SHA-256 name.")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request("an essay text must be UTF-8", "not_utf8") from exc
    with engine.begin() as conn:
        insert_ignore(
            conn, blobs, [{"scope": scope, "sha256": sha, "content": content, "size": len(content)}]
        )
    return orjson.dumps({"sha256": sha, "size": len(content)})


def put_many(engine: Engine, scope: str, body: Any) -> bytes:
    """``{"blobs": [{"sha256", "text"}]}``: every hash is checked before anything is stored."""
    if not isinstance(body, dict) or not isinstance(body.get("blobs"), list):
        raise bad_request('expected {"blobs": [{"sha256": .., "text": ..}]}')
    rows: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(body["blobs"]):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise bad_request(f"blob {i}: expected sha256 and text")
        sha = check_sha(item.get("sha256"))
        content = item["text"].encode()
        if hashlib.sha256(content).hexdigest() != sha:
            raise ApiError(400, "hash_mismatch", f"blob {i}: the text does not match {sha}.")
        rows[sha] = {"scope": scope, "sha256": sha, "content": content, "size": len(content)}
    with engine.begin() as conn:
        # One fixed order, so two uploads of overlapping texts cannot deadlock.
        insert_ignore(conn, blobs, [rows[k] for k in sorted(rows)])
    return orjson.dumps({"stored": len(rows)})


def get(engine: Engine, scope: str, sha: str) -> bytes:
    check_sha(sha)
    with engine.connect() as conn:
        content = conn.execute(
            select(blobs.c.content).where(blobs.c.scope == scope, blobs.c.sha256 == sha)
        ).scalar()
    if content is None:
        raise ApiError(404, "not_found", "That text is not on the server.")
    return bytes(content)


def get_many(engine: Engine, scope: str, body: Any) -> bytes:
    """``{"sha256": [..]}`` -> ``{"blobs": [{"sha256", "text"}], "missing": [..]}``."""
    wanted = _sha_list(body)
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for i in range(0, len(wanted), 1000):
            chunk = wanted[i : i + 1000]
            for sha, content in conn.execute(
                select(blobs.c.sha256, blobs.c.content).where(
                    blobs.c.scope == scope, blobs.c.sha256.in_(chunk)
                )
            ):
                found[sha] = bytes(content).decode("utf-8")
    order = list(dict.fromkeys(wanted))
    return orjson.dumps(
        {
            "blobs": [{"sha256": s, "text": found[s]} for s in order if s in found],
            "missing": [s for s in order if s not in found],
        }
    )


def remove(engine: Engine, scope: str, sha: str) -> bytes:
    """Delete a text (a teacher erasing a class everywhere); idempotent."""
    check_sha(sha)
    with engine.begin() as conn:
        stmt = delete(blobs).where(blobs.c.scope == scope, blobs.c.sha256 == sha)
        n = conn.execute(stmt).rowcount
    return orjson.dumps({"deleted": bool(n)})

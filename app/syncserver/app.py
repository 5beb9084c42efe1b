"""The FastAPI application: :func:`create_app` wires the routes of protocol v1 to the modules.

Stateless: every request reads and writes the database only, so any number of instances can run
behind a load balancer. Database work is synchronous (SQLAlchemy 2 + psycopg 3) and runs in the
thread pool; bodies are parsed and responses written with orjson.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import orjson
from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.syncserver import PROTOCOL_VERSION, blobs, pull
from app.syncserver import push as push_mod
from app.syncserver.auth import AuthService, TokenCodec
from app.syncserver.db import make_engine
from app.syncserver.errors import ApiError, bad_request, unauthorized
from app.syncserver.scopes import Principal, require_read, require_write, scopes_of
from app.syncserver.settings import Settings

log = logging.getLogger("huleedu.syncserver")
JSON = "application/json"


def _json(payload: bytes | Any, status: int = 200) -> Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Response(content=body, status_code=status, media_type=JSON)


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error": code, "message": message}, status)


async def _body_json(request: Request, limit: int) -> Any:
    raw = await _body_bytes(request, limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request("the request body is not valid JSON") from exc


async def _body_bytes(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"The request is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"The request is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The service for ``settings``; creates the schema (``metadata.create_all``) on the way."""
    settings.check()
    engine = engine if engine is not None else make_engine(settings.db_url, settings.pool_size)
    reader = (
        make_engine(settings.read_db_url, settings.pool_size, create_schema=False)
        if settings.read_db_url
        else engine
    )
    codec = TokenCodec(settings)
    auth = AuthService(engine, settings, codec)
    api = FastAPI(title="HuleEdu sync", version=__version__, docs_url=None, redoc_url=None)
    api.state.engine = engine
    api.state.read_engine = reader
    api.state.settings = settings

    @api.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.code, exc.message)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @api.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "internal", "The server failed; nothing of this request was kept.")

    def principal_of(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Sign in first (no access token was sent).")
        return codec.verify(token.strip())

    def scope_arg(request: Request) -> str:
        return unquote(str(request.path_params["scope"]))

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        """Run database work in the thread pool; an unexpected failure becomes 500 ``internal``
        (its transaction was rolled back, so nothing of the request was kept)."""
        try:
            return await run_in_threadpool(fn, *args)
        except ApiError:
            raise
        except Exception as exc:
            log.exception("request failed", exc_info=exc)
            raise ApiError(
                500, "internal", "The server failed; nothing of this request was kept."
            ) from exc

    @api.get("/v1/health")
    async def health() -> Response:
        return _json({"status": "ok", "version": __version__, "protocol": PROTOCOL_VERSION})

    @api.post("/v1/auth/signin")
    async def signin(request: Request) -> Response:
        body = await _body_json(request, 64 * 1024)
        if not isinstance(body, dict):
            raise bad_request("expected {email, password, device_id}")
        email, password = body.get("email"), body.get("password")
        device_id = body.get("device_id") or "unknown"
        if not isinstance(email, str) or not isinstance(password, str):
            raise bad_request("email and password are required")
        if len(email) > 320 or len(password) > 1024 or "\x00" in email:
            raise bad_request("the e-mail address or the password is too long")
        if not isinstance(device_id, str) or len(device_id) > 200:
            raise bad_request("device_id must be a short string")
        address = request.client.host if request.client else "unknown"
        return _json(await call(auth.signin, email, password, device_id, address))

    @api.post("/v1/auth/refresh")
    async def refresh(request: Request) -> Response:
        body = await _body_json(request, 64 * 1024)
        token = body.get("refresh_token") if isinstance(body, dict) else None
        return _json(await call(auth.refresh, token))

    @api.get("/v1/auth/jwks")
    async def jwks() -> Response:
        doc = codec.jwks()
        if doc is None:
            raise ApiError(404, "not_found", "This server signs with a shared secret (HS256).")
        return _json(doc)

    @api.get("/v1/scopes")
    async def list_scopes(request: Request) -> Response:
        return _json({"scopes": scopes_of(principal_of(request))})

    @api.post("/v1/scopes/{scope}/push")
    async def push(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_write(who, scope)
        raw = await _body_bytes(request, settings.max_body_bytes)
        if b"\\u0000" in raw:
            raise bad_request("the push contains a NUL character (\\u0000), which cannot be stored")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise bad_request("the request body is not valid JSON") from exc
        return _json(await call(push_mod.push, engine, settings, who, scope, body))

    @api.get("/v1/scopes/{scope}/changes")
    async def changes(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_read(who, scope)
        q = request.query_params
        return _json(
            await call(pull.changes, reader, settings, scope, q.get("after"), q.get("limit"))
        )

    @api.get("/v1/scopes/{scope}/conflicts")
    async def list_conflicts(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_read(who, scope)
        q = request.query_params
        return _json(
            await call(pull.conflict_list, reader, settings, scope, q.get("after"), q.get("limit"))
        )

    @api.post("/v1/scopes/{scope}/conflicts/erase")
    async def erase_conflicts(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_write(who, scope)
        body = await _body_json(request, settings.max_body_bytes)
        return _json(await call(pull.erase_conflicts, engine, scope, body))

    @api.post("/v1/scopes/{scope}/blobs/missing")
    async def blobs_missing(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_read(who, scope)
        body = await _body_json(request, settings.max_body_bytes)
        return _json(await call(blobs.missing, engine, scope, body))

    @api.post("/v1/scopes/{scope}/blobs/batch")
    async def blobs_put_many(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_write(who, scope)
        body = await _body_json(request, settings.max_body_bytes)
        return _json(await call(blobs.put_many, engine, scope, body))

    @api.post("/v1/scopes/{scope}/blobs/fetch")
    async def blobs_get_many(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_read(who, scope)
        body = await _body_json(request, 1024 * 1024)
        return _json(await call(blobs.get_many, reader, scope, body))

    @api.put("/v1/scopes/{scope}/blobs/{sha256}")
    async def blob_put(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_write(who, scope)
        content = await _body_bytes(request, settings.max_body_bytes)
        sha = str(request.path_params["sha256"])
        return _json(await call(blobs.put, engine, scope, sha, content))

    @api.get("/v1/scopes/{scope}/blobs/{sha256}")
    async def blob_get(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_read(who, scope)
        sha = str(request.path_params["sha256"])
        content = await call(blobs.get, reader, scope, sha)
        return Response(content=content, media_type="text/plain; charset=utf-8")

    @api.delete("/v1/scopes/{scope}/blobs/{sha256}")
    async def blob_delete(request: Request) -> Response:
        who, scope = principal_of(request), scope_arg(request)
        require_write(who, scope)
        sha = str(request.path_params["sha256"])
        return _json(await call(blobs.remove, engine, scope, sha))

    return api

"""The simulated provider server: an aiohttp application speaking the OpenAI, Anthropic and
Gemini APIs.

Endpoints (under ``/v1``, Gemini's under ``/v1beta``):

* OpenAI (:mod:`app.simserver.openai_wire`): ``POST /chat/completions``; ``POST /files``,
  ``GET /files/{id}``, ``GET /files/{id}/content``; ``POST /batches``, ``GET /batches``,
  ``GET /batches/{id}``, ``POST /batches/{id}/cancel``.
* Anthropic (:mod:`app.simserver.anthropic_wire`): ``POST /messages``;
  ``POST /messages/batches``, ``GET /messages/batches``, ``GET /messages/batches/{id}``,
  ``GET /messages/batches/{id}/results``, ``POST /messages/batches/{id}/cancel``.
* Gemini (:mod:`app.simserver.gemini_wire`): ``POST /v1beta/models/{model}:generateContent``.
* ``GET /sim/health``, ``GET /sim/stats`` (counters of requests and injected faults) and
  ``GET /sim/ledger`` (every winner stated per ordered pair).

Answers come from :mod:`app.simserver.judging`; latency, token counts, faults and batch timing
from the profile (:mod:`app.simserver.profiles`), with every duration divided by ``speed``.
Requests the real APIs refuse are refused first, with the providers' error bodies
(:mod:`app.simserver.strict`: GPT-5 parameters, strict schemas, Anthropic cache breakpoints and
thinking with a forced tool, Gemini schema fields); a profile's ``quota_after_calls`` makes every
later request an "out of credit" answer in each provider's words
(:func:`app.simserver.faults.quota_check`).
An answer is deterministic for (seed, request body, number of earlier identical requests).
An API key may be sent (``Authorization: Bearer …``, ``x-api-key``, or for Gemini
``x-goog-api-key`` or ``?key=``); a key starting with ``invalid`` is refused (401; Gemini: 400
``API_KEY_INVALID``). The server's memory is :class:`~app.simserver.state.SimState`;
error answers and injected faults are in :mod:`app.simserver.faults`.

This module assembles the application (:func:`build_app`) and runs it
(:func:`running_server`, :func:`start_in_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from app.simserver.anthropic_wire import add_anthropic_routes
from app.simserver.faults import DroppedError
from app.simserver.gemini_wire import add_gemini_routes
from app.simserver.openai_wire import add_openai_routes
from app.simserver.profiles import SimProfile, get_profile
from app.simserver.state import STATE_KEY, SimState, request_state

__all__ = [
    "STATE_KEY",
    "SimState",
    "build_app",
    "running_server",
    "start_in_thread",
]


async def _health(request: web.Request) -> web.StreamResponse:
    state = request_state(request)
    return web.json_response(
        {"status": "ok", "profile": state.profile.name, "speed": state.speed, "seed": state.seed}
    )


async def _stats(request: web.Request) -> web.StreamResponse:
    return web.json_response(dict(request_state(request).stats))


async def _ledger(request: web.Request) -> web.StreamResponse:
    """Winners stated per ordered pair (key: ``judging.pair_fingerprint``)."""
    return web.json_response(request_state(request).ledger)


@web.middleware
async def _drop_middleware(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except DroppedError:
        # The transport is closed; nothing can be sent. Answer with an empty response object,
        # which aiohttp fails to write and discards.
        return web.Response(status=499)


def build_app(
    profile: str | SimProfile = "generic", *, speed: float = 1.0, seed: int = 0, **overrides: Any
) -> web.Application:
    """The aiohttp application of a simulated provider.

    ``profile`` is a built-in profile name or a :class:`SimProfile`; ``overrides`` replace
    profile fields (see :func:`app.simserver.profiles.get_profile`). The application's
    :class:`SimState` is ``app[STATE_KEY]``.
    """
    state = SimState(get_profile(profile, **overrides), speed, seed)
    app = web.Application(middlewares=[_drop_middleware], client_max_size=256 * 1024 * 1024)
    app[STATE_KEY] = state
    add_openai_routes(app)
    add_anthropic_routes(app)
    add_gemini_routes(app)
    app.router.add_get("/sim/health", _health)
    app.router.add_get("/sim/stats", _stats)
    app.router.add_get("/sim/ledger", _ledger)

    async def _cleanup(app: web.Application) -> None:
        tasks = list(app[STATE_KEY].tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    app.on_cleanup.append(_cleanup)
    return app


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    address = runner.addresses[0]
    actual_host, actual_port = address[0], address[1]
    shown = f"[{actual_host}]" if ":" in str(actual_host) else str(actual_host)
    return runner, f"http://{shown}:{actual_port}"


@contextlib.asynccontextmanager
async def running_server(
    profile: str | SimProfile = "generic",
    speed: float = 1000.0,
    seed: int = 0,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> AsyncIterator[str]:
    """Run a simulated provider on ``host`` (a free port by default); yields its base URL.

    Example: ``async with running_server("flaky", speed=1000, seed=3) as url: ...`` then
    use ``url + "/v1"`` as the OpenAI base URL, ``url`` as the Anthropic one or
    ``url + "/v1beta"`` as the Gemini one.
    """
    app = build_app(profile, speed=speed, seed=seed, **overrides)
    runner, url = await _start(app, host, port)
    try:
        yield url
    finally:
        await runner.cleanup()


def start_in_thread(
    profile: str | SimProfile = "generic",
    speed: float = 1000.0,
    seed: int = 0,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> tuple[str, Callable[[], None]]:
    """Run a simulated provider in a background thread; returns (base URL, stop function)."""
    app = build_app(profile, speed=speed, seed=seed, **overrides)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def _main() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["runner"], box["url"] = loop.run_until_complete(_start(app, host, port))
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(box["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=_main, name="huleedu-sim-server", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]

    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    return str(box["url"]), stop

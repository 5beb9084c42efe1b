"""Running the service: in this process (the command), in a thread (tests) or as a child
process (the bench, so client and service do not share one interpreter lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from app.syncserver.pgtemp import free_port


def uvicorn_config(app: Any, host: str, port: int, **extra: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=extra.pop("log_level", "warning"),
        access_log=False,
        timeout_keep_alive=30,
        **extra,
    )


@dataclass
class ServerThread:
    """The app served by uvicorn in a daemon thread on 127.0.0.1; ``url`` once started."""

    app: Any
    port: int = 0
    url: str = ""
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self, timeout: float = 20.0) -> str:
        self.port = self.port or free_port()
        self._server = uvicorn.Server(uvicorn_config(self.app, "127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="syncserver")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sync service did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class ServerProcess:
    """``huleedu sync-server serve`` as a child process (``extra_args`` appended)."""

    db_url: str
    secret: str
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    url: str = ""
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: Any = field(default=None, repr=False)

    def start(self, timeout: float = 60.0) -> str:
        self.port = self.port or free_port()
        env = dict(os.environ, HULEEDU_SYNC_SECRET=self.secret)
        cmd = [
            sys.executable,
            "-m",
            "app",
            "sync-server",
            "serve",
            "--db-url",
            self.db_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--secret-env",
            "HULEEDU_SYNC_SECRET",
            *self.extra_args,
        ]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop)
        self._proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"the sync service exited with {self._proc.returncode}: {self.output()}"
                )
            try:
                if httpx.get(self.url + "/v1/health", timeout=1.0).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the sync service did not answer in time: {self.output()}")

    def output(self) -> str:
        """What the service printed so far (last 4000 characters)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        data: bytes = self._log.read()
        return data.decode(errors="replace")[-4000:]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""One device = one data folder syncing with one account (for the command line, tests and
the three-device run)."""

from __future__ import annotations

from pathlib import Path

from app.db.engine import Database, open_database
from app.operations.base import CancelToken, ProgressSink, ignore_progress
from app.sync.client import SyncHttp
from app.sync.engine import SyncReport, prepare, sync
from app.sync.tokens import MemoryStore, TokenStore


class Device:
    """A data folder with its database and its sync account."""

    def __init__(
        self,
        data_dir: Path,
        server_url: str,
        email: str,
        password: str | None = None,
        *,
        tokens: TokenStore | None = None,
        base_delay: float = 0.5,
        max_attempts: int = 5,
    ) -> None:
        self.db: Database = open_database(data_dir)
        device, _ = prepare(self.db)
        self.password = password
        self.http = SyncHttp(
            server_url,
            email,
            device,
            tokens=tokens if tokens is not None else MemoryStore(),
            base_delay=base_delay,
            max_attempts=max_attempts,
        )

    def sync(
        self,
        *,
        progress: ProgressSink = ignore_progress,
        cancel: CancelToken | None = None,
        page_size: int = 1000,
    ) -> SyncReport:
        """Sign in first if no token is held (with the password given), then sync."""
        if not self.http.user and self.http.tokens.get(self.http.account) is None:
            if self.password is None:
                self.http.refresh()  # raises "sign in first"
            else:
                self.http.signin(self.password)
        return sync(self.db, self.http, progress=progress, cancel=cancel, page_size=page_size)

    def close(self) -> None:
        self.http.close()
        self.db.close()

"""One driver per run: a lease in the database, renewed by a heartbeat, taken over only when stale.

A process that drives a run first takes its lease: it writes its holder id
(``host:pid:token``) and the time into the run's row, in one ``UPDATE`` that succeeds only if
nobody holds the lease, the caller already does, or the holder's last heartbeat is older than
``stale_after``. SQLite serialises writers, so two processes can never both succeed. The holder
renews the heartbeat every few seconds and clears the lease when it stops; a process that was
killed leaves a lease that goes stale and is then taken over.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update

from app.db.engine import Database
from app.db.models import Run

#: A lease whose heartbeat is older than this is free for another driver.
STALE_AFTER = timedelta(seconds=45)
#: How often the holder renews its heartbeat.
HEARTBEAT_EVERY = timedelta(seconds=10)


def new_holder() -> str:
    """A holder id naming this machine and process, unique per driver."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as a person would read it."""

    holder: str
    heartbeat_at: datetime | None

    def describe(self, now: datetime | None = None) -> str:
        host, _, rest = self.holder.partition(":")
        pid = rest.partition(":")[0]
        age = ""
        if self.heartbeat_at is not None:
            seconds = ((now or datetime.now(UTC)) - self.heartbeat_at).total_seconds()
            age = f", last heard from {max(0, round(seconds))} s ago"
        return f"process {pid} on {host}{age}"


class RunBusyError(RuntimeError):
    """Another process drives the run and its lease is fresh."""

    def __init__(self, run_id: str, holder: Holder) -> None:
        self.run_id = run_id
        self.holder = holder
        super().__init__(
            f"run {run_id} is being graded by {holder.describe()}; wait for it to finish or "
            "stop that process, then resume"
        )


def acquire(
    db: Database,
    run_id: str,
    holder: str,
    *,
    stale_after: timedelta = STALE_AFTER,
    now: datetime | None = None,
) -> None:
    """Take the run's lease for ``holder`` or raise :class:`RunBusyError` (KeyError: no run).

    A batch is graded by one run at a time: while another run of the same batch holds a fresh
    lease, this one is refused too (:class:`BatchBusyError`).
    """
    moment = now or datetime.now(UTC)
    with db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id}")
        sibling = s.execute(
            select(Run.id, Run.lease_holder, Run.lease_heartbeat_at).where(
                Run.batch_id == run.batch_id,
                Run.id != run_id,
                Run.lease_holder.is_not(None),
                Run.lease_heartbeat_at >= moment - stale_after,
            )
        ).first()
        if sibling is not None and not holder_is_dead(str(sibling[1])):
            raise BatchBusyError(run_id, str(sibling[0]), Holder(str(sibling[1]), sibling[2]))
        result = s.execute(
            update(Run)
            .where(
                Run.id == run_id,
                or_(
                    Run.lease_holder.is_(None),
                    Run.lease_holder == holder,
                    Run.lease_heartbeat_at.is_(None),
                    Run.lease_heartbeat_at < moment - stale_after,
                ),
            )
            .values(lease_holder=holder, lease_heartbeat_at=moment)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return
        s.refresh(run)
        holding = run.lease_holder or "?"
        if holder_is_dead(holding):
            # Its holder was a process on this machine that no longer exists (killed): the
            # lease is free at once rather than after it goes stale.
            taken = s.execute(
                update(Run)
                .where(Run.id == run_id, Run.lease_holder == holding)
                .values(lease_holder=holder, lease_heartbeat_at=moment)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return
        raise RunBusyError(run_id, Holder(holding, run.lease_heartbeat_at))


def holder_is_dead(holder: str) -> bool:
    """Whether ``holder`` names a process of this machine that has ended (a holder on another
    machine is never known to be dead; its lease goes stale instead)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


class BatchBusyError(RunBusyError):
    """Another run of the same batch is being driven."""

    def __init__(self, run_id: str, other_run: str, holder: Holder) -> None:
        self.other_run = other_run
        RuntimeError.__init__(
            self,
            f"run {other_run} of the same batch is being graded by {holder.describe()}; a batch "
            f"is graded by one run at a time, so run {run_id} waits until that one ends",
        )
        self.run_id = run_id
        self.holder = holder


def renew(db: Database, run_id: str, holder: str, now: datetime | None = None) -> bool:
    """Renew the heartbeat; False when the lease is no longer ``holder``'s (taken over)."""
    with db.session() as s:
        result = s.execute(
            update(Run)
            .where(Run.id == run_id, Run.lease_holder == holder)
            .values(lease_heartbeat_at=now or datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release(db: Database, run_id: str, holder: str) -> None:
    """Give the lease up (nothing happens when ``holder`` no longer holds it)."""
    with db.session() as s:
        s.execute(
            update(Run)
            .where(Run.id == run_id, Run.lease_holder == holder)
            .values(lease_holder=None, lease_heartbeat_at=None)
            .execution_options(synchronize_session=False)
        )


def holder_of(db: Database, run_id: str) -> Holder | None:
    with db.session() as s:
        run = s.get(Run, run_id)
        if run is None or run.lease_holder is None:
            return None
        return Holder(run.lease_holder, run.lease_heartbeat_at)

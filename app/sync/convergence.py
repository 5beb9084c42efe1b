"""Three devices of one teacher editing the same students offline and syncing in random order:
no written value may disappear.

A value (a student's last name) written on a device is *kept* when, after every device has
synced to the end, it is the student's current value on all three devices (the student not
deleted), or it is in some device's conflict list (``huleedu sync conflicts``). A value is
*knowingly replaced* when the device that held it as current overwrote or deleted it (the
teacher saw it there); that is not a loss. Every other written value is *lost*.

:class:`ThreeDevices` is the driver (the hypothesis state machine in
``tests/sync/test_three_devices.py`` calls its steps); :func:`run_three_devices` plays a seeded
random sequence against a service of its own (a throwaway PostgreSQL cluster) and returns the
number of lost values (``huleedu bench sync`` prints it as ``conflict_lost_values``).
"""

from __future__ import annotations

import random
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from app.db.models import Student, SyncConflict
from app.operations.classes import NewClass, StudentFields, add_student, new_class
from app.sync.device import Device

PASSWORD = "three devices password"


@dataclass
class Outcome:
    """What the final check found."""

    written: int
    lost: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    conflicts: int = 0


class ThreeDevices:
    """Three data folders syncing as one teacher, with a ledger of written values."""

    def __init__(self, root: Path, server_url: str, email: str, students: int = 3) -> None:
        self.devices = [
            Device(root / f"d{i}", server_url, email, PASSWORD, base_delay=0.01) for i in range(3)
        ]
        self.replaced: set[str] = set()
        self.written: list[str] = []
        self._n = 0
        first = self.devices[0]
        klass = new_class(first.db, NewClass(name="Three devices"))
        self.class_id = klass.id
        self.keys: list[str] = []
        for _ in range(students):
            value = self._value()
            self.keys.append(add_student(first.db, klass.id, StudentFields("S", value)).id)
        for device in self.devices:
            device.sync()

    def _value(self) -> str:
        self._n += 1
        value = f"v{self._n}"
        self.written.append(value)
        return value

    def current(self, d: int, key: str) -> tuple[str, bool] | None:
        """(last name, live) of student ``key`` on device ``d``."""
        with self.devices[d].db.read() as s:
            row = s.get(Student, key)
            return None if row is None else (row.last_name, row.deleted_at is None)

    def write(self, d: int, k: int) -> None:
        """Device ``d`` renames student ``k`` (if it is live there)."""
        key = self.keys[k % len(self.keys)]
        with self.devices[d].db.session() as s:
            row = s.get(Student, key)
            if row is None or row.deleted_at is not None:
                return
            self.replaced.add(row.last_name)
            row.last_name = self._value()

    def delete(self, d: int, k: int) -> None:
        """Device ``d`` deletes student ``k`` (if it is live there)."""
        key = self.keys[k % len(self.keys)]
        with self.devices[d].db.session() as s:
            row = s.get(Student, key)
            if row is None or row.deleted_at is not None:
                return
            self.replaced.add(row.last_name)
            row.soft_delete()

    def add(self, d: int) -> None:
        """Device ``d`` adds a student to the class."""
        fields = StudentFields("S", self._value())
        self.keys.append(add_student(self.devices[d].db, self.class_id, fields).id)

    def sync(self, d: int) -> None:
        self.devices[d].sync()

    def settle(self) -> Outcome:
        """Sync every device twice round, then check every written value."""
        for _ in range(2):
            for device in self.devices:
                device.sync()
        kept_in_conflicts: set[str] = set()
        conflicts = 0
        for device in self.devices:
            with device.db.read() as s:
                for c in s.scalars(select(SyncConflict)):
                    conflicts += 1
                    for record in (c.winner, c.loser):
                        name = ((record or {}).get("data") or {}).get("last_name")
                        if isinstance(name, str):
                            kept_in_conflicts.add(name)
        outcome = Outcome(written=len(self.written), conflicts=conflicts)
        current: set[str] = set()
        for key in self.keys:
            views = {self.current(d, key) for d in range(3)}
            if len(views) != 1:
                outcome.diverged.append(f"{key}: {sorted(map(str, views))}")
                continue
            view = views.pop()
            if view is not None and view[1]:
                current.add(view[0])
        for value in self.written:
            if value in self.replaced or value in current or value in kept_in_conflicts:
                continue
            outcome.lost.append(value)
        return outcome

    def close(self) -> None:
        for device in self.devices:
            device.close()


def play(world: ThreeDevices, rng: random.Random, steps: int) -> Outcome:
    """``steps`` random writes, deletes, additions and syncs, then :meth:`settle`."""
    for _ in range(steps):
        roll = rng.random()
        d = rng.randrange(3)
        if roll < 0.55:
            world.write(d, rng.randrange(len(world.keys)))
        elif roll < 0.62:
            world.delete(d, rng.randrange(len(world.keys)))
        elif roll < 0.67:
            world.add(d)
        else:
            world.sync(d)
    return world.settle()


@contextmanager
def own_service() -> Iterator[tuple[str, Callable[[str], None]]]:
    """A sync service on a throwaway PostgreSQL cluster: ``(url, create_user(email))``."""
    from app.syncserver.app import create_app  # noqa: PLC0415
    from app.syncserver.auth import create_user  # noqa: PLC0415
    from app.syncserver.db import make_engine  # noqa: PLC0415
    from app.syncserver.pgtemp import start_cluster  # noqa: PLC0415
    from app.syncserver.serve import ServerThread  # noqa: PLC0415
    from app.syncserver.settings import Argon2Params, Settings  # noqa: PLC0415

    with start_cluster() as cluster:
        settings = Settings(
            db_url=cluster.create_database("three_devices"),
            jwt_secret=secrets.token_urlsafe(32),
            argon2=Argon2Params(time_cost=1, memory_kib=1024, parallelism=1),
            signin_limit=10**6,
            signin_address_limit=10**6,
        )
        engine = make_engine(settings.db_url, 4)
        server = ServerThread(create_app(settings, engine))
        try:
            url = server.start()

            def make_user(email: str) -> None:
                create_user(engine, settings, email, PASSWORD, "school", ["teacher"])

            yield url, make_user
        finally:
            server.stop()
            engine.dispose()


def run_three_devices(seed: int, steps: int = 80) -> int:
    """Play a seeded random run on three devices; the number of written values lost (plus
    records the devices disagree on). The bar is 0."""
    rng = random.Random(seed)
    with own_service() as (url, make_user), tempfile.TemporaryDirectory() as tmp:
        email = f"three{seed}@example.org"
        make_user(email)
        world = ThreeDevices(Path(tmp), url, email)
        try:
            outcome = play(world, rng, steps)
        finally:
            world.close()
    return len(outcome.lost) + len(outcome.diverged)

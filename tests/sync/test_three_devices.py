"""Randomised three-device run (hypothesis state machine) against the real service: after
everyone syncs, every written value is current on all devices or in a conflict list, and the
devices agree."""

from __future__ import annotations

import itertools
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from app.sync import push, records
from app.sync.convergence import PASSWORD, ThreeDevices, play
from tests.sync.conftest import RoomyService

_emails = itertools.count()


def machine(service: RoomyService) -> type[RuleBasedStateMachine]:
    class ThreeDeviceMachine(RuleBasedStateMachine):
        world: ThreeDevices

        @initialize()
        def start(self) -> None:
            self._tmp = tempfile.TemporaryDirectory()
            email = f"machine{next(_emails)}@example.org"
            service.create_user(email, PASSWORD)
            self.world = ThreeDevices(Path(self._tmp.name), service.url, email)

        @rule(d=st.integers(0, 2), k=st.integers(0, 20))
        def write(self, d: int, k: int) -> None:
            self.world.write(d, k)

        @rule(d=st.integers(0, 2), k=st.integers(0, 20))
        def delete(self, d: int, k: int) -> None:
            self.world.delete(d, k)

        @rule(d=st.integers(0, 2))
        def add(self, d: int) -> None:
            self.world.add(d)

        @rule(d=st.integers(0, 2))
        def sync(self, d: int) -> None:
            self.world.sync(d)

        def teardown(self) -> None:
            world = getattr(self, "world", None)
            if world is None:
                return
            try:
                outcome = world.settle()
                assert outcome.lost == [], outcome
                assert outcome.diverged == [], outcome
            finally:
                world.close()
                self._tmp.cleanup()

    return ThreeDeviceMachine


def test_no_written_value_disappears(roomy_service: RoomyService) -> None:
    run_state_machine_as_test(
        machine(roomy_service),
        settings=settings(
            max_examples=12,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_the_check_sees_a_lost_value(
    roomy_service: RoomyService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the client dropping the losers it is told about, values are found lost."""
    monkeypatch.setattr(records, "keep_conflict", lambda *a, **k: None)
    monkeypatch.setattr(push, "keep_conflict", lambda *a, **k: None)
    email = f"broken{next(_emails)}@example.org"
    roomy_service.create_user(email, PASSWORD)
    world = ThreeDevices(tmp_path, roomy_service.url, email)
    try:
        world.write(0, 0)
        world.write(1, 0)
        world.sync(0)
        outcome = play(world, random.Random(3), 0)
    finally:
        world.close()
    assert outcome.lost != []

"""Hybrid logical clock properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.sync.hlc import Clock, Stamp

devices = st.text(alphabet="abcdef0123456789", min_size=1, max_size=8)
stamps = st.builds(Stamp, st.integers(0, 10**13 - 1), st.integers(0, 99_999), devices)


@given(st.lists(st.integers(0, 5_000), min_size=1, max_size=60))
def test_now_is_strictly_monotonic_even_when_the_wall_clock_goes_back(walls: list[int]) -> None:
    readings = iter(walls)
    clock = Clock("dev", wall_ms=lambda: next(readings))
    out = [clock.now() for _ in walls]
    assert out == sorted(out)
    assert len(set(out)) == len(out)


@given(st.integers(0, 10**12), stamps)
def test_observe_moves_past_a_remote_stamp(wall: int, remote: Stamp) -> None:
    clock = Clock("local", wall_ms=lambda: wall)
    clock.observe(str(remote))
    after = Stamp.parse(clock.now())
    assert (after.ms, after.counter) > (remote.ms, remote.counter)


@given(stamps, stamps)
def test_string_order_is_tuple_order(x: Stamp, y: Stamp) -> None:
    assert (str(x) < str(y)) == (x < y)
    assert Stamp.parse(str(x)) == x


def test_counter_overflow_moves_to_the_next_millisecond() -> None:
    clock = Clock("d", wall_ms=lambda: 5)
    clock.observe("0000000000005-99999-other")
    assert Stamp.parse(clock.now()).ms == 6

"""The guard DESIGN.md asks for: PySide6 6.12.0 lowered ``None``'s reference count on every call
of a Qt method returning nothing (and ``True``'s on every ``Signal.emit``) until the process
aborted with "none_dealloc". The pin ``PySide6-Essentials>=6.11,<6.12`` keeps it out; these tests
catch a release that brings it back."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel

CALLS = 6_000
"""More calls than the ~5,000 after which 6.12.0 aborted."""
SLACK = 100
"""Unrelated references that may come and go meanwhile (far fewer than CALLS)."""


class _Emitter(QObject):
    fired = Signal(bool)


def test_void_qt_calls_leave_nones_reference_count_alone(qapp: QApplication) -> None:
    label = QLabel()
    before = sys.getrefcount(None)
    for i in range(CALLS):
        label.setText("x" if i % 2 else "y")  # returns None
        label.resize(100 + i % 3, 20)  # returns None
    after = sys.getrefcount(None)
    assert abs(after - before) < SLACK, (before, after)


def test_signal_emit_leaves_trues_reference_count_alone(qapp: QApplication) -> None:
    emitter = _Emitter()
    received: list[bool] = []
    emitter.fired.connect(lambda value: received.append(value) if len(received) < 1 else None)
    before = sys.getrefcount(True)
    for _ in range(CALLS):
        emitter.fired.emit(True)
    after = sys.getrefcount(True)
    assert received == [True]
    assert abs(after - before) < SLACK, (before, after)

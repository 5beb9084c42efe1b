"""Python's cyclic garbage collector, run on the GUI thread only.

Python collects reference cycles on whichever thread happens to allocate past the threshold.
A cycle that holds a Qt object (a runner, a widget, an operation whose traceback holds its
frames) collected on a worker thread destroys that object off its own thread, and Qt crashes:
the UI tests segfaulted this way while a worker thread waited for a child process, with the
garbage left by earlier tests. So :class:`GuiThreadCollector` turns automatic collection off and
does the same work from a timer on the GUI thread: every ``interval_ms`` it collects the
generations whose thresholds are exceeded, as Python would. Reference counting still frees
everything that is not in a cycle at once, on any thread.

It keeps whatever thresholds are set (see :func:`app.runtime.tune_for_responsiveness`, which
freezes the objects alive after start-up and makes young collections rarer).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    """Collects garbage from a timer on the thread that created it (create it on the GUI
    thread). :meth:`start` disables automatic collection; :meth:`stop` restores it."""

    def __init__(self, interval_ms: int = 250, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._was_enabled = gc.isenabled()
        self.collections = [0, 0, 0]
        """How many times each generation was collected here."""

    def start(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()

    def check(self) -> int | None:
        """Collect what Python's own schedule would collect now; the generation, or None."""
        count0, count1, count2 = gc.get_count()
        threshold0, threshold1, threshold2 = gc.get_threshold()
        if count0 <= threshold0:
            return None
        generation = 0
        if count1 > threshold1:
            generation = 1
            if count2 > threshold2:
                generation = 2
        gc.collect(generation)
        self.collections[generation] += 1
        return generation

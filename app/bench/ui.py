"""`huleedu bench ui`: is the window responsive while it grades, filters and starts?

Measured in one run, each part in a fresh interpreter of its own (as a real start), on a
database seeded with ``batches`` batches (1,000) and two batches of ``essays`` essays (60), each
with a run of ``comparisons`` comparisons (300) ready to go:

* **the window while it grades** (child ``window``): the app as :mod:`ui.app` builds it (one
  ``QApplication``, the GUI-thread garbage collector, a qasync loop with a thread pool,
  :func:`ui.app.run_window` with :func:`app.runtime.tune_for_responsiveness`), its dashboard
  holding every batch. Once the rows are shown:

  - *dashboard filtering*: keys typed into the search box one at a time (and deleted with
    Backspace), and every status of the filter chosen in turn; each sample is the time from
    the key press (or ``setCurrentIndex``) to the end of a forced ``viewport().repaint()`` of
    the table, so it covers the model's filtering and sorting and the view's repaint.
    ``dashboard_filter_settled_p95_ms`` also waits for the next turn of the loop (the
    deferred layout work a reset model schedules);
  - *loop lag*: a precise 10 ms ``QTimer`` on the GUI thread; each tick's lateness (actual
    interval − 10 ms) is a frozen frame. It runs while the window drives the run through
    ``drive_run``, judged by the simulated provider
    server in a process of its own (a provider is another machine); the run's progress feeds
    the task panel in the status bar. ``loop_lag_*``: the run resumed from its batch screen's
    *Grading* tab, as a teacher starts one (the run panel shows the progress bar, cost,
    reliability and a row per wave; the dashboard keeps its 1,000 rows). Then a second run of
    the same size started from the runner, during which the dashboard also reloads its rows on
    each wave and status event (``following_*``: a dashboard that follows runs, the heavier
    case; the window's dashboard does not follow runs by itself).

* **start-up** (children ``app`` and ``bare``, ``repeats`` times each, alternating). Both
  sides start their clock at the same point: the ``QApplication`` and the qasync loop built,
  the modules imported (the imports are timed apart: ``app_import_s``, ``bare_import_s``).

  - the *app* runs :func:`ui.app.run_window` on the seeded database (opening and checking it
    in a worker thread, building :class:`~ui.main_window.MainWindow`, showing it). Paints are
    watched from the window's construction (an event filter on the window and on the
    dashboard table's viewport, installed by a subclass put in :mod:`ui.app`'s namespace);
  - the *bare* side builds a ``QMainWindow`` holding a ``QTableView`` with an empty
    7-column model, resizes and shows it.

  ``startup_ratio`` (bar 3) is the median time until the main window's first paint event
  (the dashboard may still say *Loading batches…*) over the median time until the bare
  window's first paint event. ``startup_rows_ratio`` (no bar) is the median time until the
  dashboard's table is painted holding its rows (the query, filling the model, measuring the
  columns) over the same bare time. ``startup_app_tuned_s`` is when
  :func:`app.runtime.tune_for_responsiveness` (a full garbage collection) ended: after both.

Printed as one JSON object with the bars (``*_bar``) and ``passed``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

TICK_MS = 10
BARS: dict[str, float] = {
    "loop_lag_p99_ms": 33.0,
    "max_loop_lag_ms": 100.0,
    "dashboard_filter_p95_ms": 30.0,
    "startup_ratio": 3.0,
}
"""Each measure's bar (lower is better)."""
CHILD_TIMEOUT_S = 900.0
SEARCHES = ("phones 2", "9a eng", "spring")
"""Typed into the dashboard's search box one key at a time, then deleted."""
FILTER_ROUNDS = 2
"""How many times the searches and the status choices are repeated."""

_CLASSES = ("9A English", "9B English", "Year 8 Svenska", "NA22 Engelska 6")
_ASSIGNMENTS = (
    "Phones in school",
    "A letter to my future self",
    "Argumentative essay: school uniforms",
    "Book review",
)
_TOPICS = ("Spring", "Autumn", "Mock exam", "Draft", "Final", "Re-take", "Group", "Homework")


# ---------------------------------------------------------------------------------- the data


def seed_batches(data_dir: Path, n: int, seed: int = 11) -> None:
    """Store ``n`` batches as a teacher's database would hold them after a clean close: every
    batch status but *processing* in turn, guests, a few essays each, a run for every batch
    whose status has one (none left running, so no run is offered for resuming)."""
    import hashlib  # noqa: PLC0415
    import random  # noqa: PLC0415

    from app import school as store  # noqa: PLC0415
    from app.db.engine import open_database  # noqa: PLC0415
    from app.db.models import BatchStatus, Essay, Run, RunStatus  # noqa: PLC0415
    from app.operations.school import (  # noqa: PLC0415
        NewAssignment,
        NewClass,
        create_assignment,
        create_class,
    )

    run_for: dict[str, str | None] = {
        BatchStatus.PAUSED: RunStatus.PAUSED,
        BatchStatus.COMPLETED_SUCCESSFULLY: RunStatus.COMPLETE,
        BatchStatus.COMPLETED_WITH_FAILURES: RunStatus.COMPLETE,
        BatchStatus.FAILED: RunStatus.FAILED,
        BatchStatus.CANCELLED: RunStatus.CANCELLED,
    }
    statuses = [s.value for s in BatchStatus if s != BatchStatus.PROCESSING]
    rng = random.Random(seed)
    db = open_database(data_dir)
    try:
        class_ids = [create_class(db, NewClass(name)).id for name in _CLASSES]
        assignment_ids = [create_assignment(db, NewAssignment(t)).id for t in _ASSIGNMENTS]
        with db.session() as s:
            for i in range(n):
                status = statuses[i % len(statuses)]
                batch = store.add_batch(
                    s,
                    f"{rng.choice(_TOPICS)} {i:04d}",
                    assignment_ids[(i * 3) % len(assignment_ids)],
                    None if i % 7 == 3 else class_ids[i % len(class_ids)],
                )
                batch.status = status
                for k in range(i % 4):
                    text = f"Essay {k} of batch {i}."
                    s.add(
                        Essay(
                            batch_id=batch.id,
                            text=text,
                            content_hash=hashlib.sha256(text.encode()).hexdigest(),
                            source_file=f"essay_{k}.txt",
                        )
                    )
                run_status = run_for.get(status)
                if run_status is not None:
                    s.add(Run(batch_id=batch.id, status=run_status))
    finally:
        db.close()


def prepare_run(data_dir: Path, essays: int, comparisons: int, url: str) -> str:
    """The graded batch and its run (not started); the run's id."""
    from app.bench.loop import _prepare  # noqa: PLC0415
    from app.db.engine import open_database  # noqa: PLC0415

    db = open_database(data_dir)
    try:
        run_id, _batch = _prepare(db, essays, comparisons, url)
    finally:
        db.close()
    return run_id


# ---------------------------------------------------------------------------------- children


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values), q)), 2) if values else float("nan")


def _qt_app() -> Any:
    """The app's Qt side as :func:`ui.app._main` builds it: the application, the GUI-thread
    collector, a qasync loop with a thread pool as its default executor."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    import qasync  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from ui.app import WORKER_THREADS  # noqa: PLC0415
    from ui.collector import GuiThreadCollector  # noqa: PLC0415

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("HuleEdu")
    app.setQuitOnLastWindowClosed(False)
    collector = GuiThreadCollector()
    collector.start()
    executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="huleedu-worker")
    loop = qasync.QEventLoop(app)
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    return app, collector, executor, loop


def _close_qt(collector: Any, executor: Any, loop: Any) -> None:
    from ui.app import EXECUTOR_TIMEOUT_S, shutdown_executor  # noqa: PLC0415

    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(shutdown_executor(executor, EXECUTOR_TIMEOUT_S))
    asyncio.set_event_loop(None)
    loop.close()
    collector.stop()


def _paint_watch(on_paint: Callable[[Any], None]) -> Any:
    """An event filter calling ``on_paint(watched)`` on every paint event of what it watches."""
    from PySide6.QtCore import QEvent, QObject  # noqa: PLC0415

    class PaintWatch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                on_paint(watched)
            return False

    return PaintWatch()


def child_bare(_params: dict[str, Any]) -> dict[str, Any]:
    """Seconds until a bare QMainWindow with an empty QTableView is shown and painted: its
    first paint event (``startup_s``), its table's (``table_painted_s``)."""
    started = time.perf_counter()
    from PySide6.QtGui import QStandardItemModel  # noqa: PLC0415
    from PySide6.QtWidgets import QMainWindow, QTableView  # noqa: PLC0415

    import_s = time.perf_counter() - started
    _app, collector, executor, loop = _qt_app()
    painted: dict[str, float] = {}
    done = asyncio.Event()

    async def measure() -> float:
        t0 = time.perf_counter()
        window = QMainWindow()
        view = QTableView()
        view.setModel(QStandardItemModel(0, 7, view))
        window.setCentralWidget(view)

        def seen(watched: Any) -> None:
            key = "window" if watched is window else "table"
            painted.setdefault(key, time.perf_counter())
            if len(painted) == 2:
                done.set()

        watch = _paint_watch(seen)
        window.installEventFilter(watch)
        view.viewport().installEventFilter(watch)
        window.resize(1180, 720)
        window.show()
        await asyncio.wait_for(done.wait(), 60)
        window.close()
        window.deleteLater()
        return t0

    try:
        t0 = loop.run_until_complete(measure())
    finally:
        _close_qt(collector, executor, loop)
    return {
        "startup_s": painted["window"] - t0,
        "table_painted_s": painted["table"] - t0,
        "import_s": import_s,
    }


def child_app(params: dict[str, Any]) -> dict[str, Any]:
    """Seconds from calling :func:`ui.app.run_window` (the app already built) until the main
    window's first paint event, until the dashboard's table is painted holding its rows, and
    until the garbage collector was tuned. With ``profile`` set, cProfile's statistics of that
    start go to that file."""
    started = time.perf_counter()
    import ui.app  # noqa: PLC0415
    from app.runtime import tune_for_responsiveness  # noqa: PLC0415
    from ui.main_window import MainWindow  # noqa: PLC0415

    import_s = time.perf_counter() - started
    _app, collector, executor, loop = _qt_app()
    data_dir = Path(params["data_dir"])
    quit_requested = asyncio.Event()
    marks: dict[str, float] = {}
    rows = {"count": 0}

    def check_done() -> None:
        if {"window", "rows", "tuned"} <= marks.keys():
            quit_requested.set()

    class WatchedWindow(MainWindow):
        """The main window, its paints watched from its construction on."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            page = self.batches_page

            def seen(watched: Any) -> None:
                if watched is self:
                    marks.setdefault("window", time.perf_counter())
                elif page.model.rowCount() > 0:
                    marks.setdefault("rows", time.perf_counter())
                    rows["count"] = page.model.total_count()
                check_done()

            self._bench_watch = _paint_watch(seen)  # kept alive with the window
            self.installEventFilter(self._bench_watch)
            page.view.viewport().installEventFilter(self._bench_watch)

    def tune() -> None:
        marks["tune_started"] = time.perf_counter()
        tune_for_responsiveness()
        marks["tuned"] = time.perf_counter()

    setattr(ui.app, "MainWindow", WatchedWindow)  # noqa: B010  (what run_window builds)
    profiler = None
    if params.get("profile"):
        import cProfile  # noqa: PLC0415

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    try:
        loop.run_until_complete(
            asyncio.wait_for(
                ui.app.run_window(
                    data_dir,
                    quit_requested=quit_requested,
                    tune=tune,
                    on_shown=lambda _window: check_done(),
                ),
                120,
            )
        )
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(params["profile"])
        _close_qt(collector, executor, loop)
    return {
        "startup_s": marks["window"] - t0,
        "rows_painted_s": marks["rows"] - t0,
        "tune_started_s": marks["tune_started"] - t0,
        "tuned_s": marks["tuned"] - t0,
        "rows": rows["count"],
        "import_s": import_s,
    }


async def _filter_samples(page: Any) -> dict[str, Any]:
    """Time the dashboard's search box and status filter (see the module's docstring)."""
    from PySide6.QtCore import Qt, QTimer  # noqa: PLC0415
    from PySide6.QtTest import QTest  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    painted: list[float] = []
    settled: list[float] = []
    shown: list[int] = []

    async def sample(act: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        act()
        page.view.viewport().repaint()
        painted.append((time.perf_counter() - t0) * 1000.0)
        turned: asyncio.Future[None] = loop.create_future()

        def turn() -> None:
            if not turned.done():
                turned.set_result(None)

        QTimer.singleShot(0, turn)
        await turned
        settled.append((time.perf_counter() - t0) * 1000.0)
        shown.append(page.model.rowCount())
        await asyncio.sleep(0.02)  # a teacher's keys are tens of milliseconds apart at best

    page.search.setFocus()
    for _round in range(FILTER_ROUNDS):
        for text in SEARCHES:
            for char in text:
                await sample(partial(QTest.keyClick, page.search, char))
            for _char in text:
                await sample(partial(QTest.keyClick, page.search, Qt.Key.Key_Backspace))
        for position in [*range(1, page.status_filter.count()), 0]:
            await sample(partial(page.status_filter.setCurrentIndex, position))
    return {
        "dashboard_filter_p50_ms": _percentile(painted, 50),
        "dashboard_filter_p95_ms": _percentile(painted, 95),
        "dashboard_filter_max_ms": round(max(painted), 2),
        "dashboard_filter_settled_p95_ms": _percentile(settled, 95),
        "dashboard_filter_samples": len(painted),
        "dashboard_rows_shown_min": min(shown),
        "dashboard_search_left": page.search.text(),
    }


async def _lag_during_run(
    window: Any, run_id: str, *, follow: bool, screen: bool = False
) -> dict[str, Any]:
    """The loop's lag while the window drives ``run_id`` (its task panel showing it); with
    ``screen``, from the batch screen's *Grading* tab as a teacher does (its run panel shows
    the progress bar, cost, reliability and a row per wave); with ``follow``, the dashboard
    also reloads its rows on each wave and status event."""
    from PySide6.QtCore import Qt, QTimer  # noqa: PLC0415

    from app.operations.base import Completed  # noqa: PLC0415
    from app.operations.runs import drive_run  # noqa: PLC0415

    page = window.batches_page
    lags: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        lags.append(max(0.0, (now - last[0]) * 1000.0 - TICK_MS))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    counts = {"reloads": 0, "progress": 0, "panel": 0}
    runner = window.runner
    if screen:
        from app.operations.queries import run_report  # noqa: PLC0415
        from ui.batch_view import GRADING  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        batch_id = (await loop.run_in_executor(None, run_report, window.db, run_id)).batch_id
        view = window.open_batch(batch_id, GRADING)
        panel = view.run_panel(batch_id)
        await panel.loading.wait()
        if panel.current_run_id() != run_id:
            raise RuntimeError("the batch screen does not offer the bench run")
        await asyncio.sleep(0.2)  # the screen painted
    started = time.perf_counter()
    if screen:
        run = panel.resume()
    else:
        run = runner.start_async("Grading the bench batch", partial(drive_run, window.db, run_id))

    def progressed(operation: Any) -> None:
        if operation is not run:
            return
        counts["progress"] += 1
        if window.task_panel.row_for(operation) is not None:
            counts["panel"] += 1
        kind = operation.progress.kind if operation.progress is not None else ""
        if follow and kind in ("wave", "status"):
            page.reload()
            counts["reloads"] += 1

    runner.progressed.connect(progressed)
    last[0] = time.perf_counter()
    timer.start()
    outcome = await run.wait()
    run_s = time.perf_counter() - started
    await asyncio.sleep(0.3)  # the last reload and the panel's update, still measured
    timer.stop()
    runner.progressed.disconnect(progressed)
    report = outcome.value if isinstance(outcome, Completed) else None
    return {
        "loop_lag_p50_ms": _percentile(lags, 50),
        "loop_lag_p99_ms": _percentile(lags, 99),
        "max_loop_lag_ms": round(max(lags), 2) if lags else float("nan"),
        "ticks": len(lags),
        "run_outcome": type(outcome).__name__,
        "run_message": getattr(outcome, "message", ""),
        "run_comparisons": None if report is None else report.comparisons_done,
        "run_s": round(run_s, 2),
        "run_progress_events": counts["progress"],
        "dashboard_reloads": counts["reloads"],
        "task_panel_updates": counts["panel"],
    }


def child_window(params: dict[str, Any]) -> dict[str, Any]:
    """The window with its dashboard: filtering, then the loop's lag while it drives a run
    (the window as it is), then another (the dashboard following the run)."""
    from ui.app import run_window  # noqa: PLC0415

    _app, collector, executor, loop = _qt_app()
    quit_requested = asyncio.Event()
    result: dict[str, Any] = {}
    measuring: list[asyncio.Task[None]] = []

    async def measure(window: Any) -> None:
        try:
            await _measure_window(window)
        finally:
            quit_requested.set()

    async def _measure_window(window: Any) -> None:
        page = window.batches_page
        deadline = loop.time() + 60
        while not (page.loading is not None and page.loading.done and page.model.rowCount()):
            if loop.time() > deadline:
                raise RuntimeError("the dashboard did not load its rows")
            await asyncio.sleep(0.01)
        result["dashboard_rows"] = page.model.total_count()
        result.update(await _filter_samples(page))

        result.update(await _lag_during_run(window, params["run_id"], follow=False, screen=True))
        window.show_page("batches")
        following = await _lag_during_run(window, params["follow_run_id"], follow=True)
        result.update({f"following_{key}": value for key, value in following.items()})

    def on_shown(window: Any) -> None:
        measuring.append(asyncio.ensure_future(measure(window)))

    try:
        loop.run_until_complete(
            run_window(Path(params["data_dir"]), quit_requested=quit_requested, on_shown=on_shown)
        )
        for task in measuring:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        _close_qt(collector, executor, loop)
    return result


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "bare": child_bare,
    "app": child_app,
    "window": child_window,
}


def _run_child(mode: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run a child in a fresh interpreter; its JSON (the last line of its output)."""
    done = subprocess.run(
        [sys.executable, "-m", "app.bench.ui", mode, json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"bench ui: the {mode} child failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


# ---------------------------------------------------------------------------------- main


def measure(
    work: Path, batches: int, essays: int, comparisons: int, speed: float, repeats: int
) -> dict[str, Any]:
    """Seed the database, run the children, and put their figures together."""
    from app.bench.loop import KEY_ENV, _start_sim_server  # noqa: PLC0415

    os.environ[KEY_ENV] = "sim"  # the children inherit it
    data_dir = work / "data"
    seeding = time.perf_counter()
    seed_batches(data_dir, batches)
    seed_s = time.perf_counter() - seeding
    url, server = _start_sim_server(speed)
    try:
        run_id = prepare_run(data_dir, essays, comparisons, url)
        follow_run_id = prepare_run(data_dir, essays, comparisons, url)
        window = _run_child(
            "window",
            {"data_dir": str(data_dir), "run_id": run_id, "follow_run_id": follow_run_id},
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    apps: list[dict[str, Any]] = []
    bares: list[dict[str, Any]] = []
    for _ in range(repeats):  # alternating, so that a busy moment does not hit one side only
        bares.append(_run_child("bare", {}))
        apps.append(_run_child("app", {"data_dir": str(data_dir)}))
    app_s = statistics.median(r["startup_s"] for r in apps)
    rows_s = statistics.median(r["rows_painted_s"] for r in apps)
    bare_s = statistics.median(r["startup_s"] for r in bares)
    result: dict[str, Any] = {
        "loop_lag_p99_ms": window["loop_lag_p99_ms"],
        "max_loop_lag_ms": window["max_loop_lag_ms"],
        "dashboard_filter_p95_ms": window["dashboard_filter_p95_ms"],
        "startup_ratio": round(app_s / bare_s, 2),
        "startup_rows_ratio": round(rows_s / bare_s, 2),
        "startup_app_s": round(app_s, 4),
        "startup_app_rows_s": round(rows_s, 4),
        "startup_bare_s": round(bare_s, 4),
        "startup_app_all_s": [round(r["startup_s"], 4) for r in apps],
        "startup_app_rows_all_s": [round(r["rows_painted_s"], 4) for r in apps],
        "startup_bare_all_s": [round(r["startup_s"], 4) for r in bares],
        "startup_bare_table_painted_s": round(
            statistics.median(r["table_painted_s"] for r in bares), 4
        ),
        "startup_app_tune_started_s": round(
            statistics.median(r["tune_started_s"] for r in apps), 4
        ),
        "startup_app_tuned_s": round(statistics.median(r["tuned_s"] for r in apps), 4),
        "startup_rows": apps[0]["rows"] if apps else 0,
        "app_import_s": round(statistics.median(r["import_s"] for r in apps), 4),
        "bare_import_s": round(statistics.median(r["import_s"] for r in bares), 4),
    }
    result.update({k: v for k, v in window.items() if k not in result})
    result.update(
        {
            "all_comparisons_done": window.get("run_comparisons") == comparisons
            and window.get("following_run_comparisons") == comparisons,
            "batches": batches,
            "essays": essays,
            "comparisons": comparisons,
            "sim_speed": speed,
            "seed_s": round(seed_s, 2),
            "qt_platform": os.environ.get("QT_QPA_PLATFORM", ""),
        }
    )
    for key, bar in BARS.items():
        result[f"{key}_bar"] = bar
    result["passed"] = {key: bool(result[key] <= bar) for key, bar in BARS.items()}
    return result


def main(
    batches: int = 1000,
    essays: int = 60,
    comparisons: int = 300,
    speed: float = 40.0,
    repeats: int = 5,
    quick: bool = False,
) -> int:
    if quick:
        batches, essays, comparisons, repeats = 50, 20, 30, 2
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="huleedu-bench-ui-") as tmp:
        result = measure(Path(tmp), batches, essays, comparisons, speed, repeats)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


def _child_main(argv: list[str]) -> int:
    os.environ["QT_API"] = "pyside6"
    mode, params = argv[0], json.loads(argv[1])
    result = CHILDREN[mode](params)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1:]))

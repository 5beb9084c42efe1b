"""The Run panel of a batch: choose the judge, see what it will cost, start, watch, pause, resume.

:class:`JudgeSettingsForm` edits a :class:`~app.operations.preferences.Preferences` (provider,
model from the price catalogue, mode and bundle size, the stopping rule, the budget, the
concurrency); the Settings page uses it for the defaults, the panel for one run.

:class:`RunPanel` shows, for the batch given to :meth:`RunPanel.set_batch`:

* the form, prefilled from the teacher's preferences (a paused run shows its own, frozen
  settings), and the cost and time estimate, recomputed in a worker thread whenever a setting
  changes (:func:`app.operations.estimate.estimate_batch`);
* *Start*, which stores a run (:func:`app.operations.runs.prepare_batch_run`) and drives it
  (:func:`app.operations.runs.drive_run`) as one operation of the task runner, so the status
  bar's task panel shows it with its own *Cancel* (which, like *Pause*, pauses the run);
* while it runs: a progress bar (comparisons done of the budget), the cost so far, the
  reliability, the time left, and a table with one row per wave (comparisons after it,
  reliability of the fit on everything judged up to it);
* *Pause* sets the drive's cancel token: the run stops at its next check and is paused durably;
  *Resume* drives the same run again; *Cancel run* asks, then ends the run as cancelled (the
  verdicts so far are kept and graded).

A paused run, or one a crash left running, is found by :meth:`RunPanel.set_batch` and offered
for *Resume*. The panel never opens the database itself: every read and write is an operation
started through the runner.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.db.engine import Database
from app.llm.catalogue import default_catalogue
from app.operations.base import (
    Cancelled,
    CancelToken,
    Completed,
    Failed,
    Outcome,
    Paused,
    Progress,
    ProgressSink,
)
from app.operations.estimate import RunEstimate, estimate_batch
from app.operations.preferences import (
    AUTO_COMPARISONS_PER_ESSAY,
    LoadedPreferences,
    Preferences,
    load_preferences,
)
from app.operations.queries import (
    BatchRow,
    RunReport,
    get_assignment,
    get_batch,
    list_runs,
    run_report,
)
from app.operations.runs import (
    cancel_run,
    drive_run,
    find_interrupted,
    prepare_batch_run,
    settings_for,
)
from app.runs.orchestrator import ProgressEvent
from app.runs.settings import BATCH_PROVIDERS, PROVIDERS, RunSettings
from core.lifecycle import TERMINAL, RunStatus
from core.prompt import MAX_BUNDLE_PAIRS
from ui.dialogs import open_and_wait
from ui.i18n import QT_TRANSLATE_NOOP, english_plural
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate

PROVIDER_LABELS = {
    "sim": QT_TRANSLATE_NOOP("JudgeSettings", "Simulated judge (built in, free)"),
    "openai": QT_TRANSLATE_NOOP("JudgeSettings", "OpenAI"),
    "anthropic": QT_TRANSLATE_NOOP("JudgeSettings", "Anthropic"),
    "gemini": QT_TRANSLATE_NOOP("JudgeSettings", "Google Gemini"),
    "openai_compatible": QT_TRANSLATE_NOOP("JudgeSettings", "OpenAI-compatible server"),
}
MODE_LABELS = {
    "bundle": QT_TRANSLATE_NOOP("JudgeSettings", "Several pairs per request (bundle)"),
    "per_request": QT_TRANSLATE_NOOP("JudgeSettings", "One pair per request"),
    "provider_batch": QT_TRANSLATE_NOOP(
        "JudgeSettings", "Provider batch (half price, takes longer)"
    ),
}
ESTIMATE_DELAY_MS = 250


def provider_label(provider: str) -> str:
    return translate("JudgeSettings", PROVIDER_LABELS.get(provider, provider))


def catalogue_models(provider: str) -> list[str]:
    """Models the price catalogue lists for ``provider`` (wildcard entries left out)."""
    catalogue = default_catalogue()
    names = [n for n in catalogue.names() if not any(ch in n for ch in "*?[")]
    if provider == "sim":
        return [n for n in names if n.startswith("sim-")]
    if provider == "openai_compatible":
        return []
    return [
        n for n in names if catalogue.models[n].provider == provider and not n.startswith("sim-")
    ]


# ---------------------------------------------------------------------------------- the form


class JudgeSettingsForm(QWidget):
    """Who judges and when a run stops, as a :class:`Preferences`; ``changed`` on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._filling = False

        self.provider = QComboBox()
        self.provider.setObjectName("providerCombo")
        for key in PROVIDERS:
            self.provider.addItem(provider_label(key), key)
        self.model = QComboBox()
        self.model.setObjectName("modelCombo")
        self.model.setEditable(True)
        self.model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model.setMinimumContentsLength(18)
        self.base_url = QLineEdit()
        self.base_url.setObjectName("baseUrlEdit")
        self.base_url.setPlaceholderText("http://localhost:11434/v1")
        self.mode = QComboBox()
        self.mode.setObjectName("modeCombo")
        for key, mode_text in MODE_LABELS.items():
            self.mode.addItem(translate("JudgeSettings", mode_text), key)
        self.bundle_size = QSpinBox()
        self.bundle_size.setObjectName("bundleSizeSpin")
        self.bundle_size.setRange(1, MAX_BUNDLE_PAIRS)
        self.bundle_size.setSuffix(translate("JudgeSettings", " pairs per request"))
        self.bundle_size.setToolTip(
            translate(
                "JudgeSettings",
                "The pairs of a request share essays, each shown once: 6 pairs (the default) "
                "compare every pair of 4 essays, 4 pairs 4 essays in a ring. More pairs per "
                "request use fewer tokens per comparison.",
            )
        )

        self.until_reliable = QRadioButton(
            translate("JudgeSettings", "Stop when the ranking is &reliable")
        )
        self.until_reliable.setObjectName("untilReliableRadio")
        self.whole_budget = QRadioButton(translate("JudgeSettings", "Use the &whole budget"))
        self.whole_budget.setObjectName("wholeBudgetRadio")
        self._rule = QButtonGroup(self)
        self._rule.addButton(self.until_reliable)
        self._rule.addButton(self.whole_budget)
        self.target = QDoubleSpinBox()
        self.target.setObjectName("targetSpin")
        self.target.setRange(0.50, 0.99)
        self.target.setSingleStep(0.01)
        self.target.setDecimals(2)
        self.target.setToolTip(
            translate(
                "JudgeSettings",
                "Reliability of the ranking (0 to 1) at which the run stops; 0.80 is usual",
            )
        )
        self.budget = QSpinBox()
        self.budget.setObjectName("budgetSpin")
        self.budget.setRange(0, 100_000)
        self.budget.setSingleStep(10)
        self.budget.setSpecialValueText(
            translate("JudgeSettings", "Automatic ({n} per essay)").format(
                n=AUTO_COMPARISONS_PER_ESSAY
            )
        )
        self.budget.setSuffix(translate("JudgeSettings", " comparisons"))
        self.budget.setToolTip(
            translate("JudgeSettings", "The most comparisons the run may make (and pay for)")
        )
        self.concurrency = QSpinBox()
        self.concurrency.setObjectName("concurrencySpin")
        self.concurrency.setRange(1, 64)
        self.concurrency.setToolTip(
            translate("JudgeSettings", "How many requests are sent at the same time")
        )

        rule = QHBoxLayout()
        rule.setContentsMargins(0, 0, 0, 0)
        rule.addWidget(self.until_reliable)
        rule.addWidget(self.target)
        rule.addStretch(1)
        rule_box = QWidget()
        rule_box.setLayout(rule)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._labels: dict[str, QLabel] = {}
        for key, text, field in (
            ("provider", translate("JudgeSettings", "&Judge:"), self.provider),
            ("model", translate("JudgeSettings", "&Model:"), self.model),
            ("base_url", translate("JudgeSettings", "Server &address:"), self.base_url),
            ("mode", translate("JudgeSettings", "M&ode:"), self.mode),
            ("bundle_size", translate("JudgeSettings", "B&undle size:"), self.bundle_size),
        ):
            label = QLabel(text)
            label.setBuddy(field)
            self._labels[key] = label
            form.addRow(label, field)
        form.addRow(translate("JudgeSettings", "Stop:"), rule_box)
        form.addRow("", self.whole_budget)
        for key, text, field in (
            ("budget", translate("JudgeSettings", "&Budget:"), self.budget),
            ("concurrency", translate("JudgeSettings", "&Concurrency:"), self.concurrency),
        ):
            label = QLabel(text)
            label.setBuddy(field)
            self._labels[key] = label
            form.addRow(label, field)

        self.provider.currentIndexChanged.connect(self._on_provider)
        for signal in (
            self.model.currentTextChanged,
            self.base_url.textChanged,
            self.mode.currentIndexChanged,
            self.bundle_size.valueChanged,
            self.target.valueChanged,
            self.budget.valueChanged,
            self.concurrency.valueChanged,
            self._rule.buttonToggled,
        ):
            signal.connect(self._on_edit)
        self.set_preferences(Preferences())

    # ------------------------------------------------------------------ reading and writing

    def set_preferences(self, prefs: Preferences) -> None:
        self._filling = True
        try:
            index = self.provider.findData(prefs.provider)
            self.provider.setCurrentIndex(max(0, index))
            self._fill_models(prefs.provider)
            self.model.setEditText(prefs.model)
            self.base_url.setText(prefs.base_url or "")
            self.mode.setCurrentIndex(max(0, self.mode.findData(prefs.mode)))
            self.bundle_size.setValue(prefs.bundle_size)
            if prefs.target_reliability is None:
                self.whole_budget.setChecked(True)
            else:
                self.until_reliable.setChecked(True)
                self.target.setValue(prefs.target_reliability)
            self.budget.setValue(prefs.budget or 0)
            self.concurrency.setValue(prefs.concurrency)
        finally:
            self._filling = False
        self._update_enabled()
        self.changed.emit()

    def preferences(self) -> Preferences:
        provider = str(self.provider.currentData())
        return Preferences(
            provider=provider,
            model=self.model.currentText().strip(),
            mode=str(self.mode.currentData()),
            bundle_size=self.bundle_size.value(),
            base_url=self.base_url.text().strip() or None,
            budget=self.budget.value() or None,
            target_reliability=self.target.value() if self.until_reliable.isChecked() else None,
            concurrency=self.concurrency.value(),
        )

    def set_locked(self, locked: bool) -> None:
        """Read-only (a run's frozen settings) or editable."""
        for w in self.findChildren(QWidget):
            if w is not self:
                w.setEnabled(not locked)
        if not locked:
            self._update_enabled()

    # ------------------------------------------------------------------ internals

    def _fill_models(self, provider: str) -> None:
        current = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(catalogue_models(provider))
        self.model.blockSignals(False)
        if current and self.model.findText(current) >= 0:
            self.model.setEditText(current)

    def _on_provider(self) -> None:
        provider = str(self.provider.currentData())
        if not self._filling:
            self._fill_models(provider)
            models = catalogue_models(provider)
            self.model.setEditText(models[0] if models else "")
        self._update_enabled()
        self._on_edit()

    def _update_enabled(self) -> None:
        provider = str(self.provider.currentData())
        compatible = provider == "openai_compatible"
        self.base_url.setVisible(compatible)
        self._labels["base_url"].setVisible(compatible)
        batch_item = self.mode.model().item(self.mode.findData("provider_batch"))  # type: ignore[attr-defined]
        batch_item.setEnabled(provider in BATCH_PROVIDERS)
        if provider not in BATCH_PROVIDERS and self.mode.currentData() == "provider_batch":
            self.mode.setCurrentIndex(self.mode.findData("bundle"))
        bundled = self.mode.currentData() != "per_request"
        self.bundle_size.setEnabled(bundled)
        self._labels["bundle_size"].setEnabled(bundled)
        self.target.setEnabled(self.until_reliable.isChecked())

    def _on_edit(self, *_args: object) -> None:
        if self._filling:
            return
        self._update_enabled()
        self.changed.emit()


# ---------------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class BatchRunState:
    """What the panel shows for a batch: preferences, the batch and its newest run."""

    preferences: LoadedPreferences
    batch: BatchRow
    run: RunReport | None
    interrupted: bool
    """The newest run is *running* but its driver is gone (a crash): it can be resumed."""


def load_run_state(db: Database, data_dir: Path, batch_id: str, **_op: object) -> BatchRunState:
    """(Worker thread.) The preferences, the batch and its newest run."""
    prefs = load_preferences(data_dir)
    batch = get_batch(db, batch_id)
    runs = list_runs(db, batch_id)
    report = run_report(db, runs[-1].id) if runs else None
    interrupted = (
        report is not None
        and report.status == RunStatus.RUNNING.value
        and report.run_id in find_interrupted(db)
    )
    return BatchRunState(prefs, batch, report, interrupted)


def estimate_options(
    db: Database, batch_id: str, options: dict[str, Any], **_op: object
) -> RunEstimate:
    """(Worker thread.) The estimate of a run of ``batch_id`` with ``options``."""
    batch = get_batch(db, batch_id)
    # A run compares the students' essays and the assignment's anchors (copied into the
    # batch), and its automatic budget counts both.
    anchors = get_assignment(db, batch.assignment_id).anchors
    return estimate_batch(db, batch_id, settings_for(batch.essays + anchors, **options))


@dataclass
class WaveRow:
    wave: int
    comparisons: int
    reliability: float = math.nan


class WaveRecorder:
    """Keeps every wave a drive reports (progress reaching the window is coalesced, the
    newest event winning, so wave events could be skipped there). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[WaveRow] = []
        self._base = 0

    def new_drive(self) -> None:
        """A drive restarts its wave count at 0: continue the rows after the last one."""
        with self._lock:
            self._base = len(self._rows)

    def clear(self) -> None:
        with self._lock:
            self._rows = []
            self._base = 0

    def see(self, e: ProgressEvent) -> None:
        # An event of wave w carries the fit on everything judged in waves 1..w, except the
        # "wave" event itself (emitted as wave w ends, before that wave is fitted): w - 1.
        with self._lock:
            wave = self._base + e.wave
            if e.kind == "wave":
                self._rows.append(WaveRow(wave, e.done))
                wave -= 1
            if not math.isnan(e.reliability):
                for row in self._rows:
                    if row.wave == wave:
                        row.reliability = e.reliability

    def rows(self) -> list[WaveRow]:
        with self._lock:
            return [WaveRow(r.wave, r.comparisons, r.reliability) for r in self._rows]

    def sink(self, progress: ProgressSink) -> ProgressSink:
        def record(event: Progress) -> None:
            if isinstance(event.data, ProgressEvent):
                self.see(event.data)
            progress(event)

        return record


async def prepare_and_drive(
    db: Database,
    batch_id: str,
    options: dict[str, Any],
    operational: dict[str, Any],
    recorder: WaveRecorder,
    on_prepared: Callable[[str], object],
    *,
    progress: ProgressSink,
    cancel: CancelToken,
) -> Outcome[RunReport]:
    """Store a new run of ``batch_id`` (worker thread), then drive it."""
    loop = asyncio.get_running_loop()
    prepared = await loop.run_in_executor(None, prepare_batch_run, db, batch_id, options)
    on_prepared(prepared.run_id)
    return await drive_run(
        db,
        prepared.run_id,
        progress=recorder.sink(progress),
        cancel=cancel,
        operational=operational or None,
    )


async def drive_again(
    db: Database,
    run_id: str,
    operational: dict[str, Any],
    recorder: WaveRecorder,
    *,
    progress: ProgressSink,
    cancel: CancelToken,
) -> Outcome[RunReport]:
    return await drive_run(
        db, run_id, progress=recorder.sink(progress), cancel=cancel, operational=operational or None
    )


# ---------------------------------------------------------------------------------- the panel


def _money(usd: float) -> str:
    return f"${usd:.4f}" if usd < 0.01 else f"${usd:.2f}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return translate("RunPanel", "{n} s").format(n=max(1, round(seconds)))
    if seconds < 90 * 60:
        return translate("RunPanel", "{n} min").format(n=round(seconds / 60))
    return translate("RunPanel", "{n} h").format(n=f"{seconds / 3600:.1f}")


class RunPanel(QWidget):
    """Grade one batch: settings, estimate, Start / Pause / Resume / Cancel, live progress.

    ``changed`` is emitted whenever the run's state changed (started, paused, resumed,
    finished, cancelled); ``run_finished`` carries the run id when a run completes.
    ``operational`` (public) holds drive settings that do not change results (``sim_speed``,
    ``concurrency``, ``poll_interval_s``), applied to every drive this panel starts.
    """

    changed = Signal()
    run_finished = Signal(str)
    _prepared = Signal(str)

    def __init__(
        self, db: Database, runner: TaskRunner, data_dir: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("runPanel")
        self.db = db
        self.runner = runner
        self.data_dir = Path(data_dir)
        self.operational: dict[str, Any] = {}
        self.batch_id: str | None = None
        self.state: BatchRunState | None = None
        self.estimate: RunEstimate | None = None
        self.last_failure: Failed | None = None
        self.confirm_box: QMessageBox | None = None
        self._asking: asyncio.Future[None] | None = None
        self.loading: Operation[BatchRunState] | None = None
        self.estimating: Operation[RunEstimate] | None = None
        self._run_id: str | None = None
        self._drive: Operation[RunReport] | None = None
        self._cancelling: Operation[Any] | None = None
        self._recorder = WaveRecorder()
        self._form_source: tuple[str, str] | None = None
        self._budget = 0
        self._advice = ""
        """The run's latest "cannot reach the target" statement (empty when it has none)."""
        self._estimate_generation = 0
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(ESTIMATE_DELAY_MS)
        self._estimate_timer.timeout.connect(self._estimate_now)
        self._prepared.connect(self._on_prepared)

        # -- settings
        self.form = JudgeSettingsForm()
        self.form.changed.connect(self._settings_changed)
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("estimateLabel")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextFormat(Qt.TextFormat.PlainText)
        self.start_button = QPushButton(translate("RunPanel", "&Start grading"))
        self.start_button.setObjectName("startButton")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton(translate("RunPanel", "&Pause"))
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setToolTip(
            translate("RunPanel", "Stop after the requests under way; nothing judged is lost")
        )
        self.pause_button.clicked.connect(self.pause)
        self.resume_button = QPushButton(translate("RunPanel", "&Resume"))
        self.resume_button.setObjectName("resumeButton")
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button = QPushButton(translate("RunPanel", "&Cancel run…"))
        self.cancel_button.setObjectName("cancelRunButton")
        self.cancel_button.setToolTip(
            translate("RunPanel", "End the run for good; the comparisons so far are kept")
        )
        self.cancel_button.clicked.connect(self._ask_cancel)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        settings_box = QGroupBox(translate("RunPanel", "Judge and stopping rule"))
        settings_layout = QVBoxLayout(settings_box)
        settings_layout.addWidget(self.form)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        settings_layout.addWidget(line)
        settings_layout.addWidget(self.estimate_label)
        settings_layout.addStretch(1)
        settings_layout.addLayout(buttons)

        # -- progress
        self.status_label = QLabel()
        self.status_label.setObjectName("runStatusLabel")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        font = self.status_label.font()
        font.setBold(True)
        self.status_label.setFont(font)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("runProgress")
        self.progress_bar.setFormat(translate("RunPanel", "%v of %m comparisons"))
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.cost_value = QLabel("—")
        self.cost_value.setObjectName("costValue")
        self.reliability_value = QLabel("—")
        self.reliability_value.setObjectName("reliabilityValue")
        self.eta_value = QLabel("—")
        self.eta_value.setObjectName("etaValue")
        figures = QGridLayout()
        for row, (text, value) in enumerate(
            (
                (translate("RunPanel", "Cost so far:"), self.cost_value),
                (translate("RunPanel", "Reliability:"), self.reliability_value),
                (translate("RunPanel", "Time left:"), self.eta_value),
            )
        ):
            figures.addWidget(QLabel(text), row, 0)
            figures.addWidget(value, row, 1)
        figures.setColumnStretch(1, 1)

        self.waves = QStandardItemModel(0, 3, self)
        self.waves.setHorizontalHeaderLabels(
            [
                translate("RunPanel", "Wave"),
                translate("RunPanel", "Comparisons"),
                translate("RunPanel", "Reliability"),
            ]
        )
        self.wave_view = QTableView()
        self.wave_view.setObjectName("waveTable")
        self.wave_view.setModel(self.waves)
        self.wave_view.verticalHeader().hide()
        self.wave_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.wave_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.wave_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.wave_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.wave_view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        waves_label = QLabel(translate("RunPanel", "Reliability after each wave of comparisons:"))
        waves_label.setWordWrap(True)

        progress_box = QGroupBox(translate("RunPanel", "Progress"))
        progress_layout = QVBoxLayout(progress_box)
        progress_layout.addWidget(self.status_label)
        progress_layout.addWidget(self.progress_bar)
        progress_layout.addLayout(figures)
        progress_layout.addWidget(waves_label)
        progress_layout.addWidget(self.wave_view, 1)

        content = QWidget()
        columns = QHBoxLayout(content)
        columns.addWidget(settings_box, 1)
        columns.addWidget(progress_box, 1)
        scroll = QScrollArea()
        scroll.setObjectName("runPanelScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.runner.progressed.connect(self._on_progress)
        self._update_buttons()
        self._show_idle()

    # ------------------------------------------------------------------ public API

    def set_batch(self, batch_id: str) -> Operation[BatchRunState]:
        """Show ``batch_id``: its newest run (a paused one offered for *Resume*) and the
        teacher's default settings with their estimate."""
        if self.is_running() and batch_id != self.batch_id:
            # The running drive goes on in the task panel; this panel now shows another batch.
            self._forget_drive()
        self.batch_id = batch_id
        self.estimate = None
        self.loading = self.runner.start_blocking(
            translate("RunPanel", "Loading the run"),
            partial(load_run_state, self.db, self.data_dir, batch_id),
            on_done=self._loaded,
            show_failure=False,
        )
        self._update_buttons()
        return self.loading

    def current_run_id(self) -> str | None:
        return self._run_id

    def is_running(self) -> bool:
        return self._drive is not None and not self._drive.done

    def start(self) -> Operation[RunReport]:
        """Store a new run with the settings shown and drive it."""
        assert self.batch_id is not None, "set_batch first"
        self._recorder.clear()
        self._recorder.new_drive()
        self._run_id = None
        self.last_failure = None
        options = self.form.preferences().run_options()
        self._budget = 0
        self._advice = ""
        self._estimate_timer.stop()
        self._estimate_generation += 1  # an estimate still under way is not shown
        if self.estimate is not None:
            self.estimate_label.setText(self._estimate_text(self.estimate))
        else:
            self.estimate_label.clear()
        self._drive = self.runner.start_async(
            translate("RunPanel", "Grading {batch}").format(batch=self._batch_title()),
            partial(
                prepare_and_drive,
                self.db,
                self.batch_id,
                options,
                dict(self.operational),
                self._recorder,
                self._prepared.emit,
            ),
            on_done=self._drive_done,
        )
        self._show_waves()
        self._set_status(translate("RunPanel", "Starting…"))
        self._after_change()
        return self._drive

    def pause(self) -> None:
        """Ask the running drive to stop; the run is then paused durably."""
        if self.is_running():
            assert self._drive is not None
            self._drive.cancel(translate("RunPanel", "paused by the teacher"))
            self._set_status(translate("RunPanel", "Pausing after the requests under way…"))
            self._update_buttons()

    def resume(self) -> Operation[RunReport]:
        """Drive the current (paused or interrupted) run again."""
        run_id = self._run_id
        assert run_id is not None, "no run to resume"
        self.last_failure = None
        self._recorder.new_drive()
        self._drive = self.runner.start_async(
            translate("RunPanel", "Grading {batch}").format(batch=self._batch_title()),
            partial(drive_again, self.db, run_id, dict(self.operational), self._recorder),
            on_done=self._drive_done,
        )
        self._set_status(translate("RunPanel", "Resuming…"))
        self._after_change()
        return self._drive

    def cancel_run(self) -> Operation[Any]:
        """End the current run as cancelled (a running drive is paused first); the verdicts
        so far are kept and graded. Does not ask: the *Cancel run…* button asks first."""
        run_id = self._run_id
        assert run_id is not None, "no run to cancel"
        drive = self._drive if self.is_running() else None
        db = self.db

        async def work(**_op: object) -> Outcome[Any]:
            if drive is not None:
                drive.cancel(translate("RunPanel", "cancelled by the teacher"))
                await drive.wait()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, cancel_run, db, run_id)

        self._cancelling = self.runner.start_async(
            translate("RunPanel", "Cancelling the run"), work, on_done=self._cancel_done
        )
        self._set_status(translate("RunPanel", "Cancelling…"))
        self._update_buttons()
        return self._cancelling

    # ------------------------------------------------------------------ loading

    def _loaded(self, operation: Operation[BatchRunState]) -> None:
        if not isValid(self):  # the panel was closed while it ran
            return
        if operation is not self.loading:
            return
        self.loading = None
        outcome = operation.outcome
        if not isinstance(outcome, Completed):
            self.state = None
            if isinstance(outcome, Failed):
                self.last_failure = outcome
                self._set_status(outcome.message)
            self._update_buttons()
            return
        state: BatchRunState = outcome.value
        self.state = state
        run = state.run
        if self.is_running():
            self._update_buttons()
            return
        self._run_id = run.run_id if run is not None else None
        resumable = run is not None and self._resumable(state)
        # The form shows a resumable run's frozen settings, otherwise the teacher's defaults
        # (refilled only when what it shows changes, so edits survive a finished run).
        source = ("run", run.run_id) if run is not None and resumable else ("prefs", state.batch.id)
        if source != self._form_source:
            self._form_source = source
            if run is not None and resumable:
                self.form.set_preferences(_preferences_of(run.settings))
            else:
                self.form.set_preferences(state.preferences.preferences)
        elif not resumable:
            self._settings_changed()
        if resumable:
            self.estimate_label.setText(
                translate("RunPanel", "The run goes on with the settings it started with.")
            )
        if run is None:
            self._show_idle()
        else:
            self._show_report(run, interrupted=state.interrupted)
        if state.preferences.warning:
            self.estimate_label.setText(state.preferences.warning)
        self._update_buttons()
        self.changed.emit()

    def _refresh(self) -> None:
        if self.batch_id is not None:
            self.set_batch(self.batch_id)

    @staticmethod
    def _resumable(state: BatchRunState) -> bool:
        run = state.run
        return run is not None and (run.status == RunStatus.PAUSED.value or state.interrupted)

    # ------------------------------------------------------------------ the estimate

    def _settings_changed(self) -> None:
        if self.batch_id is None or not self._editable():
            return
        self.estimate_label.setText(translate("RunPanel", "Estimating the cost…"))
        self._estimate_timer.start()

    def _estimate_now(self) -> None:
        if self.batch_id is None or not self._editable():
            return
        prefs = self.form.preferences()
        problem = prefs.problems()
        if problem:
            self.estimate_label.setText(
                translate("RunPanel", "These settings cannot be used: {problem}.").format(
                    problem=problem
                )
            )
            self.start_button.setEnabled(False)
            return
        self._update_buttons()
        self._estimate_generation += 1
        generation = self._estimate_generation
        self.estimating = self.runner.start_blocking(
            translate("RunPanel", "Estimating the cost"),
            partial(estimate_options, self.db, self.batch_id, prefs.run_options()),
            on_done=lambda op: self._estimated(op, generation),
            show_failure=False,
        )

    def _estimated(self, operation: Operation[RunEstimate], generation: int) -> None:
        if not isValid(self):  # the panel was closed while it ran
            return
        if generation != self._estimate_generation:
            return
        self.estimating = None
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self.estimate = outcome.value
            self.estimate_label.setText(self._estimate_text(outcome.value))
        elif isinstance(outcome, Failed):
            self.estimate = None
            self.estimate_label.setText(
                translate("RunPanel", "No estimate: {reason}").format(reason=outcome.message)
            )

    @staticmethod
    def _estimate_text(estimate: RunEstimate) -> str:
        e = estimate.estimate
        if e is None:
            return translate(
                "RunPanel",
                "{model} is not in the price catalogue, so the cost cannot be estimated. "
                "The run makes at most {budget} comparisons.",
            ).format(model=estimate.model, budget=estimate.budget)
        text = translate(
            "RunPanel",
            "Estimate: at most {budget} comparisons in {calls} requests, about {cost}"
            " and {time}. The run usually stops earlier, once the ranking is reliable.",
        ).format(
            budget=estimate.budget,
            calls=e.calls,
            cost=_money(e.cost_usd),
            time=_duration(e.seconds),
        )
        if estimate.simulated:
            text += " " + translate(
                "RunPanel", "(The simulated judge is free; the cost is what a real one would be.)"
            )
        return (
            text
            + " "
            + translate("RunPanel", "Prices of {date}.").format(date=estimate.catalogue_date)
        )

    # ------------------------------------------------------------------ progress

    def _on_prepared(self, run_id: str) -> None:
        self._run_id = run_id
        self.changed.emit()

    def _on_progress(self, operation: Operation[Any]) -> None:
        if not isValid(self):  # the panel was closed while it ran
            return
        if operation is not self._drive or operation.progress is None:
            return
        event = operation.progress.data
        if not isinstance(event, ProgressEvent):
            return
        self._run_id = event.run_id
        self._budget = event.budget
        self.progress_bar.setRange(0, max(1, event.budget))
        self.progress_bar.setValue(min(event.done, event.budget))
        self.cost_value.setText(_money(event.cost_usd))
        target = self._target()
        self.reliability_value.setText(
            _reliability_text(event.reliability, target, event.reliability_interval)
        )
        if event.kind == "advice" and event.detail:
            self._advice = event.detail
        self.eta_value.setText(
            "—"
            if event.eta_s is None
            else translate("RunPanel", "about {time}").format(time=_duration(event.eta_s))
        )
        if not operation.cancelling:
            failed = ""
            if event.failed:
                failed = " " + english_plural(
                    translate(
                        "RunPanel",
                        "(%n comparison(s) failed and will be retried)",
                        "",
                        event.failed,
                    ),
                    event.failed,
                )
            self._set_status(
                translate("RunPanel", "Grading: wave {wave}.").format(
                    wave=self._recorder_wave() + 1
                )
                + failed
                + (f" {self._advice}" if self._advice else "")
            )
        self._show_waves()

    def _recorder_wave(self) -> int:
        rows = self._recorder.rows()
        return rows[-1].wave if rows else 0

    def _target(self) -> float | None:
        if self.state is not None and self.state.run is not None and self._drive is None:
            value = self.state.run.settings.get("target_reliability")
            return float(value) if value is not None else None
        return self.form.preferences().target_reliability

    def _show_waves(self) -> None:
        rows = self._recorder.rows()
        self.waves.setRowCount(len(rows))
        for i, row in enumerate(rows):
            values = (
                str(row.wave),
                str(row.comparisons),
                "…" if math.isnan(row.reliability) else f"{row.reliability:.2f}",
            )
            for column, value in enumerate(values):
                item = self.waves.item(i, column)
                if item is None:
                    item = QStandardItem()
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.waves.setItem(i, column, item)
                if item.text() != value:
                    item.setText(value)
        if rows:
            self.wave_view.scrollToBottom()

    # ------------------------------------------------------------------ endings

    def _drive_done(self, operation: Operation[RunReport]) -> None:
        if not isValid(self):  # the panel was closed while it ran
            return
        if operation is not self._drive:
            return
        outcome = operation.outcome
        self._show_waves()
        if isinstance(outcome, Completed):
            report = outcome.value
            self._run_id = report.run_id
            self._show_report(report)
            self.run_finished.emit(report.run_id)
        elif isinstance(outcome, Paused):
            self._set_status(outcome.message)
        elif isinstance(outcome, Failed):
            self.last_failure = outcome
            self._set_status(outcome.message)
            run_id = outcome.extra.get("run_id")
            if isinstance(run_id, str):
                self._run_id = run_id
        elif isinstance(outcome, Cancelled):
            self._set_status(outcome.message)
        self._drive = None
        self._after_change()
        self._refresh()

    def _cancel_done(self, operation: Operation[Any]) -> None:
        if not isValid(self):  # the panel was closed while it ran
            return
        if operation is not self._cancelling:
            return
        self._cancelling = None
        outcome = operation.outcome
        if isinstance(outcome, Failed):
            self.last_failure = outcome
        self._after_change()
        self._refresh()

    def _forget_drive(self) -> None:
        self._drive = None
        self._run_id = None
        self._recorder.clear()
        self._show_waves()

    def _after_change(self) -> None:
        self._update_buttons()
        self.changed.emit()

    # ------------------------------------------------------------------ showing

    def _show_idle(self) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.cost_value.setText("—")
        self.reliability_value.setText("—")
        self.eta_value.setText("—")
        if self.batch_id is None:
            self._set_status(translate("RunPanel", "Choose a batch to grade."))
        else:
            self._set_status(
                translate("RunPanel", "Not graded yet. Check the settings, then press Start.")
            )

    def _show_report(self, run: RunReport, *, interrupted: bool = False) -> None:
        budget = int(run.settings.get("budget") or 0) or max(1, run.comparisons_done)
        self._budget = budget
        self.progress_bar.setRange(0, budget)
        self.progress_bar.setValue(min(run.comparisons_done, budget))
        self.cost_value.setText(_money(run.cost_usd))
        target = run.settings.get("target_reliability")
        reliability = run.reliability
        if reliability is None:  # stored when a run ends; until then, the newest wave's fit
            known = [r.reliability for r in self._recorder.rows() if not math.isnan(r.reliability)]
            reliability = known[-1] if known else None
        self.reliability_value.setText(
            _reliability_text(
                math.nan if reliability is None else reliability,
                None if target is None else float(target),
            )
        )
        self.eta_value.setText("—")
        status = run.status
        if interrupted:
            text = translate(
                "RunPanel",
                "The last run stopped unexpectedly after {n} comparisons. Nothing judged is "
                "lost: press Resume to go on.",
            ).format(n=run.comparisons_done)
        elif status == RunStatus.PAUSED.value:
            text = translate(
                "RunPanel", "Paused after {n} comparisons. Press Resume to go on."
            ).format(n=run.comparisons_done)
        elif status == RunStatus.RUNNING.value:
            text = translate("RunPanel", "This batch is being graded by another window or process.")
        elif run.stop_reason == "target_unreachable":
            text = translate("RunPanel", "Stopped early: {advice}").format(
                advice=_outlook_message(run.settings)
            )
        elif status == RunStatus.COMPLETE.value:
            text = translate("RunPanel", "Finished: {why}.").format(why=run.stop_text)
            if _outlook_message(run.settings):
                text += " " + _outlook_message(run.settings)
        elif status == RunStatus.CANCELLED.value:
            text = translate(
                "RunPanel", "The last run was cancelled after {n} comparisons; they are kept."
            ).format(n=run.comparisons_done)
        elif status == RunStatus.FAILED.value:
            text = translate("RunPanel", "The last run failed: {why}.").format(why=run.stop_text)
        else:
            text = translate("RunPanel", "The last run is {status}.").format(status=status)
        self._set_status(text)

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _batch_title(self) -> str:
        if self.state is not None:
            return self.state.batch.title
        return self.batch_id or ""

    def _editable(self) -> bool:
        """Whether the settings may be edited: no run under way or waiting to be resumed."""
        if self.is_running() or self._cancelling is not None:
            return False
        state = self.state
        if state is None:
            return self.batch_id is not None
        run = state.run
        if run is None:
            return True
        return run.status in TERMINAL

    def _update_buttons(self) -> None:
        loaded = self.batch_id is not None and self.loading is None and self.state is not None
        running = self.is_running()
        pausing = running and self._drive is not None and self._drive.cancelling
        cancelling = self._cancelling is not None
        resumable = (
            loaded
            and not running
            and not cancelling
            and self.state is not None
            and self._resumable(self.state)
        )
        editable = loaded and self._editable()
        self.form.set_locked(not editable)
        self.start_button.setEnabled(
            editable and not running and self.form.preferences().problems() is None
        )
        self.pause_button.setEnabled(running and not pausing and not cancelling)
        self.resume_button.setEnabled(resumable)
        self.cancel_button.setEnabled(not cancelling and not pausing and (running or resumable))
        self.resume_button.setDefault(resumable)
        self.start_button.setDefault(not resumable)

    def _ask_cancel(self) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(translate("RunPanel", "Cancel the run?"))
        box.setText(translate("RunPanel", "End this run for good?"))
        box.setInformativeText(
            translate(
                "RunPanel",
                "The comparisons made so far are kept and the essays are graded from them. "
                "To go on later instead, press Pause.",
            )
        )
        yes = box.addButton(
            translate("RunPanel", "Cancel the run"), QMessageBox.ButtonRole.DestructiveRole
        )
        keep = box.addButton(translate("RunPanel", "Keep going"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        self.confirm_box = box

        async def ask() -> None:
            await open_and_wait(box)
            self.confirm_box = None
            if box.clickedButton() is yes and self._run_id is not None:
                self.cancel_run()
            box.deleteLater()

        self._asking = asyncio.ensure_future(ask())


async def demo_state(panel: RunPanel, batch_id: str, waves: int = 3) -> Operation[RunReport]:
    """Put ``panel`` in a state worth a screenshot: ``batch_id`` being graded by the simulated
    judge (slowed down), once ``waves`` waves with their reliability are shown. Returns the
    drive; pause it (``panel.pause()``) or let the window's shutdown pause it."""
    await panel.set_batch(batch_id).wait()
    if panel.form.preferences().provider != "sim":
        panel.form.set_preferences(Preferences())
    panel.operational = {"sim_speed": 4.0}
    drive = panel.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60.0
    while not drive.done and loop.time() < deadline:
        rows = panel._recorder.rows()
        if len(rows) >= waves and not math.isnan(rows[waves - 2].reliability):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # let the newest progress reach the widgets
    return drive


def _outlook_message(settings: dict[str, Any]) -> str:
    """The run's stored "cannot reach the target" sentence (``extra["outlook"]``), or ""."""
    extra = settings.get("extra")
    outlook = extra.get("outlook") if isinstance(extra, dict) else None
    message = outlook.get("message") if isinstance(outlook, dict) else None
    return str(message) if message else ""


def _reliability_text(
    value: float,
    target: float | None,
    interval: tuple[float, float] = (math.nan, math.nan),
) -> str:
    shown = "—" if math.isnan(value) else f"{value:.2f}"
    low, high = interval
    if not math.isnan(value) and not math.isnan(low) and not math.isnan(high) and high > low:
        shown = translate("RunPanel", "{value}, likely {low:.2f}–{high:.2f}").format(
            value=shown, low=low, high=high
        )
    if target is None:
        return shown
    return translate("RunPanel", "{value} (the run stops at {target:.2f})").format(
        value=shown, target=target
    )


def _preferences_of(settings: dict[str, Any]) -> Preferences:
    """The form's view of a run's frozen settings."""
    try:
        frozen = RunSettings.from_json(settings)
    except Exception:  # settings of a newer version: show the defaults, locked
        return Preferences()
    return Preferences(
        provider=frozen.provider,
        model=frozen.model,
        mode=frozen.mode,
        bundle_size=frozen.bundle_size,
        base_url=frozen.base_url,
        budget=frozen.budget,
        target_reliability=frozen.target_reliability,
        concurrency=frozen.concurrency,
    )

"""The Settings page's *Sync* section: sign in to a school's sync server, sync now, see what
waits and the edits kept from conflicts (and restore one).

Everything goes through :mod:`app.operations.sync` on the task runner; the box never opens a
database session or a network connection itself. Sync is optional: with no server the box says
so and the app works as before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.db.engine import Database
from app.operations.base import Completed, Failed, FailureKind
from app.operations.sync import (
    ConflictRow,
    SyncOverview,
    SyncReport,
    list_sync_conflicts,
    restore_sync_conflict,
    sign_in,
    sign_out,
    sync_now,
    sync_overview,
)
from ui.errors import show_failure
from ui.i18n import english_plural
from ui.tasks import Operation, TaskRunner

translate = QCoreApplication.translate


def _when(moment: datetime | None) -> str:
    if moment is None:
        return translate("SyncBox", "never")
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone().strftime("%Y-%m-%d %H:%M")


class SyncBox(QGroupBox):
    """Sign-in, *Sync now*, status and kept conflicts. ``synced`` after a sync that worked."""

    synced = Signal()

    def __init__(self, db: Database, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(translate("SyncBox", "Sync with the school's server"), parent)
        self.setObjectName("syncBox")
        self.db = db
        self.runner = runner
        self.overview: SyncOverview | None = None
        self.conflicts: list[ConflictRow] = []
        self.action: Operation[object] | None = None
        self.loading: Operation[tuple[SyncOverview, list[ConflictRow]]] | None = None

        self.intro = QLabel(
            translate(
                "SyncBox",
                "Optional. A school's server keeps a backup, brings your classes to a second "
                "computer and shares anchor sets. Everything works without it. Essays and names "
                "are sent to that server only; API keys never are.",
            )
        )
        self.intro.setWordWrap(True)
        self.status = QLabel()
        self.status.setObjectName("syncStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)

        self.server = QLineEdit()
        self.server.setObjectName("syncServer")
        self.server.setPlaceholderText("https://sync.school.example")
        self.email = QLineEdit()
        self.email.setObjectName("syncEmail")
        self.password = QLineEdit()
        self.password.setObjectName("syncPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.returnPressed.connect(self.sign_in)
        self.sign_in_button = QPushButton(translate("SyncBox", "Sign &in"))
        self.sign_in_button.setObjectName("syncSignIn")
        self.sign_in_button.clicked.connect(self.sign_in)
        form = QFormLayout()
        server_label = QLabel(translate("SyncBox", "Se&rver:"))
        server_label.setBuddy(self.server)
        email_label = QLabel(translate("SyncBox", "E-&mail:"))
        email_label.setBuddy(self.email)
        password_label = QLabel(translate("SyncBox", "Pass&word:"))
        password_label.setBuddy(self.password)
        form.addRow(server_label, self.server)
        form.addRow(email_label, self.email)
        password_row = QHBoxLayout()
        password_row.addWidget(self.password, 1)
        password_row.addWidget(self.sign_in_button)
        form.addRow(password_label, password_row)

        self.sync_button = QPushButton(translate("SyncBox", "S&ync now"))
        self.sync_button.setObjectName("syncNow")
        self.sync_button.clicked.connect(self.sync)
        self.sign_out_button = QPushButton(translate("SyncBox", "Sign o&ut"))
        self.sign_out_button.setObjectName("syncSignOut")
        self.sign_out_button.clicked.connect(self.sign_out)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sync_button)
        buttons.addWidget(self.sign_out_button)
        buttons.addStretch(1)

        self.message = QLabel()
        self.message.setObjectName("syncMessage")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)

        self.conflict_title = QLabel()
        self.conflict_view = QTreeWidget()
        self.conflict_view.setObjectName("syncConflicts")
        self.conflict_view.setRootIsDecorated(False)
        self.conflict_view.setHeaderLabels(
            [
                translate("SyncBox", "When"),
                translate("SyncBox", "What"),
                translate("SyncBox", "The edit kept, and what is current"),
            ]
        )
        self.conflict_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.conflict_view.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.conflict_view.setMinimumHeight(self.fontMetrics().height() * 6)
        self.conflict_view.itemSelectionChanged.connect(self._update_buttons)
        self.restore_button = QPushButton(translate("SyncBox", "&Restore the kept value"))
        self.restore_button.setObjectName("syncRestore")
        self.restore_button.clicked.connect(self.restore_selected)
        restore_row = QHBoxLayout()
        restore_row.addWidget(self.conflict_title, 1)
        restore_row.addWidget(self.restore_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.status)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addLayout(restore_row)
        layout.addWidget(self.conflict_view)
        self._show()

    # ------------------------------------------------------------------ loading

    def reload(self) -> Operation[tuple[SyncOverview, list[ConflictRow]]]:
        """Read the sync state and the kept conflicts (worker thread; nothing is sent)."""
        self.loading = self.runner.start_blocking(
            translate("SyncBox", "Reading the sync state"),
            partial(_load, self.db),
            on_done=self._loaded,
            show_failure=False,
        )
        return self.loading

    def _loaded(self, operation: Operation[tuple[SyncOverview, list[ConflictRow]]]) -> None:
        if not isValid(self):
            return
        outcome = operation.outcome
        if isinstance(outcome, Completed):
            self.overview, self.conflicts = outcome.value
            if self.overview.server_url and not self.server.text():
                self.server.setText(self.overview.server_url)
            if self.overview.email and not self.email.text():
                self.email.setText(self.overview.email)
        elif isinstance(outcome, Failed):
            self._say(outcome.message, ok=False)
        self._show()

    # ------------------------------------------------------------------ actions

    def _start(self, title: str, work: object, done: object) -> Operation[object]:
        self.action = self.runner.start_blocking(
            title,
            work,  # type: ignore[arg-type]
            on_done=done,  # type: ignore[arg-type]
            show_failure=False,
        )
        self._update_buttons()
        return self.action

    def _failed(self, failed: Failed) -> None:
        if failed.kind is FailureKind.INPUT:
            self._say(failed.message, ok=False)
        else:
            self._say("", ok=True)
            show_failure(failed, self)

    def sign_in(self) -> Operation[object]:
        server, email, password = self.server.text(), self.email.text(), self.password.text()

        def done(operation: Operation[object]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                self.password.clear()
                self._say(translate("SyncBox", "Signed in. Sync now sends your data."), ok=True)
                self.reload()
            elif isinstance(outcome, Failed):
                self._failed(outcome)
            self._update_buttons()

        return self._start(
            translate("SyncBox", "Signing in to the sync server"),
            partial(sign_in, self.db, server, email, password),
            done,
        )

    def sync(self) -> Operation[object]:
        def done(operation: Operation[object]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                report = outcome.value
                assert isinstance(report, SyncReport)
                self._say(_report_text(report), ok=True)
                self.synced.emit()
            elif isinstance(outcome, Failed):
                self._failed(outcome)
            self.reload()

        return self._start(
            translate("SyncBox", "Syncing with the school's server"),
            partial(sync_now, self.db),
            done,
        )

    def sign_out(self) -> Operation[object]:
        def done(operation: Operation[object]) -> None:
            if isValid(self):
                if isinstance(operation.outcome, Failed):
                    self._failed(operation.outcome)
                else:
                    self._say(translate("SyncBox", "Signed out on this computer."), ok=True)
                self.reload()

        return self._start(translate("SyncBox", "Signing out"), partial(sign_out, self.db), done)

    def restore_selected(self) -> Operation[object] | None:
        items = self.conflict_view.selectedItems()
        if not items:
            return None
        conflict_id = int(items[0].data(0, Qt.ItemDataRole.UserRole))

        def done(operation: Operation[object]) -> None:
            if not isValid(self):
                return
            outcome = operation.outcome
            if isinstance(outcome, Completed):
                self._say(
                    translate(
                        "SyncBox", "Restored here; the next sync sends it to your other computers."
                    ),
                    ok=True,
                )
                self.synced.emit()
            elif isinstance(outcome, Failed):
                self._failed(outcome)
            self.reload()

        return self._start(
            translate("SyncBox", "Restoring a kept value"),
            partial(restore_sync_conflict, self.db, conflict_id),
            done,
        )

    # ------------------------------------------------------------------ presentation

    def _say(self, text: str, *, ok: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("" if ok else "color: #b3261e;")

    def _show(self) -> None:
        self.status.setText(_status_text(self.overview))
        self.conflict_view.clear()
        for row in self.conflicts:
            what, change = _described(row)
            item = QTreeWidgetItem([_when(row.created_at), what, change])
            item.setData(0, Qt.ItemDataRole.UserRole, row.id)
            item.setToolTip(2, row.summary())  # every field, for the curious
            self.conflict_view.addTopLevelItem(item)
        count = len(self.conflicts)
        self.conflict_title.setText(
            english_plural(
                translate(
                    "SyncBox", "%n edit(s) lost to a later edit elsewhere, kept here:", "", count
                ),
                count,
            )
            if count
            else translate("SyncBox", "No conflicts: no edit lost to another.")
        )
        self.conflict_title.setVisible(self.overview is not None and self.overview.set_up)
        self.conflict_view.setVisible(bool(count))
        self.restore_button.setVisible(bool(count))
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.action is not None and not self.action.done
        overview = self.overview
        set_up = overview is not None and overview.set_up
        self.sign_in_button.setEnabled(not busy)
        self.sync_button.setEnabled(not busy and set_up)
        self.sign_out_button.setEnabled(not busy and overview is not None and overview.signed_in)
        self.restore_button.setEnabled(not busy and bool(self.conflict_view.selectedItems()))


def _fields(record: dict[str, object] | None) -> dict[str, object]:
    """A record's own values: ids, clocks and text hashes left out (they mean nothing to read)."""
    if not record or record.get("deleted"):
        return {}
    data = record.get("data")
    if not isinstance(data, dict):
        return {}
    return {
        k: v
        for k, v in data.items()
        if not (k == "id" or k.endswith(("_id", "_sha256", "_at", "hash")))
    }


def _described(row: ConflictRow) -> tuple[str, str]:
    """(what it is, what was kept against what is current), in a teacher's words."""
    kept, now = _fields(row.loser), _fields(row.winner)
    name = now.get("name") or now.get("title") or kept.get("name") or kept.get("title")
    if not name:
        first, last = (
            now.get("first_name") or kept.get("first_name"),
            now.get("last_name") or kept.get("last_name"),
        )
        name = " ".join(str(part) for part in (first, last) if part)
    what = f"{row.kind} “{name}”" if name else row.kind
    if row.loser.get("deleted"):
        return what, translate("SyncBox", "kept: deleted | now: present")
    if row.winner is not None and row.winner.get("deleted"):
        return what, translate("SyncBox", "kept: this edit | now: deleted")
    changed = [k for k in sorted(set(kept) | set(now)) if kept.get(k) != now.get(k)]
    parts = [
        translate("SyncBox", "{field}: kept “{kept}”, now “{now}”").format(
            field=k.replace("_", " "), kept=kept.get(k, ""), now=now.get(k, "")
        )
        for k in changed[:3]
    ]
    return what, "; ".join(parts) or translate("SyncBox", "the same values")


def _load(db: Database, **_operation: object) -> tuple[SyncOverview, list[ConflictRow]]:
    return sync_overview(db), list_sync_conflicts(db)


def _status_text(overview: SyncOverview | None) -> str:
    if overview is None:
        return translate("SyncBox", "Reading the sync state…")
    if not overview.set_up:
        return translate(
            "SyncBox", "Not set up: give your school's server address, your e-mail and password."
        )
    lines = [
        translate("SyncBox", "{server} as {email}: {state}.").format(
            server=overview.server_url,
            email=overview.email,
            state=translate("SyncBox", "signed in")
            if overview.signed_in
            else translate("SyncBox", "not signed in on this computer"),
        ),
        translate("SyncBox", "Last sync: {when}. Waiting to be sent: {changes}.").format(
            when=_when(overview.last_sync_at),
            changes=english_plural(
                translate("SyncBox", "%n change(s)", "", overview.pending_changes),
                overview.pending_changes,
            ),
        ),
    ]
    if overview.last_error:
        lines.append(
            translate("SyncBox", "The last sync did not finish: {error}").format(
                error=overview.last_error
            )
        )
    if overview.keyring_problem:
        lines.append(
            translate(
                "SyncBox",
                "This computer has no system keyring ({problem}): the sign-in lasts until the "
                "app closes.",
            ).format(problem=overview.keyring_problem)
        )
    return "\n".join(lines)


def _report_text(report: SyncReport) -> str:
    text = translate(
        "SyncBox", "Synced: {sent} sent, {received} received, {conflicts} kept from conflicts."
    ).format(
        sent=english_plural(translate("SyncBox", "%n change(s)", "", report.pushed), report.pushed),
        received=report.pulled,
        conflicts=report.conflicts,
    )
    if report.rejected:
        text += " " + translate("SyncBox", "{n} refused by the server.").format(n=report.rejected)
    return text

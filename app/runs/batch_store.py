"""Provider batches of a run, kept in the database: one :class:`~app.db.models.ProviderBatch`
row per run and wave holds the batch's intent and job (see :mod:`app.llm.batch.store`).

:class:`DbJobStore` is the :class:`~app.llm.batch.store.JobStore` a run in provider-batch mode
hands to :func:`~app.llm.batch.run_batch_summary`. Every call is one short transaction that is
committed when it returns, so a job saved is saved for good. Every write is a single statement
(an upsert, or an update), never a read followed by a write: in WAL mode a transaction that has
read and then writes fails at once ("database is locked") when another connection, such as the
run loop's database thread, wrote in between; a transaction that writes first waits for the
busy timeout instead. Reads use read-only sessions (:meth:`~app.db.engine.Database.read`),
which never wait for a writer, so they may be called while the caller's own thread holds a
write transaction (the run loop asking :meth:`DbJobStore.has_job` inside its session).

Version 0.1 kept the same state as JSON files in ``batches/`` beside the database
(``<run>-wave<k>.json`` and ``<run>-wave<k>.intent.json``). A wave with no row yet reads them
(:data:`LEGACY_FOLDER`) and moves what it finds into the database, so a batch submitted before
an upgrade is resumed or adopted, never paid for twice. The files themselves are left in place,
except a legacy intent, which is removed once its job is saved.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import null, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import ProviderBatch, new_id, utcnow
from app.llm.batch.jobs import BatchIntent, BatchJob
from app.llm.batch.store import FileJobStore

LEGACY_FOLDER = "batches"
"""Where version 0.1 saved provider batches, beside the database file."""

SUBMITTING = "submitting"
"""The status of a row whose batch is being created: its intent is saved, its job not yet."""


def legacy_batch_dir(db: Database) -> Path:
    """The folder of the JSON files that version 0.1 saved batches in (it may not exist)."""
    return db.path.parent / LEGACY_FOLDER


def _legacy_wave(run_id: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(run_id)}-wave(\d+)\.json$")


class DbJobStore:
    """The saved intent and job of one wave's provider batch, in the ``provider_batches`` table.

    Args:
        db: the app's database.
        run_id: the run the wave belongs to (the row is deleted with the run).
        wave: the wave number.
        legacy: also read version 0.1's JSON files (:func:`legacy_batch_dir`) while the wave
            has no row; on by default.
    """

    def __init__(self, db: Database, run_id: str, wave: int, *, legacy: bool = True) -> None:
        self.db = db
        self.run_id = run_id
        self.wave = wave
        self._legacy: FileJobStore | None = None
        if legacy:
            self._legacy = FileJobStore(legacy_batch_dir(db) / f"{run_id}-wave{wave}.json")

    def __repr__(self) -> str:
        return f"DbJobStore(run_id={self.run_id!r}, wave={self.wave})"

    # ------------------------------------------------------------------ rows

    def _row(self, s: Session) -> ProviderBatch | None:
        return s.scalars(
            select(ProviderBatch).where(
                ProviderBatch.run_id == self.run_id, ProviderBatch.wave == self.wave
            )
        ).one_or_none()

    def _upsert(self, insert_values: dict[str, Any], update_values: dict[str, Any]) -> None:
        """Insert this wave's row with ``insert_values``, or update it with ``update_values``:
        one statement, so the write lock is taken (or waited for) before anything is read."""
        now = utcnow()
        statement = insert(ProviderBatch).values(
            id=new_id(),
            created_at=now,
            updated_at=now,
            run_id=self.run_id,
            wave=self.wave,
            **insert_values,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[ProviderBatch.run_id, ProviderBatch.wave],
            set_={**update_values, "updated_at": now},
        )
        with self.db.session() as s:
            s.execute(statement)

    def _read(self) -> tuple[bool, dict[str, object] | None, dict[str, object] | None]:
        """(whether the row exists, its job, its intent)."""
        with self.db.read() as s:
            row = self._row(s)
            if row is None:
                return False, None, None
            return True, row.job, row.intent

    # ------------------------------------------------------------------ JobStore

    def load_job(self) -> BatchJob | None:
        exists, job, _intent = self._read()
        if job is not None:
            try:
                return BatchJob.model_validate(job)
            except ValidationError as exc:
                raise ValueError(f"{self!r} holds no valid batch job: {exc}") from exc
        if not exists and self._legacy is not None:
            legacy = self._legacy.load_job()
            if legacy is not None:
                self.save_job(legacy)
                return legacy
        return None

    def save_job(self, job: BatchJob) -> None:
        data = job.model_dump(mode="json")
        values = {"job": data, "batch_id": job.batch_id, "status": job.status}
        self._upsert(values, values)

    def load_intent(self) -> BatchIntent | None:
        exists, _job, intent = self._read()
        if intent is not None:
            try:
                return BatchIntent.model_validate(intent)
            except ValidationError as exc:
                raise ValueError(f"{self!r} holds no valid batch intent: {exc}") from exc
        if not exists and self._legacy is not None:
            legacy = self._legacy.load_intent()
            if legacy is not None:
                self.save_intent(legacy)
                return legacy
        return None

    def save_intent(self, intent: BatchIntent) -> None:
        data = intent.model_dump(mode="json")
        self._upsert({"intent": data, "status": SUBMITTING}, {"intent": data})

    def clear_intent(self) -> None:
        with self.db.session() as s:
            s.execute(
                update(ProviderBatch)
                .where(
                    ProviderBatch.run_id == self.run_id,
                    ProviderBatch.wave == self.wave,
                    ProviderBatch.intent.is_not(None),
                )
                .values(intent=null(), updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        if self._legacy is not None:
            self._legacy.clear_intent()

    def known_batch_ids(self) -> set[str]:
        """The batch ids of every saved job in the database (all runs and waves), and in the
        legacy folder."""
        with self.db.read() as s:
            ids = set(
                s.scalars(select(ProviderBatch.batch_id).where(ProviderBatch.batch_id.is_not(None)))
            )
        found = {i for i in ids if i is not None}
        if self._legacy is not None:
            found |= self._legacy.known_batch_ids()
        return found

    # ------------------------------------------------------------------ for the run loop

    def has_job(self) -> bool:
        """Whether a job is saved for this wave (its batch is fetched by id, never submitted
        again)."""
        exists, job, _intent = self._read()
        if job is not None:
            return True
        return not exists and self._legacy is not None and self._legacy.path.exists()


def saved_waves(session: Session, run_id: str, legacy_dir: Path | None = None) -> set[int]:
    """The waves of ``run_id`` whose provider batch has a saved job, read in ``session``; with
    ``legacy_dir`` (:func:`legacy_batch_dir`), also the waves saved there by version 0.1."""
    waves = set(
        session.scalars(
            select(ProviderBatch.wave).where(
                ProviderBatch.run_id == run_id, ProviderBatch.batch_id.is_not(None)
            )
        )
    )
    if legacy_dir is not None and legacy_dir.is_dir():
        pattern = _legacy_wave(run_id)
        for item in legacy_dir.iterdir():
            match = pattern.match(item.name)
            if match is not None:
                waves.add(int(match.group(1)))
    return waves

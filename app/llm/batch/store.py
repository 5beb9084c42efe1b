"""Where a provider batch's job and intent are kept between restarts.

:func:`~app.llm.batch.runner.run_batch_summary` reads and writes them through a
:class:`JobStore`, so the same resume and adoption logic works whether they live in JSON files
(:class:`FileJobStore`, for scripts and tests) or in the app's database
(:class:`app.runs.batch_store.DbJobStore`, one row per run and wave).

The contract, whatever the storage:

* :meth:`~JobStore.save_intent` is called before the provider is asked to create the batch,
  :meth:`~JobStore.save_job` right after it answered and after every status change, and
  :meth:`~JobStore.clear_intent` once the job is saved. Each write is durable when it returns.
* :meth:`~JobStore.load_job` and :meth:`~JobStore.load_intent` give what was saved, or None.
* :meth:`~JobStore.known_batch_ids` gives the batch ids of every job kept beside this one (other
  waves and runs), so that an Anthropic batch already owned by another wave is never adopted for
  this one (:func:`app.llm.batch.runner.find_submitted`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from app.llm.batch.jobs import (
    BatchIntent,
    BatchJob,
    intent_path,
    load_intent,
    load_state,
    save_intent,
    save_state,
    saved_batch_ids,
)


@runtime_checkable
class JobStore(Protocol):
    """The saved job and intent of one provider batch (see the module docstring)."""

    def load_job(self) -> BatchJob | None:
        """The saved job, or None when none was saved.

        Raises:
            ValueError: what is saved is not a batch job.
        """
        ...

    def save_job(self, job: BatchJob) -> None:
        """Save ``job`` (replacing the one saved before)."""
        ...

    def load_intent(self) -> BatchIntent | None:
        """The saved intent, or None when there is none.

        Raises:
            ValueError: what is saved is not a batch intent.
        """
        ...

    def save_intent(self, intent: BatchIntent) -> None:
        """Save ``intent``, before the create call it announces."""
        ...

    def clear_intent(self) -> None:
        """Forget the intent (its job has been saved). Nothing happens when there is none."""
        ...

    def known_batch_ids(self) -> set[str]:
        """The batch ids of the jobs saved in this store's storage (this one's included)."""
        ...


class FileJobStore:
    """A job saved as JSON at ``path`` and its intent beside it
    (:func:`~app.llm.batch.jobs.intent_path`); every write is atomic. The batch ids known are
    those of the jobs saved as ``*.json`` in the same folder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.intent_file = intent_path(self.path)

    def __repr__(self) -> str:
        return f"FileJobStore({str(self.path)!r})"

    def load_job(self) -> BatchJob | None:
        return load_state(self.path) if self.path.exists() else None

    def save_job(self, job: BatchJob) -> None:
        save_state(job, self.path)

    def load_intent(self) -> BatchIntent | None:
        return load_intent(self.intent_file) if self.intent_file.exists() else None

    def save_intent(self, intent: BatchIntent) -> None:
        save_intent(intent, self.intent_file)

    def clear_intent(self) -> None:
        self.intent_file.unlink(missing_ok=True)

    def known_batch_ids(self) -> set[str]:
        return saved_batch_ids(self.path.parent) if self.path.parent.is_dir() else set()

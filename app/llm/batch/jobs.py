"""A provider batch as this app keeps it: the submitted requests and their pairs, the job
saved to disk or to the database so that a batch is resumed after a restart (never submitted
twice), and the summary of what a fetched batch gave.

``custom_id`` of a request is its pair id, or its pair ids joined by ``__`` for a bundle, when
that is a valid id for both providers (``[A-Za-z0-9_-]``, at most 64 characters, unique);
otherwise ``req-<index>-<hash>``. The job keeps the pair ids of every request, so results are
never mapped back by parsing the id.

A :class:`BatchIntent` is written before the provider is asked to create a batch, so that a
batch created by a process that died before saving its job is found again and adopted (see
:func:`app.llm.batch.runner.find_submitted`) instead of being paid for twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.llm.dispatcher import PairOutcome
from app.llm.packing import pack_all
from app.llm.types import PairTask, ProviderKind, Usage
from core.prompt import MAX_BUNDLE_PAIRS, PROMPT_VERSION

BatchStatus = Literal[
    "validating",
    "in_progress",
    "finalizing",
    "cancelling",
    "completed",
    "expired",
    "cancelled",
    "failed",
]
"""A batch's status in common terms (OpenAI's names; Anthropic's ``ended`` becomes completed,
expired or cancelled)."""

TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "expired", "cancelled", "failed"})
"""Statuses after which nothing changes: the results can be fetched."""

_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATE_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Persisted state
# ---------------------------------------------------------------------------------------------


class BatchRequest(BaseModel):
    """One request of a batch: its ``custom_id`` and the pairs it asks about, in the order sent
    (the order of the verdicts in a bundle's answer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    custom_id: str = Field(min_length=1)
    pair_ids: list[str] = Field(min_length=1, max_length=MAX_BUNDLE_PAIRS)


class BatchJob(BaseModel):
    """A submitted provider batch: enough to poll it, fetch it and map its results to pairs,
    after a restart too. Saved as JSON (:func:`save_state`); the app's database stores the same
    model.

    Attributes:
        provider_kind: ``openai``, ``openai_compatible`` or ``anthropic``.
        provider_name: the provider label the batch was submitted with.
        model: the model every request names.
        batch_id: the provider's batch id.
        input_file_id: the uploaded JSONL file (OpenAI), else None.
        requests: the submitted requests in order, with the pair ids of each.
        nonce: the essay-fence nonce of the prompts.
        prompt_version: the prompt template version of the requests.
        pairs_per_request: 1 (one pair per request) or the bundle size.
        submitted_at: when the batch was created (UTC).
        status: the last status seen (:data:`BatchStatus`).
        provider_status: the provider's own word for it (e.g. Anthropic ``ended``).
        request_counts: the provider's request counts, as last seen.
        output_file_id, error_file_id: OpenAI result files, once the batch has ended.
        error_message: why the batch as a whole failed, when it did.
        updated_at: when the status was last read.
        fetched_at: when the results were fetched (they may be fetched again).
    """

    model_config = ConfigDict(extra="forbid")

    version: int = _STATE_VERSION
    provider_kind: ProviderKind
    provider_name: str
    model: str
    batch_id: str
    input_file_id: str | None = None
    requests: list[BatchRequest]
    nonce: str
    prompt_version: str = PROMPT_VERSION
    pairs_per_request: int = Field(default=1, ge=1, le=MAX_BUNDLE_PAIRS)
    submitted_at: datetime
    status: BatchStatus = "validating"
    provider_status: str = ""
    request_counts: dict[str, int] = Field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    error_message: str | None = None
    updated_at: datetime | None = None
    fetched_at: datetime | None = None

    @property
    def pair_ids(self) -> list[str]:
        """Every submitted pair id, in submission order."""
        return [pid for request in self.requests for pid in request.pair_ids]

    @property
    def ended(self) -> bool:
        """Whether the batch has reached a final status."""
        return self.status in TERMINAL_STATUSES

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write this job to ``path`` as JSON (see :func:`save_state`)."""
        save_state(self, path)

    @classmethod
    def load_state(cls, path: str | os.PathLike[str]) -> BatchJob:
        """Read a job written by :meth:`save_state` (see :func:`load_state`)."""
        return load_state(path)


def save_state(job: BatchJob, path: str | os.PathLike[str]) -> None:
    """Write ``job`` to ``path`` as JSON, atomically: a temporary file in the same folder is
    written, flushed to disk and renamed over ``path``, so a crash leaves the old state or the
    new one, never half of one."""
    _write_atomic(job.model_dump_json(indent=2), path)


def _write_atomic(data: str, path: str | os.PathLike[str]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_state(path: str | os.PathLike[str]) -> BatchJob:
    """Read a job written by :func:`save_state`.

    Raises:
        FileNotFoundError: when there is no file at ``path``.
        ValueError: when the file is not a saved batch job.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        return BatchJob.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"{path} is not a saved batch job: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Intent: a batch about to be created
# ---------------------------------------------------------------------------------------------

INTENT_SUFFIX = ".intent.json"
"""How the name of an intent file ends (see :func:`intent_path`)."""

WAVE_METADATA_KEY = "huleedu_wave"
"""OpenAI batch metadata: the wave key the batch was submitted for."""

SUBMISSION_METADATA_KEY = "huleedu_submission"
"""OpenAI batch metadata: the token of the intent the batch was created under."""


class BatchIntent(BaseModel):
    """A provider batch about to be created: everything its job will hold but the provider's
    batch id. Written (:func:`save_intent`) before the create call and removed once the job is
    saved, so that after a crash in between the batch is looked for and adopted, not created
    again.

    Attributes:
        wave_key: a stable key of what the batch is for (e.g. a run's wave), or None.
        token: random, new for every submission; OpenAI batches carry it in their metadata.
        created_at: when the intent was written (UTC), just before the create call.
        The rest as in :class:`BatchJob`.
    """

    model_config = ConfigDict(extra="forbid")

    version: int = _STATE_VERSION
    wave_key: str | None = None
    token: str = Field(default_factory=lambda: secrets.token_hex(12), min_length=8)
    provider_kind: ProviderKind
    provider_name: str
    model: str
    requests: list[BatchRequest] = Field(min_length=1)
    nonce: str
    prompt_version: str = PROMPT_VERSION
    pairs_per_request: int = Field(default=1, ge=1, le=MAX_BUNDLE_PAIRS)
    created_at: datetime

    @property
    def pair_ids(self) -> list[str]:
        """Every pair id to be submitted, in submission order."""
        return [pid for request in self.requests for pid in request.pair_ids]

    @property
    def custom_ids(self) -> list[str]:
        return [request.custom_id for request in self.requests]

    def metadata(self) -> dict[str, str]:
        """The metadata that marks an OpenAI batch as created under this intent."""
        tags = {SUBMISSION_METADATA_KEY: self.token}
        if self.wave_key is not None:
            tags[WAVE_METADATA_KEY] = self.wave_key
        return tags

    def marks(self, metadata: Mapping[str, object] | None) -> bool:
        """Whether a batch with ``metadata`` was created under this intent."""
        if not metadata:
            return False
        return all(metadata.get(key) == value for key, value in self.metadata().items())

    def job(self, batch_id: str, **fields: object) -> BatchJob:
        """The job of the batch created under this intent (status as given in ``fields``)."""
        return BatchJob.model_validate(
            {
                "provider_kind": self.provider_kind,
                "provider_name": self.provider_name,
                "model": self.model,
                "batch_id": batch_id,
                "requests": self.requests,
                "nonce": self.nonce,
                "prompt_version": self.prompt_version,
                "pairs_per_request": self.pairs_per_request,
                "submitted_at": self.created_at,
                **fields,
            }
        )


def intent_path(state_path: str | os.PathLike[str]) -> Path:
    """Where the intent of the batch saved at ``state_path`` is written: beside it, the
    ``.json`` suffix replaced by :data:`INTENT_SUFFIX`."""
    path = Path(state_path)
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(stem + INTENT_SUFFIX)


def save_intent(intent: BatchIntent, path: str | os.PathLike[str]) -> None:
    """Write ``intent`` to ``path`` as JSON, atomically (as :func:`save_state`)."""
    _write_atomic(intent.model_dump_json(indent=2), path)


def load_intent(path: str | os.PathLike[str]) -> BatchIntent:
    """Read an intent written by :func:`save_intent`.

    Raises:
        FileNotFoundError: when there is no file at ``path``.
        ValueError: when the file is not a saved intent.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        return BatchIntent.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"{path} is not a saved batch intent: {exc}") from exc


def saved_batch_ids(folder: str | os.PathLike[str]) -> set[str]:
    """The batch ids of the jobs saved as ``*.json`` in ``folder`` (other files are skipped)."""
    ids: set[str] = set()
    for item in sorted(Path(folder).glob("*.json")):
        if item.name.endswith(INTENT_SUFFIX):
            continue
        try:
            ids.add(load_state(item).batch_id)
        except (OSError, ValueError):
            continue
    return ids


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestUsage:
    """Tokens and batch-priced cost of one batch request (None: no price in the catalogue)."""

    custom_id: str
    pair_ids: tuple[str, ...]
    usage: Usage
    cost_usd: float | None


@dataclass
class BatchSummary:
    """What a fetched batch gave: one outcome per submitted pair, in submission order, and the
    tokens and cost of the requests that were answered."""

    job: BatchJob
    outcomes: list[PairOutcome] = field(default_factory=list)
    requests: list[RequestUsage] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    priced: bool = True
    """False when the model has no batch price in the catalogue (``cost_usd`` is then 0)."""

    @property
    def verdicts(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def failures(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    def failures_by_category(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            if outcome.category is not None:
                key = str(outcome.category)
                counts[key] = counts.get(key, 0) + 1
        return counts


ResultCallback = Callable[[PairOutcome], Awaitable[None] | None]


# ---------------------------------------------------------------------------------------------
# Requests of a batch
# ---------------------------------------------------------------------------------------------


def _custom_ids(groups: Sequence[Sequence[str]]) -> list[str]:
    ids = ["__".join(group) for group in groups]
    if all(_CUSTOM_ID.match(i) for i in ids) and len(set(ids)) == len(ids):
        return ids
    out = []
    for index, group in enumerate(groups):
        digest = hashlib.sha256("\x1f".join(group).encode("utf-8")).hexdigest()[:12]
        out.append(f"req-{index:06d}-{digest}")
    return out


def _group(pairs: Sequence[PairTask], pairs_per_request: int, seed: int) -> list[list[PairTask]]:
    order = list(pairs)
    if pairs_per_request > 1:
        # Bundles are drawn from a shuffled order so that no pair's place in a bundle is
        # systematic (the place is reported with each verdict).
        random.Random(seed).shuffle(order)
        # Pairs that share essays (planned as groups) stay in one request: app.llm.packing.
        return pack_all(order, pairs_per_request)
    return [[pair] for pair in order]

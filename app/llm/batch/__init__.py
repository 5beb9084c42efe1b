"""Provider batch mode: OpenAI Batch API and Anthropic Message Batches.

A provider batch judges many pairs at a discount (half price on both providers) in exchange for
waiting: results arrive within 24 hours. The life of a batch:

1. :func:`submit` builds one request per pair (or per bundle of up to 10 pairs) with the
   provider's own request builder (:meth:`~app.llm.providers.base.BaseProvider.build_batch_body`),
   then
   * OpenAI: uploads them as JSONL (``POST /files``, ``purpose=batch``) and creates the batch
     (``POST /batches``, endpoint ``/v1/chat/completions``, completion window ``24h``);
   * Anthropic: creates a message batch (``POST /messages/batches``).

   It returns a :class:`BatchJob`: everything needed to find the batch again and to map its
   results back to pairs. Save it (a :class:`JobStore`: :class:`FileJobStore`, or the app's
   database through :class:`app.runs.batch_store.DbJobStore`) before anything else: after a
   restart the batch is resumed from it, never submitted twice.
2. :func:`poll` reads the batch's status (``GET /batches/{id}``,
   ``GET /messages/batches/{id}``).
3. :func:`fetch` downloads the results once the batch has ended (OpenAI output and error files;
   Anthropic results JSONL) and reports **every submitted pair exactly once**: a verdict, read
   by the provider's own answer reader
   (:meth:`~app.llm.providers.base.BaseProvider.read_batch_answer`) so that a malformed answer
   never becomes a verdict, or a failure with its category. Items not processed because the
   batch expired fail with TIMEOUT ("batch expired"); because it was cancelled, with CANCELLED
   ("batch cancelled"); per-item errors keep the category of their status or error type.
4. :func:`cancel` asks the provider to stop; what was done before is still fetched.

:func:`run_batch` does all of it, resuming from a store (or a state file) when one is given
and holds a job. With a store it also saves an intent (:class:`BatchIntent`) before the batch is
created; a restart that finds the intent but no saved job looks for the batch the provider may
have created (:func:`find_submitted`: OpenAI by the token in the batch's ``metadata``,
Anthropic by creation time and number of requests) and adopts it instead of submitting again.
It reports every status poll (``on_poll``) and stops waiting, leaving the batch running at the
provider, when its cancel token is set. :func:`run_batch_summary` and :func:`fetch_summary` also
report tokens per request and the cost at the catalogue's batch price.

The package, by concern:

* :mod:`~app.llm.batch.jobs`: the saved job, its requests and the fetched summary;
* :mod:`~app.llm.batch.store`: where a job and its intent are kept (:class:`JobStore`);
* :mod:`~app.llm.batch.runner`: the steps above and the whole run, for either provider;
* :mod:`~app.llm.batch.openai_batches`, :mod:`~app.llm.batch.anthropic_batches`: each
  provider's wire format;
* :mod:`~app.llm.batch.outcomes`: results mapped back to pair outcomes;
* :mod:`~app.llm.batch.transport`: HTTP on the provider's client.
"""

from __future__ import annotations

from app.llm.batch.jobs import (
    TERMINAL_STATUSES,
    BatchIntent,
    BatchJob,
    BatchRequest,
    BatchStatus,
    BatchSummary,
    RequestUsage,
    ResultCallback,
    intent_path,
    load_intent,
    load_state,
    save_intent,
    save_state,
)
from app.llm.batch.openai_batches import COMPLETION_WINDOW, OPENAI_BATCH_ENDPOINT
from app.llm.batch.outcomes import CANCELLED_MESSAGE, EXPIRED_MESSAGE
from app.llm.batch.runner import (
    PollCallback,
    cancel,
    fetch,
    fetch_summary,
    find_submitted,
    poll,
    run_batch,
    run_batch_summary,
    submit,
)
from app.llm.batch.store import FileJobStore, JobStore

__all__ = [
    "CANCELLED_MESSAGE",
    "COMPLETION_WINDOW",
    "EXPIRED_MESSAGE",
    "OPENAI_BATCH_ENDPOINT",
    "TERMINAL_STATUSES",
    "BatchIntent",
    "BatchJob",
    "BatchRequest",
    "BatchStatus",
    "BatchSummary",
    "FileJobStore",
    "JobStore",
    "PollCallback",
    "RequestUsage",
    "ResultCallback",
    "cancel",
    "fetch",
    "fetch_summary",
    "find_submitted",
    "intent_path",
    "load_intent",
    "load_state",
    "poll",
    "run_batch",
    "run_batch_summary",
    "save_intent",
    "save_state",
    "submit",
]

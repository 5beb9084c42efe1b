"""What a run will cost and take, before anything is sent: the ``estimate`` operation.

From the dated price catalogue and the prompts the judge would really get (see
:mod:`app.llm.estimate`), for a run's whole budget. A model the catalogue does not list has no
price: the estimate says so rather than guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Batch, Essay, live
from app.llm.catalogue import default_catalogue
from app.llm.estimate import Estimate, estimate_run
from app.operations.base import FailureKind, OperationError
from app.runs.settings import RunSettings
from core.engine import default_wave_size
from core.prompt import AssignmentContext

#: Mean latency of one simulated call at speed 1 (recorded gpt-5.1 runs: ~1.6 s).
SIM_LATENCY_S = 1.6
#: Mean latency assumed for a real provider's call.
PROVIDER_LATENCY_S = 2.0


@dataclass(frozen=True)
class RunEstimate:
    """The estimate for a run's whole budget; ``estimate`` None when the model has no price."""

    model: str
    budget: int
    estimate: Estimate | None
    catalogue_date: str
    simulated: bool

    def sentence(self) -> str:
        """One line a teacher reads before pressing Run."""
        if self.estimate is None:
            return f"Estimate: {self.model} is not in the price catalogue; cost unknown."
        e = self.estimate
        took = f"{e.seconds / 60.0:.0f} min" if e.seconds >= 90 else f"{e.seconds:.0f} s"
        return (
            f"Estimate before the run: at most {self.budget} comparisons in {e.calls} calls, "
            f"about ${e.cost_usd:.3f}"
            + (" at simulated prices" if self.simulated else "")
            + f", {took} (catalogue of {self.catalogue_date}); the run stops earlier once "
            "reliable."
        )


def estimate_texts(
    settings: RunSettings, context: AssignmentContext, texts: Sequence[str]
) -> RunEstimate:
    """Estimate a run with ``settings`` over essays with these ``texts``."""
    catalogue = default_catalogue()  # the bundled catalogue with the user's models over it
    simulated = settings.provider == "sim"
    if catalogue.find(settings.model) is None or not texts:
        return RunEstimate(settings.model, settings.budget, None, str(catalogue.as_of), simulated)
    estimate = estimate_run(
        catalogue,
        settings.model,
        context,
        list(texts),
        settings.budget,
        pairs_per_call=1 if settings.mode == "per_request" else settings.bundle_size,
        concurrency=min(settings.concurrency, default_wave_size(len(texts))),
        mean_latency_s=SIM_LATENCY_S / settings.sim_speed if simulated else PROVIDER_LATENCY_S,
        provider_batch=settings.mode == "provider_batch",
    )
    return RunEstimate(settings.model, settings.budget, estimate, str(catalogue.as_of), simulated)


def estimate_batch(db: Database, batch_id: str, settings: RunSettings) -> RunEstimate:
    """Estimate a run with ``settings`` over a stored batch (its essays and anchors)."""
    with db.read() as s:
        batch = s.get(Batch, batch_id)
        if batch is None or batch.deleted_at is not None:
            raise OperationError(FailureKind.INPUT, f"There is no batch {batch_id}.")
        a = batch.assignment
        context = AssignmentContext(
            a.title, a.student_prompt, a.assessment_criteria, a.judge_rubric
        )
        texts = list(s.scalars(select(Essay.text).where(live(Essay), Essay.batch_id == batch_id)))
    return estimate_texts(settings, context, texts)

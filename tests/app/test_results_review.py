"""A run with an essay addressed to the grader: the finaliser stores its grade at most "medium",
the results read model marks it for review with what was taken out, the others are untouched."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from app.db.engine import open_database
from app.db.models import Essay, Result
from app.demo import load_demo
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.operations.results import batch_results
from app.operations.runs import screen_for_injection
from app.runs.batches import TextItem, create_batch
from app.runs.orchestrator import Orchestrator, RunSettings
from app.simserver import running_server
from core.injection import REVIEW_NOTE, review_confidence

HIDDEN = "<!-- hello grader -->"


async def _graded(tmp_path: Path, flagged: str) -> tuple[dict[str, str | None], str, Path]:
    demo = load_demo()
    db = open_database(path=tmp_path / f"{flagged or 'clean'}.sqlite3")
    essays = [
        TextItem(i.name, i.text + ("\n" + HIDDEN if i.name == flagged else ""))
        for i in demo.items
        if i.grade is None
    ]
    anchors = [TextItem(i.name, i.text, i.grade, i.label) for i in demo.items if i.grade]
    batch = create_batch(db, "Demo", demo.context, demo.scale_id, essays, anchors)
    screen_for_injection(db, batch)
    settings = RunSettings(budget=200, target_reliability=0.99, min_comparisons_per_essay=6, seed=0)
    run_id = Orchestrator(db, None).create_run(batch, settings)  # type: ignore[arg-type]
    async with running_server("generic", speed=1000.0, seed=0) as url:
        provider = make_provider(
            ProviderConfig(
                kind="openai_compatible",
                model="sim-generic",
                base_url=url + "/v1",
                api_key=SecretStr("sim"),
            )
        )
        try:
            await Orchestrator(db, Dispatcher(provider, DispatchSettings(bundle_size=4))).run(
                run_id
            )
        finally:
            await provider.aclose()
    with db.session() as s:
        stored = {
            e.source_file or "": r.confidence
            for r, e in s.execute(select(Result, Essay).join(Essay, Essay.id == Result.essay_id))
        }
    results = batch_results(db, batch)
    assert results is not None
    lines = {line.file: line for line in results.lines}
    if flagged:
        line = lines[flagged]
        assert line.review == REVIEW_NOTE
        assert line.addressed_to_grader == (HIDDEN,)
        assert line.confidence == stored[flagged]
        row = next(r for r in results.export_rows() if r.file == flagged)
        assert row.review == REVIEW_NOTE and row.addressed_to_grader_text == HIDDEN
    assert sum(bool(line.review) for line in lines.values()) == (1 if flagged else 0)
    db.close()
    return stored, batch, tmp_path


async def test_a_flagged_essay_is_never_stored_with_high_confidence(tmp_path: Path) -> None:
    clean, _, _ = await _graded(tmp_path, "")
    students = {i.name for i in load_demo().items if i.grade is None}
    confident = sorted(name for name, c in clean.items() if c == "high" and name in students)
    assert confident, "some student essays are graded with high confidence when clean"
    strong = confident[0]
    flagged, _, _ = await _graded(tmp_path, strong)
    assert flagged[strong] in {"medium", "low"}  # was high when clean; capped (runs vary)
    assert "high" in {c for name, c in flagged.items() if name != strong}


def test_review_confidence() -> None:
    assert review_confidence("high", True) == "medium"
    assert review_confidence("medium", True) == "medium"
    assert review_confidence("low", True) == "low"
    assert review_confidence(None, True) is None
    assert review_confidence("high", False) == "high"

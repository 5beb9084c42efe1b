"""The estimate operation: a price for catalogued models, an honest "unknown" otherwise."""

from __future__ import annotations

from pathlib import Path

from app.db.engine import open_database
from app.operations.estimate import estimate_batch
from app.operations.runs import FolderRunRequest, prepare_folder_run, settings_for
from app.paths import resources_dir

DEMO = resources_dir() / "demo"


def test_a_stored_batch_is_estimated_for_its_whole_budget(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data")
    try:
        prepared = prepare_folder_run(
            db, FolderRunRequest([DEMO / "essays"], anchors=DEMO / "anchors"), {"budget": 40}
        )
        per_pair = estimate_batch(db, prepared.batch_id, settings_for(22, mode="per_request"))
        bundled = estimate_batch(db, prepared.batch_id, settings_for(22, bundle_size=4))
        assert per_pair.estimate is not None and bundled.estimate is not None
        assert per_pair.budget == 8 * 22 and per_pair.estimate.calls == 8 * 22
        assert bundled.estimate.calls == 44  # 176 pairs in bundles of 4
        assert 0 < bundled.estimate.cost_usd < per_pair.estimate.cost_usd
        assert "simulated prices" in bundled.sentence()
        unknown = estimate_batch(
            db,
            prepared.batch_id,
            settings_for(22, provider="openai_compatible", model="llama3.1", base_url="http://x"),
        )
        assert unknown.estimate is None and "not in the price catalogue" in unknown.sentence()
    finally:
        db.close()

"""Anchors that disagree with the judge are stated and bound confidence; no anchors, no grades
said why (issue 13, item 7)."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.db.engine import Database
from app.paths import resources_dir
from core.grading import AnchorObservation, GradingResult, grade_essays
from core.scales import get_scale

DEMO = resources_dir() / "demo"
ENG5 = get_scale("eng5_np_national_9_step")
# Four anchors at evenly spaced abilities whose known grades contradict the judge's order:
# before anchor trouble was checked, this fit collapsed its spread (s ≈ 0.04), graded every
# essay "0" or "9" and called 19 of 25 grades "high" confidence, without a word.
CONTRADICTING = [
    AnchorObservation(-2.0, 0.4, "2", "two"),
    AnchorObservation(-0.7, 0.4, "8", "eight"),
    AnchorObservation(0.7, 0.4, "1", "one"),
    AnchorObservation(2.0, 0.4, "9", "nine"),
]
ESSAYS = np.linspace(-3, 3, 25)


def _grade(anchors: list[AnchorObservation]) -> GradingResult:
    return grade_essays(ESSAYS, np.full(ESSAYS.size, 0.3), anchors, ENG5)


def test_the_issues_case_is_never_high_confidence_and_names_the_anchors() -> None:
    result = _grade(CONTRADICTING)
    ends = sum(e.grade in {"0", "9"} for e in result.essays)
    assert ends >= 20  # the fit is still nonsense...
    assert all(e.confidence == "low" for e in result.essays)  # ...but says so
    assert all(e.anchor_affected for e in result.essays)
    trouble = result.anchor_trouble
    assert trouble is not None and trouble.calibration_fails
    assert trouble.likelihood_z < -2.33
    assert set(trouble.disagreeing) == {"two", "eight", "one"}
    assert "disagree" in trouble.sentence() and "eight" in trouble.sentence()
    assert [a.disagrees for a in result.anchors] == [True, True, True, False]


def test_reversed_anchors_fail_the_calibration_on_kendall_tau() -> None:
    reversed_ = [
        AnchorObservation(a, 0.4, g, g) for a, g in zip((-2, -0.7, 0.7, 2), "9631", strict=True)
    ]
    result = _grade(reversed_)
    assert result.anchor_kendall_tau == -1.0
    assert result.anchor_trouble is not None and result.anchor_trouble.calibration_fails
    assert "do not rise" in result.anchor_trouble.sentence()


def test_one_inverted_pair_bounds_only_the_grades_between_them() -> None:
    anchors = [
        AnchorObservation(a, 0.1, g, f"A{g}")
        for a, g in zip((-2, -0.7, 0.7, 2), "1324", strict=True)
    ]
    result = _grade(anchors)
    trouble = result.anchor_trouble
    assert trouble is not None and not trouble.calibration_fails
    assert trouble.disagreeing == ("A3", "A2") and trouble.disputed == {2, 3}
    for essay in result.essays:
        assert essay.anchor_affected == (essay.grade in {"2", "3"})
        if essay.anchor_affected:
            assert essay.confidence != "high"


def test_anchors_that_agree_change_nothing() -> None:
    anchors = [
        AnchorObservation(a, 0.1, g, g) for a, g in zip((-2, -0.7, 0.7, 2), "1234", strict=True)
    ]
    result = _grade(anchors)
    assert result.anchor_trouble is not None and not result.anchor_trouble.troubled
    assert result.anchor_trouble.sentence() == ""
    assert not any(e.anchor_affected for e in result.essays)
    assert Counter(e.confidence for e in result.essays)["high"] > 0


def _grade_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    args = ["grade", str(DEMO / "essays"), "--data-dir", str(tmp_path / "data")]
    args += ["--out", str(tmp_path / "out"), "--quiet", "--sim-speed", "1000", *extra]
    assert main(args) == 0
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    data = json.loads((folder / "results.json").read_text("utf-8"))
    return data, re.sub(r"\s+", " ", capsys.readouterr().err)


def test_grade_says_which_anchors_disagree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    # The demo's anchors, from weakest to strongest, given grades that run the other way.
    for name in "EDBA":
        shutil.copy(DEMO / "anchors" / f"anchor_{name}.txt", anchors / f"anchor_{name}.txt")
    (anchors / "anchors.csv").write_text(
        "file,grade,label\n"
        + "".join(f"anchor_{n}.txt,{g},Anchor {n}\n" for n, g in zip("EDBA", "9821", strict=True)),
        encoding="utf-8",
    )
    data, err = _grade_cli(
        tmp_path, capsys, "--anchors", str(anchors), "--scale", "eng5_np_national_9_step"
    )
    status = data["run"]["anchors"]
    assert status["state"] == "fails", status
    assert status["kendall_tau"] < 0
    assert set(status["disagreeing"]) >= {"Anchor E", "Anchor A"}
    assert "disagree with the judge" in err and "Anchor E" in err
    assert all(row["confidence"] != "high" for row in data["results"])


def test_grade_without_anchors_says_grades_need_anchors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, err = _grade_cli(tmp_path, capsys)
    assert all(row["grade"] is None for row in data["results"])
    status = data["run"]["anchors"]
    assert status["state"] == "none"
    assert "grades need anchors" in status["message"]
    assert "huleedu import anchors" in err and "--anchors" in err


def test_the_window_says_which_anchors_disagree_and_that_grades_need_anchors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qapp: object
) -> None:
    from app.db.engine import open_database  # noqa: PLC0415
    from app.operations.results import batch_results  # noqa: PLC0415
    from ui.results import detail_sentence  # noqa: PLC0415

    anchors = tmp_path / "anchors"
    anchors.mkdir()
    for name in "EDBA":
        shutil.copy(DEMO / "anchors" / f"anchor_{name}.txt", anchors / f"anchor_{name}.txt")
    (anchors / "anchors.csv").write_text(
        "file,grade,label\n"
        + "".join(f"anchor_{n}.txt,{g},Anchor {n}\n" for n, g in zip("EDBA", "9821", strict=True)),
        encoding="utf-8",
    )
    _grade_cli(tmp_path, capsys, "--anchors", str(anchors), "--scale", "eng5_np_national_9_step")
    with open_database(tmp_path / "data") as db:
        (batch_id,) = _batches(db)
        results = batch_results(db, batch_id)
    assert results is not None and results.anchors.state == "fails"
    assert results.summary()["anchors"]["state"] == "fails"
    text = detail_sentence(results)
    assert "disagree with the judge" in text and "Anchor E" in text

    plain = tmp_path / "plain"
    plain.mkdir()
    _grade_cli(plain, capsys)
    with open_database(plain / "data") as db:
        (batch_id,) = _batches(db)
        results = batch_results(db, batch_id)
    assert results is not None and results.anchors.state == "none"
    assert "Add anchors" in detail_sentence(results)


def _batches(db: Database) -> set[str]:
    from app.db.models import Run  # noqa: PLC0415

    with db.read() as s:
        return {run.batch_id for run in s.query(Run).all()}

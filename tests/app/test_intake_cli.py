"""`huleedu import` and `huleedu match` headless, up to grading a class batch."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.db.engine import open_database
from app.intake.essays import import_essays_async
from app.paths import resources_dir
from app.school import create_assignment, create_batch
from tests.app.intake_corpus import build_corpus

DEMO = resources_dir() / "demo"


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    capsys.readouterr()
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def test_check_only_reads_every_file_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HULEEDU_DATA_DIR", str(tmp_path / "data"))
    expected = build_corpus(tmp_path / "corpus")
    out = _json(capsys, ["import", "essays", str(tmp_path / "corpus"), "--json"], code=1)
    assert out["stored"] is False
    assert len(out["files"]) == len(expected)
    by_name = {f["source"].split("/", 1)[1]: f for f in out["files"]}
    for name, want in expected.items():
        assert by_name[name]["outcome"] == want.outcome.value, name
        assert by_name[name]["reason"] == (want.reason.value if want.reason else None), name
    assert not (tmp_path / "data").exists()


def test_a_class_batch_from_roster_to_grades(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    roster = _json(
        capsys,
        ["import", "roster", str(DEMO / "roster.csv"), "--new-class", "9A", "--json", *data],
    )
    assert roster["counts"] == {"imported": 18, "skipped": 0, "failed": 0}
    anchors = _json(
        capsys,
        [
            "import",
            "anchors",
            str(DEMO / "anchors"),
            "--assignment-title",
            "Phones",
            "--grades",
            str(DEMO / "anchors" / "anchors.csv"),
            "--json",
            *data,
        ],
    )
    assert anchors["counts"] == {"imported": 6, "skipped": 0, "failed": 0}
    essays = tmp_path / "in"
    essays.mkdir()
    for f in sorted((DEMO / "essays").iterdir()):
        (essays / f.name).write_bytes(f.read_bytes())
    # one essay whose file name says nothing: it must wait for a person
    (essays / "william_andersson.txt").rename(essays / "andersson.txt")
    batch = _json(
        capsys,
        [
            "import",
            "essays",
            str(essays),
            "--new-batch",
            "Phones 9A",
            "--class",
            "9A",
            "--assignment",
            anchors["assignment_id"],
            "--json",
            *data,
        ],
    )
    assert batch["counts"] == {"imported": 16, "skipped": 0, "failed": 0}
    assert batch["auto_matched"] == 15 and batch["awaiting_confirmation"] == 1
    assert batch["batch_status"] == "awaiting_student_confirmation"
    batch_id = batch["batch_id"]

    out_dir = tmp_path / "out"
    grade = ["grade", "--batch", batch_id, "--out", str(out_dir), "--quiet", *data]
    assert main(grade) == 1  # a class batch is not graded before every student is settled

    overview = _json(capsys, ["match", batch_id, "--json", *data])
    (waiting,) = overview["waiting"]
    essay = next(e for e in overview["essays"] if e["essay_id"] == waiting)
    names = [s["name"] for s in essay["suggestions"]]
    assert "William Andersson" in names and "Åsa Andersson" in names
    william = next(s for s in essay["suggestions"] if s["name"] == "William Andersson")
    settled = _json(
        capsys,
        ["match", batch_id, "--confirm", f"{waiting}={william['student_id']}", "--json", *data],
    )
    assert settled["waiting"] == []
    assert {s["name"] for s in settled["students_without_essay"]} == {
        "Åsa Andersson",
        "Vilma Öhman",
    }

    assert main(grade) == 0
    (results,) = out_dir.glob("**/results.csv")  # OUT/results.csv or OUT/RUN_ID/results.csv
    with results.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 22
    students = {r["student"] for r in rows if r["is_anchor"] == "False"}
    assert "William Andersson" in students and "Nora Wikström" in students
    assert {r["student_code"] for r in rows if r["student"] == "Nora Wikström"} == {"WINO0912"}


def test_usage_errors_have_their_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    f = tmp_path / "a.txt"
    f.write_text("Ett kort men giltigt försök att skriva en uppsats om hösten och äpplen.", "utf-8")
    assert main(["import", "essays", str(f), "--batch", "no-such-batch", *data]) == 2
    headerless = tmp_path / "list.csv"
    headerless.write_text("Anna;Andersson\nErik;Berg\n", "utf-8")
    assert main(["import", "roster", str(headerless), "--new-class", "9B", *data]) == 2
    assert _json(capsys, ["list", "classes", "--json", *data]) == []  # no class was created
    assert main(["import", "roster", str(headerless), *data]) == 2  # neither class option
    assert main(["match", "no-such-batch", *data]) == 2


async def test_the_async_import_leaves_the_event_loop_free(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(40):
        (folder / f"e{i}.txt").write_text(f"Uppsats {i}. " + "Hösten kom tidigt. " * 40, "utf-8")
    with open_database(tmp_path / "data") as db:
        batch = create_batch(db, "B", create_assignment(db, "A", "swedish_8_anchor"), None)
        ticks = 0
        done = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.create_task(tick())
        report = await import_essays_async(db, batch, [folder])
        done.set()
        await ticker
    assert report.counts["imported"] == 40
    assert ticks >= 2  # a blocking import would have let the ticker run at most once, after it


def test_list_shows_the_ids_and_the_kept_outcomes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["import", "roster", str(DEMO / "roster.csv"), "--new-class", "9A", *data]) == 0
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "alva_nordin.txt").write_bytes((DEMO / "essays" / "alva_nordin.txt").read_bytes())
    (folder / "kort.txt").write_text("För kort.", "utf-8")
    imported = _json(
        capsys,
        [
            "import",
            "essays",
            str(folder),
            "--new-batch",
            "Prov",
            "--assignment-title",
            "Prov",
            "--class",
            "9A",
            "--json",
            *data,
        ],
        code=1,
    )
    (klass,) = _json(capsys, ["list", "classes", "--json", *data])
    assert (klass["name"], klass["students"]) == ("9A", 18)
    students = _json(capsys, ["list", "students", "9A", "--json", *data])
    assert {"Vilma", "Åsa"} <= {s["first_name"] for s in students}
    (batch,) = _json(capsys, ["list", "batches", "--json", *data])
    assert (batch["id"], batch["essays"], batch["status"]) == (imported["batch_id"], 1, "ready")
    (assignment,) = _json(capsys, ["list", "assignments", "--json", *data])
    assert assignment["title"] == "Prov"
    intake = _json(capsys, ["list", "intake", batch["id"], "--json", *data])
    assert sorted((r["source"], r["outcome"], r["reason"]) for r in intake) == [
        ("in/alva_nordin.txt", "imported", None),
        ("in/kort.txt", "failed", "too_short"),
    ]
    anchors_kept = _json(capsys, ["list", "intake", assignment["id"], "--json", *data])
    assert anchors_kept == []  # no anchors were offered to this assignment
    rows = _json(capsys, ["list", "intake", "9A", "--json", *data])
    assert len(rows) == 18 and rows[0]["source"] == "roster.csv row 2"
    assert {r["outcome"] for r in rows} == {"imported"}
    assert main(["list", "intake", "no-such-batch", *data]) == 2


def test_file_names_with_brackets_are_shown_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "essay [final].txt").write_text("Hösten kom tidigt i år. " * 5, "utf-8")
    (tmp_path / "kort [b].txt").write_text("Kort.", "utf-8")
    assert main(["import", "essays", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "essay [final].txt" in out and "kort [b].txt" in out

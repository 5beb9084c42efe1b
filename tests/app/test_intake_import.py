"""Importing essays, rosters and anchors into the database: outcomes, matching, decisions kept."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.engine import Database, open_database
from app.db.models import (
    Batch,
    BatchStatus,
    Essay,
    IntakeRecord,
    MatchSuggestion,
    Run,
    RunStatus,
    Student,
)
from app.intake.anchors import grade_from_name, import_anchors
from app.intake.essays import IntakeError, import_essays, intake_history, remove_essays
from app.intake.matching_store import (
    MatchError,
    accept_top_suggestions,
    confirm_student,
    match_overview,
    unconfirm,
)
from app.intake.outcomes import IntakeLimits, Outcome, Reason
from app.intake.roster_store import import_roster, roster_history
from app.runs.orchestrator import Orchestrator, RunSettings
from app.school import create_assignment, create_batch, create_class
from core.scales import get_scale
from tests.app.intake_corpus import ESSAYS, build_corpus

ROSTER = (
    "Förnamn;Efternamn;Elevkod;E-post\n"
    "Anna;Andersson;ANAN0001;anna.andersson@skolan.se\n"
    "Erik;Andersson;ERAN0002;erik.andersson@skolan.se\n"
    "Åsa;Öberg;ASOB0003;\n"
    "Lars;Lind;LALI0004;\n"
    "Maja;Sjöström;MASJ0005;\n"
)


def _essay(title: str, n: int = 4) -> str:
    body = " ".join(
        f"Mening {i} om hösten, älgarna och sjöarna i {title.lower()}." for i in range(n * 3)
    )
    return f"{title}\n\n{body}"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_database(tmp_path / "data") as database:
        yield database


@pytest.fixture
def guest_batch(db: Database) -> str:
    assignment = create_assignment(db, "Hösten", "swedish_8_anchor")
    return create_batch(db, "Hösten 9B", assignment, None)


@pytest.fixture
def class_batch(db: Database, tmp_path: Path) -> tuple[str, str]:
    class_id = create_class(db, "9A", "ENG5", "2026/27")
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER.encode("cp1252"))
    import_roster(db, class_id, roster)
    assignment = create_assignment(db, "Hösten", "swedish_8_anchor")
    return class_id, create_batch(db, "Hösten 9A", assignment, class_id)


def _students(db: Database) -> dict[str, str]:
    with db.session() as s:
        return {st.full_name: st.id for st in s.scalars(select(Student))}


# --------------------------------------------------------------------------- files


def test_every_file_of_the_corpus_ends_in_its_expected_outcome(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    root = tmp_path / "corpus"
    expected = build_corpus(root)
    report = import_essays(db, guest_batch, [root])

    got = {o.source.removeprefix("corpus/"): o for o in report.outcomes}
    assert set(got) == set(expected)
    for name, want in expected.items():
        o = got[name]
        assert (o.outcome, o.reason) == (want.outcome, want.reason), (name, o.message)
        if o.outcome is not Outcome.IMPORTED:
            assert name.rsplit("/", 1)[-1] in o.message or o.reason is Reason.UNSAFE_ARCHIVE
    with db.session() as s:
        stored = {e.source_file: e.text for e in s.scalars(select(Essay))}
    for name, want in expected.items():
        if want.outcome is Outcome.IMPORTED:
            assert stored[f"corpus/{name}"] == want.text, name  # Swedish letters included
    assert len(stored) == sum(w.outcome is Outcome.IMPORTED for w in expected.values())
    assert report.counts["imported"] == len(stored)
    assert report.batch_status == BatchStatus.READY.value


def test_failure_messages_name_the_file_and_the_numbers(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    short = tmp_path / "kort.txt"
    short.write_text("Tolv tecken.", encoding="utf-8")
    report = import_essays(db, guest_batch, [short], IntakeLimits(min_chars=50))
    (o,) = report.outcomes
    assert o.reason is Reason.TOO_SHORT
    assert o.message == (
        f"File '{short}' content is too short (minimum: 50, actual: 12 characters)."
    )


def test_outcomes_are_kept_with_the_batch(db: Database, guest_batch: str, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    build_corpus(root)
    report = import_essays(db, guest_batch, [root])
    history = intake_history(db, guest_batch)
    assert sorted((o.source, o.outcome, o.reason) for o in history) == sorted(
        (o.source, o.outcome, o.reason) for o in report.outcomes
    )


def test_importing_again_skips_every_essay_as_a_duplicate(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    folder = tmp_path / "essays"
    folder.mkdir()
    for i in range(3):
        (folder / f"e{i}.txt").write_text(_essay(f"Uppsats {i}"), encoding="utf-8")
    import_essays(db, guest_batch, [folder])
    (folder / "e1.txt").write_text(_essay("Uppsats 1") + "\r\n\r\n  ", encoding="utf-8")
    again = import_essays(db, guest_batch, [folder])
    assert [(o.outcome, o.reason) for o in again.outcomes] == [
        (Outcome.SKIPPED, Reason.DUPLICATE)
    ] * 3
    assert again.outcomes[1].duplicate_of == "essays/e1.txt"
    with db.session() as s:
        assert len(list(s.scalars(select(Essay)))) == 3
        assert len(list(s.scalars(select(IntakeRecord)))) == 6


def test_an_interrupted_import_keeps_what_it_stored(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    folder = tmp_path / "essays"
    folder.mkdir()
    for i in range(60):
        (folder / f"e{i:02d}.txt").write_text(_essay(f"Uppsats {i}"), encoding="utf-8")
    seen: list[str] = []

    def crash_after_thirty(outcome: object) -> None:
        seen.append(str(outcome))
        if len(seen) == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_essays(db, guest_batch, [folder], progress=crash_after_thirty)
    with db.session() as s:
        kept = len(list(s.scalars(select(Essay))))
    assert 25 <= kept < 60  # whole groups were committed before the interruption
    report = import_essays(db, guest_batch, [folder])
    assert report.counts == {"imported": 60 - kept, "skipped": kept, "failed": 0}
    with db.session() as s:
        assert len(list(s.scalars(select(Essay)))) == 60


def test_a_batch_with_a_run_in_progress_refuses_new_essays(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    with db.session() as s:
        s.get_one(Batch, guest_batch).status = BatchStatus.PROCESSING.value
    f = tmp_path / "a.txt"
    f.write_text(_essay("A"), encoding="utf-8")
    with pytest.raises(IntakeError, match="run in progress"):
        import_essays(db, guest_batch, [f])
    with pytest.raises(IntakeError, match="no batch"):
        import_essays(db, "no-such-batch", [f])


# --------------------------------------------------------------------------- students


def _class_files(folder: Path) -> None:
    folder.mkdir()
    files = {
        # the exam-export pattern: code, points, (class and test)
        "ANAN0001 50 (SA24D ENG 5 WRITING 2025).txt": _essay("Min sommar"),
        "Lind, Lars - uppsats.docx.txt": _essay("Vintern"),
        "andersson.txt": _essay("Skogen"),  # two Anderssons: a person decides
        "inlämning 7.txt": "Namn: Åsa Öberg\n\n" + _essay("Havet"),
        "okänd.txt": _essay("Staden"),  # a title, no name anywhere
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def test_class_batch_matches_sure_students_and_waits_for_the_rest(
    db: Database, class_batch: tuple[str, str], tmp_path: Path
) -> None:
    _, batch = class_batch
    _class_files(tmp_path / "in")
    report = import_essays(db, batch, [tmp_path / "in"])
    ids = _students(db)
    assert report.batch_status == BatchStatus.AWAITING_STUDENT_CONFIRMATION.value

    overview = match_overview(db, batch)
    by_file = {e.source_file.rsplit("/", 1)[-1]: e for e in overview.essays if e.source_file}
    exam = by_file["ANAN0001 50 (SA24D ENG 5 WRITING 2025).txt"]
    assert (exam.student_id, exam.confirmed, exam.match_source) == (
        ids["Anna Andersson"],
        True,
        "auto",
    )
    assert by_file["Lind, Lars - uppsats.docx.txt"].student_id == ids["Lars Lind"]
    assert by_file["inlämning 7.txt"].student_id == ids["Åsa Öberg"]
    andersson = by_file["andersson.txt"]
    assert not andersson.confirmed and andersson.student_id is None
    assert {s.student_id for s in andersson.suggestions} >= {ids["Erik Andersson"]}
    assert len(andersson.suggestions) <= 3
    unknown = by_file["okänd.txt"]
    assert not unknown.confirmed and unknown.suggestions == []
    assert {e.source_file for e in overview.waiting} == {
        "in/andersson.txt",
        "in/okänd.txt",
    }
    assert {s.name for s in overview.students_without_essay} == {
        "Erik Andersson",
        "Maja Sjöström",
    }
    with db.session() as s:
        assert s.scalar(select(MatchSuggestion).limit(1)) is not None


def test_confirmations_and_reassignments_are_saved(
    db: Database, class_batch: tuple[str, str], tmp_path: Path
) -> None:
    _, batch = class_batch
    _class_files(tmp_path / "in")
    import_essays(db, batch, [tmp_path / "in"])
    ids = _students(db)
    essays = {e.source_file: e.essay_id for e in match_overview(db, batch).essays}

    confirm_student(db, essays["in/andersson.txt"], ids["Erik Andersson"])
    with pytest.raises(MatchError, match="already settled"):
        confirm_student(db, essays["in/okänd.txt"], ids["Erik Andersson"])
    confirm_student(db, essays["in/okänd.txt"], ids["Maja Sjöström"])
    # a reassignment: the teacher knows better than the file name
    confirm_student(db, essays["in/okänd.txt"], None)
    confirm_student(db, essays["in/okänd.txt"], ids["Maja Sjöström"])

    with db.session() as s:
        saved = s.get_one(Essay, essays["in/andersson.txt"])
        assert (saved.student_id, saved.match_confirmed, saved.match_source) == (
            ids["Erik Andersson"],
            True,
            "teacher",
        )
        assert saved.match_confirmed_at is not None
        assert s.get_one(Batch, batch).status == BatchStatus.READY.value
    overview = match_overview(db, batch)
    assert overview.waiting == [] and overview.students_without_essay == []

    unconfirm(db, essays["in/okänd.txt"])
    with db.session() as s:
        assert s.get_one(Batch, batch).status == BatchStatus.AWAITING_STUDENT_CONFIRMATION.value


async def test_a_class_batch_runs_only_after_every_student_is_settled(
    db: Database, class_batch: tuple[str, str], tmp_path: Path
) -> None:
    _, batch = class_batch
    _class_files(tmp_path / "in")
    import_essays(db, batch, [tmp_path / "in"])
    orchestrator = Orchestrator(db, None)  # type: ignore[arg-type]
    run_id = orchestrator.create_run(batch, RunSettings(budget=10))
    paused = asyncio.Event()
    paused.set()  # past the confirmation gate, the run pauses before it sends anything
    assert await orchestrator.run(run_id, stop=paused) == "awaiting_student_confirmation"
    ids = _students(db)
    essays = {e.source_file: e.essay_id for e in match_overview(db, batch).essays}
    confirm_student(db, essays["in/andersson.txt"], ids["Erik Andersson"])
    assert accept_top_suggestions(db, batch) == 0  # "okänd" has no suggestion
    confirm_student(db, essays["in/okänd.txt"], None)
    assert await orchestrator.run(run_id, stop=paused) == RunStatus.PAUSED.value
    with db.session() as s:
        assert s.get_one(Run, run_id).started_at is not None


def test_confirming_outside_the_roster_or_in_a_guest_batch_is_refused(
    db: Database, class_batch: tuple[str, str], guest_batch: str, tmp_path: Path
) -> None:
    _, batch = class_batch
    _class_files(tmp_path / "in")
    import_essays(db, batch, [tmp_path / "in"])
    essay = match_overview(db, batch).essays[0].essay_id
    with pytest.raises(MatchError, match="not in the batch's class"):
        confirm_student(db, essay, "someone-else")
    g = tmp_path / "g.txt"
    g.write_text(_essay("Gäst"), encoding="utf-8")
    report = import_essays(db, guest_batch, [g])
    with pytest.raises(MatchError, match="guest batch"):
        confirm_student(db, report.outcomes[0].essay_id or "", _students(db)["Lars Lind"])


def test_a_roster_imported_after_the_essays_matches_them(db: Database, tmp_path: Path) -> None:
    class_id = create_class(db, "9C", "ENG5", "2026/27")
    assignment = create_assignment(db, "Hösten", "swedish_8_anchor")
    batch = create_batch(db, "Hösten 9C", assignment, class_id)
    _class_files(tmp_path / "in")
    first = import_essays(db, batch, [tmp_path / "in"])
    assert first.auto_matched == 0  # nobody in the class yet
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER.encode("utf-8-sig"))
    report = import_roster(db, class_id, roster)
    assert report.counts["imported"] == 5
    overview = match_overview(db, batch)
    assert sum(e.confirmed for e in overview.essays) == 3


def test_roster_rows_already_in_the_class_are_skipped_and_shared_students_linked(
    db: Database, class_batch: tuple[str, str], tmp_path: Path
) -> None:
    class_id, _ = class_batch
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER.encode("cp1252"))
    again = import_roster(db, class_id, roster)
    assert [r.reason for r in again.rows] == ["already_in_class"] * 5
    kept = roster_history(db, class_id)
    assert len(kept) == 10  # both imports, every row
    assert [r["reason"] for r in kept[5:]] == ["already_in_class"] * 5
    other = create_class(db, "Engelska fördjupning", "ENG6", "2026/27")
    linked = import_roster(db, other, roster)
    assert (linked.added, linked.linked) == (0, 5)
    with db.session() as s:
        assert len(list(s.scalars(select(Student)))) == 5


# --------------------------------------------------------------------------- anchors


@pytest.mark.parametrize(
    ("name", "grade"),
    [
        ("C+ anchor 3.docx", "C+"),
        ("grade_B_2.txt", "B"),
        ("grade_b_2.txt", "B"),
        ("anchor (E).pdf", "E"),
        ("anchor_Cplus.txt", "C+"),
        ("D+ exempel.txt", "D+"),
        ("a_good_essay.txt", None),
        ("A och B.txt", ("B", "A")),
        ("betyg A och B.txt", "A"),
        ("anchor_e.txt", "E"),
    ],
)
def test_grade_from_file_name(name: str, grade: object) -> None:
    assert grade_from_name(name, get_scale("swedish_8_anchor")) == grade


@pytest.mark.parametrize(
    ("name", "grade"),
    [("grade_3_2.txt", "3"), ("betyg 7 ankare 2.docx", "7"), ("anchor 3.txt", None)],
)
def test_numeric_grades_need_the_word_grade(name: str, grade: str | None) -> None:
    assert grade_from_name(name, get_scale("eng5_np_national_9_step")) == grade


def test_anchor_folder_with_grades_in_names_and_a_mapping_file(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    with db.session() as s:
        assignment = s.get_one(Batch, guest_batch).assignment_id
    folder = tmp_path / "anchors"
    folder.mkdir()
    (folder / "C+ anchor 3.txt").write_text(_essay("Ankare C plus"), encoding="utf-8")
    (folder / "grade_B_2.txt").write_text(_essay("Ankare B"), encoding="cp1252")
    (folder / "grade_Q_1.txt").write_text(_essay("Ankare Q"), encoding="utf-8")
    (folder / "utan betyg.txt").write_text(_essay("Ankare utan"), encoding="utf-8")
    report = import_anchors(db, assignment, [folder])
    got = {o.source.rsplit("/", 1)[-1]: (o.outcome, o.reason, o.grade) for o in report.outcomes}
    assert got == {
        "C+ anchor 3.txt": (Outcome.IMPORTED, None, "C+"),
        "grade_B_2.txt": (Outcome.IMPORTED, None, "B"),
        "grade_Q_1.txt": (Outcome.FAILED, Reason.NO_GRADE, None),
        "utan betyg.txt": (Outcome.FAILED, Reason.NO_GRADE, None),
    }
    with db.session() as s:
        anchors = list(s.scalars(select(Essay).where(Essay.batch_id == guest_batch)))
        assert {e.anchor.grade for e in anchors if e.anchor} == {"C+", "B"}

    mapped = tmp_path / "mapped"
    mapped.mkdir()
    (mapped / "first.txt").write_text(_essay("Mappad E"), encoding="utf-8")
    (mapped / "second.txt").write_text(_essay("Mappad F"), encoding="utf-8")
    mapping = mapped / "grades.csv"
    mapping.write_text(
        "file;grade;label\nfirst.txt;E;E 2024\nsecond.txt;Q;Q?\nmissing.txt;A;\n", "utf-8"
    )
    report = import_anchors(db, assignment, [mapped], mapping)
    got = {o.source.rsplit("/", 1)[-1]: (o.outcome, o.reason, o.grade) for o in report.outcomes}
    assert got == {
        "first.txt": (Outcome.IMPORTED, None, "E"),
        "second.txt": (Outcome.FAILED, Reason.BAD_GRADE, "Q"),  # not on the scale
        "grades.csv: missing.txt": (Outcome.FAILED, Reason.NOT_FOUND, None),
    }


def test_imported_text_equals_the_source_for_swedish_text(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    text = ESSAYS["cp1252"]
    f = tmp_path / "latin.txt"
    f.write_bytes(text.replace("\n", "\r\n").encode("cp1252"))
    report = import_essays(db, guest_batch, [f])
    with db.session() as s:
        assert s.get_one(Essay, report.outcomes[0].essay_id).text == text
    assert all(c in text for c in "äöÅÖ")


def test_near_duplicate_names_are_two_students(db: Database, tmp_path: Path) -> None:
    class_id = create_class(db, "9D", "SV1", "2026/27")
    roster = tmp_path / "roster.csv"
    roster.write_text("Förnamn,Efternamn\nÅsa,Berg\nAsa,Berg\nAnna,Andersson\n", "utf-8")
    report = import_roster(db, class_id, roster)
    assert report.counts == {"imported": 3, "skipped": 0, "failed": 0}
    assert (report.added, report.linked) == (3, 0)


def test_a_removed_essay_imported_again_is_restored(
    db: Database, guest_batch: str, tmp_path: Path
) -> None:
    f = tmp_path / "a.txt"
    f.write_text(_essay("Tillbaka"), encoding="utf-8")
    first = import_essays(db, guest_batch, [f])
    with db.session() as s:
        s.get_one(Essay, first.outcomes[0].essay_id).soft_delete()
    again = import_essays(db, guest_batch, [f])
    assert again.outcomes[0].outcome is Outcome.IMPORTED
    assert again.outcomes[0].essay_id == first.outcomes[0].essay_id
    with db.session() as s:
        assert s.get_one(Essay, first.outcomes[0].essay_id).deleted_at is None


def test_removing_an_essay_frees_its_student_and_settles_the_batch(
    db: Database, class_batch: tuple[str, str], tmp_path: Path
) -> None:
    _, batch = class_batch
    _class_files(tmp_path / "in")
    import_essays(db, batch, [tmp_path / "in"])
    essays = {e.source_file: e.essay_id for e in match_overview(db, batch).essays}
    ids = _students(db)
    confirm_student(db, essays["in/andersson.txt"], ids["Erik Andersson"])
    # "okänd.txt" was a mistake: removing it leaves nothing waiting
    assert remove_essays(db, [essays["in/okänd.txt"]]) == 1
    assert remove_essays(db, [essays["in/okänd.txt"]]) == 0  # already removed
    overview = match_overview(db, batch)
    assert "in/okänd.txt" not in {e.source_file for e in overview.essays}
    with db.session() as s:
        assert s.get_one(Batch, batch).status == BatchStatus.READY.value
    with pytest.raises(IntakeError, match="no essay"):
        remove_essays(db, ["no-such-essay"])
    with db.session() as s:
        s.get_one(Batch, batch).status = BatchStatus.PROCESSING.value
    with pytest.raises(IntakeError, match="run in progress"):
        remove_essays(db, [essays["in/andersson.txt"]])

"""Match review read model: confidence words, first words, one read of a batch's matching."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db.engine import Database, open_database
from app.operations.base import OperationError
from app.operations.intake import import_essays, import_roster
from app.operations.matching import (
    Confidence,
    confidence_of,
    first_words,
    high_confidence_decisions,
    match_review,
)
from app.operations.school import NewAssignment, NewBatch, NewClass, create_batch

ROSTER = "Förnamn;Efternamn;Elevkod\nAnna;Andersson;ANAN0001\nErik;Berg;ERBE0002\n"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_database(tmp_path / "data") as database:
        yield database


def test_confidence_words_and_first_words() -> None:
    assert [confidence_of(s) for s in (1.0, 0.85, 0.84, 0.70, 0.65)] == [
        Confidence.HIGH,
        Confidence.HIGH,
        Confidence.MEDIUM,
        Confidence.MEDIUM,
        Confidence.LOW,
    ]
    assert first_words("one  two\nthree four", 3) == "one two three …"
    assert first_words("one two", 3) == "one two"


def test_a_review_reads_the_batch_roster_and_texts(db: Database, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, "utf-8")
    klass = import_roster(db, roster, NewClass("9A")).class_id
    folder = tmp_path / "essays"
    folder.mkdir()
    body = " ".join(f"Sentence {i} about the autumn." for i in range(12))
    (folder / "erik_bergg.txt").write_text("Autumn. " + body, "utf-8")
    (folder / "anna_andersson.txt").write_text("Spring. " + body, "utf-8")
    batch = import_essays(db, [folder], NewBatch("B", NewAssignment("A"), klass)).batch_id

    review = match_review(db, batch)
    assert not review.guest
    assert [s.full_name for s in review.roster] == ["Anna Andersson", "Erik Berg"]
    assert sorted(t.split(".")[0] for t in review.texts.values()) == ["Autumn", "Spring"]
    waiting = review.overview.waiting
    assert [e.source_file.rsplit("/", 1)[-1] for e in waiting if e.source_file] == [
        "erik_bergg.txt"
    ]
    decisions = high_confidence_decisions(review.overview)
    assert [d.essay_id for d in decisions] == [waiting[0].essay_id]


def test_a_guest_batch_and_an_unknown_batch(db: Database) -> None:
    guest = create_batch(db, NewBatch("G", NewAssignment("A"))).id
    review = match_review(db, guest)
    assert review.guest and review.roster == () and review.texts == {}
    with pytest.raises(OperationError):
        match_review(db, "nope")

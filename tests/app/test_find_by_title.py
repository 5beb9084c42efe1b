"""Batches and assignments are found by id or by a title no other one has."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db.engine import open_database
from app.operations.base import OperationError
from app.operations.school import (
    NewAssignment,
    NewBatch,
    create_assignment,
    create_batch,
    find_assignment,
    find_batch,
)


def test_titles_find_and_shared_titles_are_refused_with_the_ids(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    try:
        one = create_assignment(db, NewAssignment("Phones in school"))
        two = create_assignment(db, NewAssignment("Letters"))
        three = create_assignment(db, NewAssignment("letters "))
        assert find_assignment(db, " phones IN school").id == one.id
        assert find_assignment(db, two.id).id == two.id
        with pytest.raises(OperationError, match="2 assignments are called") as refused:
            find_assignment(db, "Letters")
        assert two.id in refused.value.message and three.id in refused.value.message
        with pytest.raises(OperationError, match="No assignment"):
            find_assignment(db, "Nothing like it")

        batch = create_batch(db, NewBatch("Phones 9A", one.id))
        assert find_batch(db, "phones 9a").id == batch.id
        assert find_batch(db, batch.id).id == batch.id
        create_batch(db, NewBatch("Phones 9A", two.id))
        with pytest.raises(OperationError, match="2 batches are called"):
            find_batch(db, "Phones 9A")
        with pytest.raises(OperationError, match="No batch"):
            find_batch(db, "Phones 9B")
    finally:
        db.close()

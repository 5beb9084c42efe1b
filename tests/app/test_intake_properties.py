"""Properties of intake over arbitrary bytes: one outcome per file, never an exception."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from app.intake.essays import screen_documents
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome
from app.intake.sources import Document, iter_documents

SUFFIXES = [".txt", ".md", ".docx", ".odt", ".rtf", ".pdf", ".zip", ".jpg", ""]

# Bytes that look like the start of real formats, so the parsers get past their first check.
PREFIXES = [b"", b"PK\x03\x04", b"%PDF-1.4\n", b"{\\rtf1\\ansi ", b"\xef\xbb\xbf", b"\xff\xfe"]

files = st.lists(
    st.tuples(
        st.sampled_from(SUFFIXES),
        st.sampled_from(PREFIXES),
        st.binary(max_size=600),
    ),
    min_size=1,
    max_size=6,
)


def _zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


@settings(max_examples=60, deadline=None)
@given(files=files)
def test_every_file_yields_exactly_one_item_and_nothing_raises(
    files: list[tuple[str, bytes, bytes]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        for i, (suffix, prefix, body) in enumerate(files):
            (root / f"f{i}{suffix}").write_bytes(prefix + body)
        items = list(iter_documents([root], IntakeLimits()))
    # every file other than an archive is exactly one item, under its own name; an archive is
    # one item (refused) or one per member
    names = [f"in/f{i}{suffix}" for i, (suffix, _, _) in enumerate(files)]
    plain = sorted(n for n in names if not n.endswith(".zip"))
    assert sorted(i.source for i in items if not i.source.split("/")[1].endswith(".zip")) == plain
    for name in names:
        if name.endswith(".zip"):
            assert any(i.source == name or i.source.startswith(name + "/") for i in items)
    assert all(isinstance(i, (Document, FileOutcome)) for i in items)


@settings(max_examples=40, deadline=None)
@given(
    members=st.lists(
        st.tuples(
            st.sampled_from(["a.txt", "b/c.txt", "../up.txt", "/abs.txt", "d.docx", ".h.txt"]),
            st.binary(max_size=300),
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda m: m[0],
    )
)
def test_archive_members_each_end_in_one_outcome(members: list[tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "in.zip"
        archive.write_bytes(_zip_of(members))
        screened = screen_documents([archive], IntakeLimits(min_chars=1))
    sources = [o.source for o, _ in screened]
    assert len(sources) == len(set(sources)) == len(members)
    for outcome, doc in screened:
        assert (doc is not None) == (outcome.outcome is Outcome.IMPORTED)
        if ".." in outcome.source or outcome.source.startswith(f"{archive}//"):
            assert outcome.outcome is Outcome.FAILED

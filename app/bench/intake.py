"""`huleedu bench intake`: importing essay files, against the bare extraction libraries.

The workload is ``files`` essays written at start-up, a third each .docx (python-docx), .pdf
(reportlab, a text layer) and .txt (UTF-8, Windows-1252 and UTF-16 in turn), 1,500–3,000
characters with Swedish letters.

* **bare**: for every file, only what the extraction library does: python-docx paragraphs,
  pypdf page texts, ``bytes.decode`` with the encoding known in advance.
* **ours**: :func:`app.intake.essays.import_essays` of the whole folder into a class batch of a
  fresh database with a 30-student roster: discovery, encoding detection, extraction (tables
  included), validation, duplicate hashing, student matching, storage and an outcome record per
  file.

Each side is timed ``repeats`` times in alternation and the fastest kept (the machine is noisy).
``intake_overhead_ratio`` = ours / bare. The JSON also says every file was imported.
"""

from __future__ import annotations

import io
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from app.db.engine import open_database
from app.db.models import ClassMembership, Student

_VOCABULARY = (
    "skolan läraren eleverna skriver uppsatser om hösten och vintern där snön faller över "
    "sjöarna medan barnen åker skridskor på isen och äter smörgåsar med ost samt dricker "
    "varm choklad i stugan när mörkret kommer tidigt och lamporna tänds i fönstren över hela "
    "byn så att alla känner sig trygga även när vinden blåser kallt från norr"
)
_WORDS = _VOCABULARY.split(" ")
_FIRST = ["Anna", "Erik", "Åsa", "Lars", "Maja", "Olof", "Saga", "Nils", "Elin", "Hugo"]
_LAST = ["Andersson", "Berg", "Öberg", "Lind", "Sjöström", "Ek", "Holm", "Nyström", "Dahl"]
_TXT_ENCODINGS = ("utf-8", "cp1252", "utf-16")


def _essay(rng: random.Random, i: int) -> str:
    paragraphs = []
    for _ in range(rng.randint(4, 7)):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(45, 80))]
        paragraphs.append(" ".join(words).capitalize() + ".")
    return f"Uppsats nummer {i}\n\n" + "\n\n".join(paragraphs)


def _write_docx(path: Path, text: str) -> None:
    from docx import Document  # noqa: PLC0415

    doc = Document()
    for para in text.split("\n\n"):
        doc.add_paragraph(para)
    doc.save(str(path))


def _write_pdf(path: Path, text: str) -> None:
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.pdfgen import canvas  # noqa: PLC0415

    pdf = canvas.Canvas(str(path), pagesize=A4)
    y = 800.0
    for para in text.split("\n\n"):
        words = para.split()
        while words:
            line: list[str] = []
            while words and len(" ".join([*line, words[0]])) < 85:
                line.append(words.pop(0))
            pdf.drawString(50, y, " ".join(line))
            y -= 14
            if y < 60:
                pdf.showPage()
                y = 800.0
        y -= 8
    pdf.save()


def write_workload(folder: Path, files: int, seed: int = 7) -> dict[Path, str | None]:
    """Write the essays; returns each file with its .txt encoding (None for docx/pdf)."""
    rng = random.Random(seed)
    written: dict[Path, str | None] = {}
    for i in range(files):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
        text = _essay(rng, i)
        kind = i % 3
        stem = f"{last}_{first}_{i:03d}"
        if kind == 0:
            path = folder / f"{stem}.docx"
            _write_docx(path, text)
            written[path] = None
        elif kind == 1:
            path = folder / f"{stem}.pdf"
            _write_pdf(path, text)
            written[path] = None
        else:
            encoding = _TXT_ENCODINGS[(i // 3) % len(_TXT_ENCODINGS)]
            path = folder / f"{stem}.txt"
            path.write_bytes(text.encode(encoding))
            written[path] = encoding
    return written


def bare_extraction(files: dict[Path, str | None]) -> int:
    """Extract every file with the libraries alone; returns the characters read."""
    from docx import Document  # noqa: PLC0415
    from pypdf import PdfReader  # noqa: PLC0415

    chars = 0
    for path, encoding in files.items():
        if path.suffix == ".docx":
            text = "\n".join(p.text for p in Document(str(path)).paragraphs)
        elif path.suffix == ".pdf":
            reader = PdfReader(io.BytesIO(path.read_bytes()))
            text = "\n".join(page.extract_text() for page in reader.pages)
        else:
            text = path.read_bytes().decode(encoding or "utf-8")
        chars += len(text)
    return chars


def _our_import(folder: Path, work: Path, run: int) -> dict[str, int]:
    from app.intake.essays import import_essays  # noqa: PLC0415
    from app.school import create_assignment, create_batch, create_class  # noqa: PLC0415

    with open_database(work / f"db{run}") as db:
        class_id = create_class(db, "9A", "ENG5", "2026/27")
        with db.session() as s:
            for i in range(30):
                student = Student(
                    first_name=_FIRST[i % len(_FIRST)], last_name=_LAST[(i // 10) % len(_LAST)]
                )
                s.add(student)
                s.flush()
                s.add(ClassMembership(school_class_id=class_id, student_id=student.id))
        assignment = create_assignment(db, "Vintern", "swedish_8_anchor")
        batch = create_batch(db, "Vintern 9A", assignment, class_id)
        start = time.perf_counter()
        report = import_essays(db, batch, [folder])
        elapsed = time.perf_counter() - start
    return {"seconds_ns": int(elapsed * 1e9), **report.counts}


def main(files: int = 300, repeats: int = 3) -> int:
    with tempfile.TemporaryDirectory(prefix="huleedu-bench-intake-") as tmp:
        root = Path(tmp)
        folder = root / "essays"
        folder.mkdir()
        workload = write_workload(folder, files)
        bare_best = ours_best = float("inf")
        counts: dict[str, int] = {}
        for run in range(repeats):
            start = time.perf_counter()
            bare_extraction(workload)
            bare_best = min(bare_best, time.perf_counter() - start)
            result = _our_import(folder, root, run)
            ours_best = min(ours_best, result.pop("seconds_ns") / 1e9)
            counts = result
    out: dict[str, Any] = {
        "intake_overhead_ratio": round(ours_best / bare_best, 3),
        "ours_seconds": round(ours_best, 3),
        "bare_seconds": round(bare_best, 3),
        "files": files,
        "imported": counts.get("imported", 0),
        "skipped": counts.get("skipped", 0),
        "failed": counts.get("failed", 0),
        "repeats": repeats,
    }
    print(json.dumps(out))
    return 0 if counts.get("imported") == files else 1

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

**Office bomb**: a folder of 29 essays (the size of a real exam set) plus ``bomb.docx``, a file of
a few hundred KB whose ``word/document.xml`` inflates to 200 MiB of ordinary paragraphs, imported
in a fresh child process (so its memory is its own): ``peak_rss_mb_office_bomb`` is the child's
peak resident memory (bar ≤ 300), ``office_bomb_seconds`` the import of that folder (bar ≤ 5).
``peak_rss_mb_office_baseline`` is the same child importing the 29 essays alone, for comparison.
The bomb must be refused as too long and the 29 imported.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import random
import sys
import tempfile
import time
import zipfile
from multiprocessing.connection import Connection
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

BARS: dict[str, float] = {"peak_rss_mb_office_bomb": 300.0, "office_bomb_seconds": 5.0}
"""Each office-bomb measure's bar (lower is better)."""
BOMB_ESSAYS = 29
BOMB_MEBIBYTES = 200


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


def _our_import(folder: Path, work: Path, run: int, *, outcomes: bool = False) -> dict[str, Any]:
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
    result: dict[str, Any] = {"seconds_ns": int(elapsed * 1e9), **report.counts}
    if outcomes:  # each file's outcome and reason, by file name
        result["outcomes"] = {
            o.source.rsplit("/", 1)[-1]: f"{o.outcome.value}:{o.reason.value if o.reason else ''}"
            for o in report.outcomes
        }
    return result


def write_docx_bomb(path: Path, mebibytes: int = BOMB_MEBIBYTES) -> None:
    """A ``.docx`` whose ``word/document.xml`` inflates to ``mebibytes`` MiB of paragraphs,
    streamed into the archive (never held whole)."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    paragraph = (
        "<w:p><w:r><w:t>Eleverna skriver om vintern, snön och isen på sjön.</w:t></w:r></w:p>"
    ).encode()
    block = paragraph * ((1024 * 1024) // len(paragraph) + 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        package.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/word/document.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"'
            "/></Types>",
        )
        with package.open("word/document.xml", "w") as part:
            part.write(f'<w:document xmlns:w="{w}"><w:body>'.encode())
            for _ in range(mebibytes):
                part.write(block)
            part.write(b"</w:body></w:document>")


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (None where it cannot be read).

    On Linux from ``VmHWM`` in ``/proc/self/status``: ``ru_maxrss`` survives ``execve``, so a
    child started from a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6  # kB
    except OSError:
        pass
    try:
        import resource  # noqa: PLC0415
    except ImportError:  # Windows
        try:
            import psutil  # noqa: PLC0415
        except ImportError:
            return None
        info = psutil.Process().memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # bytes / KiB


def _import_in_child(folder: str, work: str, conn: Connection) -> None:
    """Run in a fresh process: import ``folder`` and send seconds, counts, the bomb's outcome
    and the peak memory back."""
    result = _our_import(Path(folder), Path(work), 0, outcomes=True)
    result["peak_rss_mb"] = _peak_rss_mb()
    conn.send(result)
    conn.close()


def _child_import(folder: Path, work: Path) -> dict[str, Any]:
    work.mkdir()
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_import_in_child, args=(str(folder), str(work), send))
    child.start()
    send.close()
    try:
        result: dict[str, Any] = receive.recv()
    except EOFError:
        child.join()
        raise RuntimeError(f"the import child failed (exit code {child.exitcode})") from None
    child.join()
    return result


def office_bomb(root: Path) -> dict[str, Any]:
    """Import 29 essays with and without the 200 MiB docx bomb, each in a fresh child."""
    essays = root / "bomb-essays"
    essays.mkdir()
    write_workload(essays, BOMB_ESSAYS, seed=13)
    baseline = _child_import(essays, root / "bomb-baseline")
    write_docx_bomb(essays / "bomb.docx")
    bomb = _child_import(essays, root / "bomb-import")
    bomb_outcome = bomb["outcomes"].get("bomb.docx")
    result: dict[str, Any] = {
        "peak_rss_mb_office_bomb": _round(bomb["peak_rss_mb"]),
        "office_bomb_seconds": round(bomb["seconds_ns"] / 1e9, 3),
        "peak_rss_mb_office_baseline": _round(baseline["peak_rss_mb"]),
        "office_baseline_seconds": round(baseline["seconds_ns"] / 1e9, 3),
        "office_bomb_file_bytes": (essays / "bomb.docx").stat().st_size,
        "office_bomb_inflated_mib": BOMB_MEBIBYTES,
        "office_bomb_outcome": bomb_outcome,
        "office_bomb_essays_imported": bomb.get("imported", 0),
    }
    for key, bar in BARS.items():
        result[f"{key}_bar"] = bar
    result["office_bomb_passed"] = {
        key: result[key] is not None and bool(result[key] <= bar) for key, bar in BARS.items()
    }
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


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
        bomb = office_bomb(root)
    out: dict[str, Any] = {
        "intake_overhead_ratio": round(ours_best / bare_best, 3),
        "ours_seconds": round(ours_best, 3),
        "bare_seconds": round(bare_best, 3),
        "files": files,
        "imported": counts.get("imported", 0),
        "skipped": counts.get("skipped", 0),
        "failed": counts.get("failed", 0),
        "repeats": repeats,
        **bomb,
    }
    print(json.dumps(out))
    bomb_ok = (
        bomb["office_bomb_outcome"] == "failed:too_long"
        and bomb["office_bomb_essays_imported"] == BOMB_ESSAYS
        and all(bomb["office_bomb_passed"].values())
    )
    return 0 if counts.get("imported") == files and bomb_ok else 1

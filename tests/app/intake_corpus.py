"""A corpus of good and bad essay files, built at test time, with the outcome each should get.

:func:`build_corpus` writes every file into a folder and returns, per file (relative path, with
archive members as ``archive.zip/member``), the :class:`Expected` end of its journey through
intake. Reading and extraction tests, validation tests and end-to-end import tests all use the
same corpus, so ``Expected`` records the *final* outcome: files that extract fine but fail a later
check (empty, too short, too long, duplicate) carry that later reason and the text extraction
gives them (see :attr:`Expected.extracts`).

Every good essay has its own text (so none is a duplicate of another) with Swedish letters in it;
all of them are written byte by byte here, never read from fixtures on disk.
"""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

from docx import Document as DocxDocument
from odf.opendocument import OpenDocumentText
from odf.text import H, List, ListItem, P
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from app.intake.outcomes import Outcome, Reason

LATER_REASONS = frozenset({Reason.EMPTY, Reason.TOO_SHORT, Reason.TOO_LONG, Reason.DUPLICATE})
"""Reasons decided after extraction, by validation; reading yields a document for these."""


@dataclass(frozen=True)
class Expected:
    """The final outcome for one corpus file. ``text`` is the exact text extraction gives (for
    imported files, the imported text); ``encoding`` the detected encoding of plain-text files."""

    outcome: Outcome
    reason: Reason | None
    text: str | None
    encoding: str | None = None

    @property
    def extracts(self) -> bool:
        """True when reading and extraction yield a document (possibly refused later)."""
        return self.outcome is Outcome.IMPORTED or self.reason in LATER_REASONS


# -- essay texts --------------------------------------------------------------------------------

ESSAYS: dict[str, str] = {
    "utf8": (
        "Min bästa sommar\n\n"
        "Förra sommaren åkte jag till mormors stuga vid sjön. Varje morgon badade vi i det kalla "
        "vattnet och åt gröt på bryggan. Älgen som gick förbi en kväll glömmer jag aldrig.\n\n"
        "Även om det regnade ibland var det den bästa sommaren jag har haft. Öarna i sjön "
        "utforskade vi med kanot."
    ),
    "utf8_bom": (
        "Skolans matsal\n\n"
        "Maten i skolan är bättre än många tror. På måndagar får vi ärtsoppa och på fredagar "
        "fisk. Ärligt talat önskar jag att vi fick mer grönsaker och färre köttbullar.\n\n"
        "Åsikterna går isär, men alla är överens om att kön är för lång."
    ),
    "utf16": (
        "Mitt husdjur\n\n"
        "Vår katt heter Östen och är elva år gammal. Han sover nästan hela dagarna och vaknar "
        "bara när någon öppnar kylskåpet. Äldre katter är lugna, säger veterinären.\n\n"
        "Åtminstone en gång om dagen jagar han sin egen svans, och då skrattar hela familjen."
    ),
    "utf16le": (
        "Vintern i norr\n\n"
        "I Kiruna är det mörkt nästan hela dygnet i december. Snön knarrar under kängorna och "
        "norrskenet dansar över himlen. Älvarna fryser till is som är tjock nog att gå på.\n\n"
        "Ända sedan jag var liten har jag älskat att åka skidor i månskenet, trots kylan. "
        "Övriga årstider är fina, men vintern är min."
    ),
    "cp1252": (
        "Ett brev till framtiden\n\n"
        "Kära framtida jag – hoppas att du fortfarande läser böcker varje kväll. Jag undrar om "
        "du bor kvar i Göteborg eller om du har flyttat utomlands, kanske till München.\n\n"
        "Ångra inget, och glöm inte att ringa mamma. Önskar dig all lycka, "
        "”din yngre version”."
    ),
    "latin1": (
        "Idrottsdagen\n\n"
        "På idrottsdagen sprang hela skolan runt fotbollsplanen. Jag kom tvåa i höjdhopp, vilket "
        "jag är väldigt stolt över. Lärarna hade ordnat saft och bullar vid målet.\n\n"
        "Ödmjukt måste jag erkänna att Åke från parallellklassen var bättre än jag. "
        "Älskade ändå varenda minut, även regnskuren på slutet."
    ),
    "md": (
        "# Läsdagbok\n\n"
        "Den här veckan har jag läst **Bröderna Lejonhjärta** av Astrid Lindgren. Boken handlar "
        "om två bröder som möts i Nangijala efter döden.\n\n"
        "- Jonatan är modig och snäll.\n"
        "- Skorpan är rädd men växer under berättelsen.\n\n"
        "Äventyret i Törnrosdalen är spännande, och slutet fick mig att gråta. Önskar att fler "
        "läste den."
    ),
    "zip_member": (
        "Kollektivtrafiken\n\n"
        "Bussarna i vår stad är ofta försenade, särskilt på vintern när vägarna är hala. Många "
        "väljer därför bilen, vilket ger mer avgaser och köer.\n\n"
        "Åtgärder som fler busskörfält och billigare månadskort skulle göra stor skillnad. Även "
        "cykelbanorna behöver byggas ut."
    ),
}
"""Plain-text essays by the variant that stores them."""

DOCX_PARAGRAPHS = (
    "Debattartikel: Mobiler i skolan",
    "Många elever använder mobilen på lektionerna, och det påverkar koncentrationen. Jag anser "
    "att mobilerna borde samlas in vid lektionens början.",
    "Tabellen visar hur många i klassen som håller med:",
)
DOCX_TABLE = (("Åsikt", "Antal elever"), ("Håller med", "18"), ("Håller inte med", "9"))
DOCX_CLOSING = (
    "Även om förbudet känns strängt tror jag att det är bäst för alla. Ökad arbetsro gör att fler "
    "når målen, och rasterna blir roligare när vi pratar med varandra."
)

ODT_HEADING = "Naturen runt Vättern"
ODT_PARAGRAPHS = (
    "Vättern är Sveriges näst största sjö och har mycket klart vatten. Runt sjön finns skogar, "
    "åkrar och små orter där många bor.",
    "Djur jag har sett vid stranden:",
)
ODT_LIST = ("Häger och skrake", "Älg i skogsbrynet", "Öring i bäckarna")
ODT_CLOSING = "Även om sjön är kall året om badar vi där varje sommar. Överallt luktar det tall."

RTF_SOURCE = (
    b"{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Helvetica;}}\n"
    b"\\f0\\fs24 Min farfars tr\\'e4dg\\'e5rd\\par\n"
    b"\\par\n"
    b"Farfar odlar potatis, mor\\'f6tter och jordgubbar i sin tr\\'e4dg\\'e5rd utanf\\'f6r "
    b"V\\'e4xj\\'f6. Varje h\\'f6st sk\\'f6rdar vi \\'e4pplen tillsammans och g\\'f6r must.\\par\n"
    b"\\'c5ret runt finns det n\\'e5got att g\\'f6ra. \\'c4ven p\\'e5 vintern planerar han "
    b"n\\u228?sta s\\'e4songs odlingar, och \\'d6sterlens frukt\\'e4ngar \\'e4r hans f\\'f6rebild "
    b"- ett caf\\'e9 d\\'e4r b\\'e4rs\\'e5ld serveras.\\par\n"
    b"}"
)
RTF_TEXT = (
    "Min farfars trädgård\n\n"
    "Farfar odlar potatis, morötter och jordgubbar i sin trädgård utanför Växjö. Varje höst "
    "skördar vi äpplen tillsammans och gör must.\n"
    "Året runt finns det något att göra. Även på vintern planerar han nästa säsongs odlingar, "
    "och Österlens fruktängar är hans förebild - ett café där bärsåld serveras."
)

PDF_PAGES = (
    (
        "Klimatet och vi",
        "Jordens klimat förändras snabbare än någonsin.",
        "Isarna smälter och havsnivån stiger år för år.",
        "Även små förändringar i vår vardag gör skillnad.",
    ),
    (
        "Åtgärder: åk tåg, ät mer växtbaserat och köp färre saker.",
        "Ökad kunskap hos alla är nyckeln till en hållbar framtid.",
    ),
)
OWNER_ONLY_PDF_PAGES = (
    (
        "Recension av en konsert",
        "I lördags såg jag en konsert med Göteborgs symfoniker.",
        "Musiken var vacker och dirigenten från Zürich var lysande.",
        "Även publiken var hänförd, och applåderna ville aldrig ta slut.",
        "Årets bästa kväll, utan tvekan. Önskar att fler unga gick dit.",
    ),
)


def _pdf_text(pages: tuple[tuple[str, ...], ...]) -> str:
    """The text pypdf extracts: each page's lines end in a newline and pages are joined by one
    more, so a page break reads as an empty line."""
    return "\n\n".join("\n".join(lines) for lines in pages)


def docx_text() -> str:
    """The exact text of the corpus ``.docx``: paragraphs, then the table cell by cell."""
    cells = [cell for row in DOCX_TABLE for cell in row]
    return "\n".join([*DOCX_PARAGRAPHS, *cells, DOCX_CLOSING])


def odt_text() -> str:
    """The exact text of the corpus ``.odt``: heading, paragraphs, list items, closing line."""
    return "\n".join([ODT_HEADING, *ODT_PARAGRAPHS, *ODT_LIST, ODT_CLOSING])


# -- file builders ------------------------------------------------------------------------------


def make_docx(
    paragraphs: tuple[str, ...], table: tuple[tuple[str, ...], ...], closing: str
) -> bytes:
    """A ``.docx`` with ``paragraphs``, a table with ``table``'s rows and a closing paragraph."""
    document = DocxDocument()
    for text in paragraphs:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, text in enumerate(row):
            grid.cell(r, c).text = text
    document.add_paragraph(closing)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_odt() -> bytes:
    """The corpus ``.odt``: a heading, paragraphs, a bulleted list and a closing paragraph."""
    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text=ODT_HEADING))
    for text in ODT_PARAGRAPHS:
        document.text.addElement(P(text=text))
    items = List()
    for text in ODT_LIST:
        item = ListItem()
        item.addElement(P(text=text))
        items.addElement(item)
    document.text.addElement(items)
    document.text.addElement(P(text=ODT_CLOSING))
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def make_pdf(pages: tuple[tuple[str, ...], ...]) -> bytes:
    """A PDF with a text layer in standard Helvetica, one drawn line per string."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    for lines in pages:
        pdf.setFont("Helvetica", 12)
        for index, line in enumerate(lines):
            pdf.drawString(72, 780 - 18 * index, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_image_only_pdf() -> bytes:
    """A PDF with shapes but no text, like a scanned page."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.rect(72, 500, 300, 200, fill=1)
    pdf.circle(300, 300, 80, fill=0)
    pdf.line(72, 100, 500, 150)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypt_pdf(data: bytes, *, user_password: str, algorithm: str = "AES-256") -> bytes:
    """``data`` encrypted with ``user_password`` (empty: anyone may open it, only editing is
    restricted by the owner password)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="lärare", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def junk(seed: int, size: int = 4096) -> bytes:
    """Deterministic random bytes that are no known format."""
    return random.Random(seed).randbytes(size)


def zip_bomb(path: Path, *, mebibytes: int = 300) -> None:
    """Write a zip whose single member inflates to ``mebibytes`` MiB of zeros (300 MiB, more
    than 300 MB, from about 300 KB), streamed so it is never held in memory."""
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("essay.txt", "w") as member,
    ):
        for _ in range(mebibytes):
            member.write(chunk)


def oversized_file(path: Path, size: int) -> None:
    """A sparse file of ``size`` bytes: takes no disk space, but ``stat`` reports ``size``."""
    with path.open("wb") as stream:
        stream.truncate(size)


# -- the corpus ---------------------------------------------------------------------------------

SHORT_TEXT = "Kort essä!!!"
LONG_TEXT = ("Lång text om våren och ängarna. " * 1875).rstrip() + "!"
_DUPLICATE_LINES = ESSAYS["utf8"].split("\n")


def build_corpus(root: Path) -> dict[str, Expected]:
    """Write the corpus into ``root`` (created if needed) and return the expected outcome per
    relative path. Archive members are keyed ``archive.zip/<member name>``."""
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Expected] = {}
    expected.update(_plain_text_files(root))
    expected.update(_documents(root))
    expected.update(_bad_files(root))
    expected.update(_archive(root))
    expected.update(_duplicates(root))
    return expected


def _imported(text: str, encoding: str | None = None) -> Expected:
    return Expected(Outcome.IMPORTED, None, text, encoding)


def _plain_text_files(root: Path) -> dict[str, Expected]:
    """The same kind of essay saved by different editors, in every encoding intake decodes."""
    files = {
        "txt_utf8.txt": ("utf8", "utf-8", "utf-8"),
        "txt_utf8_bom.txt": ("utf8_bom", "utf-8-sig", "utf-8-sig"),
        "txt_utf16.txt": ("utf16", "utf-16", "utf-16-le"),  # Python writes a little-endian mark
        "txt_utf16le_nobom.txt": ("utf16le", "utf-16-le", "utf-16-le"),
        "txt_cp1252.txt": ("cp1252", "cp1252", "cp1252"),
        # Latin-1 is read as Windows-1252, which agrees with it on every printable character.
        "txt_latin1.txt": ("latin1", "latin-1", "cp1252"),
        "notes.md": ("md", "utf-8", "utf-8"),
    }
    expected = {}
    for name, (essay, written_as, detected_as) in files.items():
        text = ESSAYS[essay]
        # The Windows-1252 file has CRLF line ends, as Notepad saves them; they read back as \n.
        on_disk = text.replace("\n", "\r\n") if written_as == "cp1252" else text
        (root / name).write_bytes(on_disk.encode(written_as))
        expected[name] = _imported(text, detected_as)
    return expected


def _documents(root: Path) -> dict[str, Expected]:
    """One essay each as Word, OpenDocument, RTF and PDF (one of them owner-password only)."""
    (root / "essay.docx").write_bytes(make_docx(DOCX_PARAGRAPHS, DOCX_TABLE, DOCX_CLOSING))
    (root / "essay.odt").write_bytes(make_odt())
    (root / "essay.rtf").write_bytes(RTF_SOURCE)
    (root / "essay.pdf").write_bytes(make_pdf(PDF_PAGES))
    owner_only = encrypt_pdf(make_pdf(OWNER_ONLY_PDF_PAGES), user_password="", algorithm="AES-128")
    (root / "owner_only.pdf").write_bytes(owner_only)
    return {
        "essay.docx": _imported(docx_text()),
        "essay.odt": _imported(odt_text()),
        "essay.rtf": _imported(RTF_TEXT, "cp1252"),
        "essay.pdf": _imported(_pdf_text(PDF_PAGES)),
        "owner_only.pdf": _imported(_pdf_text(OWNER_ONLY_PDF_PAGES)),
    }


def _bad_files(root: Path) -> dict[str, Expected]:
    """Files that must not become essays, each for its own reason."""
    failed, skipped = Outcome.FAILED, Outcome.SKIPPED
    files: dict[str, tuple[bytes, Expected]] = {
        "empty.txt": (b"", Expected(failed, Reason.EMPTY, "", "ascii")),
        "whitespace.txt": (b"  \r\n\t \n  ", Expected(failed, Reason.EMPTY, "", "ascii")),
        "short.txt": (
            SHORT_TEXT.encode("utf-8"),
            Expected(failed, Reason.TOO_SHORT, SHORT_TEXT, "utf-8"),
        ),
        "long.txt": (
            LONG_TEXT.encode("utf-8"),
            Expected(failed, Reason.TOO_LONG, LONG_TEXT, "utf-8"),
        ),
        "junk.docx": (junk(1), Expected(failed, Reason.CORRUPT, None)),
        "junk.pdf": (junk(2), Expected(failed, Reason.CORRUPT, None)),
        "encrypted.pdf": (
            encrypt_pdf(make_pdf(PDF_PAGES), user_password="hemligt"),
            Expected(failed, Reason.ENCRYPTED, None),
        ),
        "scanned.pdf": (make_image_only_pdf(), Expected(failed, Reason.NO_TEXT, None)),
        "~$lock.docx": (b"\x05Anna" + bytes(157), Expected(skipped, Reason.LOCK_FILE, None)),
        ".hidden.txt": (ESSAYS["utf8"].encode(), Expected(skipped, Reason.HIDDEN, None)),
        "photo.jpg": (
            b"\xff\xd8\xff\xe0" + junk(3, 512),
            Expected(skipped, Reason.UNSUPPORTED_TYPE, None),
        ),
    }
    for name, (data, _) in files.items():
        (root / name).write_bytes(data)
    return {name: outcome for name, (_, outcome) in files.items()}


def _archive(root: Path) -> dict[str, Expected]:
    """A zip with one good essay and two members whose paths try to escape the archive."""
    with zipfile.ZipFile(root / "archive.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("class/good.txt", ESSAYS["zip_member"].encode("utf-8"))
        archive.writestr("../evil.txt", b"Overwrites a file next to the archive.")
        archive.writestr("/etc/evil.txt", b"Overwrites a system file.")
    unsafe = Expected(Outcome.FAILED, Reason.UNSAFE_ARCHIVE, None)
    return {
        "archive.zip/class/good.txt": _imported(ESSAYS["zip_member"], "utf-8"),
        "archive.zip/../evil.txt": unsafe,
        "archive.zip//etc/evil.txt": unsafe,
    }


def _duplicates(root: Path) -> dict[str, Expected]:
    """Copies of ``txt_utf8.txt``: byte for byte, and with CRLF line ends and trailing blanks.
    Their names sort after the original, so the original is imported first."""
    (root / "z_duplicate_exact.txt").write_bytes(ESSAYS["utf8"].encode("utf-8"))
    padded = [f"{line}  " if line else line for line in _DUPLICATE_LINES]
    (root / "z_duplicate_line_endings.txt").write_bytes(
        ("\r\n".join(padded) + "\r\n\r\n").encode("utf-8")
    )
    return {
        "z_duplicate_exact.txt": Expected(
            Outcome.SKIPPED, Reason.DUPLICATE, ESSAYS["utf8"], "utf-8"
        ),
        "z_duplicate_line_endings.txt": Expected(
            Outcome.SKIPPED, Reason.DUPLICATE, "\n".join(padded).strip(), "utf-8"
        ),
    }

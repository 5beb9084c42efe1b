"""Reading class lists: encodings, delimiters, XLSX, header synonyms and per-row outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from app.intake.outcomes import Outcome
from app.intake.roster import (
    RosterError,
    RosterReason,
    RosterRow,
    RowOutcome,
    imported_students,
    read_roster,
    split_full_name,
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def students(outcomes: list[RowOutcome]) -> list[RosterRow]:
    return imported_students(outcomes)


def summary(outcomes: list[RowOutcome]) -> list[tuple[int, str, str | None]]:
    return [(o.row, o.outcome.value, o.reason) for o in outcomes]


SWEDISH_CLASS = [
    RosterRow("Åsa", "Öberg", "ABCDWXYZ", "asa.oberg@skolan.se"),
    RosterRow("Erik", "Ängström", "EFGH1234", None),
    RosterRow("Anna-Karin", "Svensson", None, "ak@skolan.se"),
]


# --- formats and encodings -----------------------------------------------------------------------


def test_semicolon_csv_in_windows_1252(tmp_path: Path) -> None:
    text = (
        "Förnamn;Efternamn;Elevkod;E-post\r\n"
        "Åsa;Öberg;ABCDWXYZ;asa.oberg@skolan.se\r\n"
        "Erik;Ängström;EFGH1234;\r\n"
        "Anna-Karin ; Svensson;;ak@skolan.se\r\n"
    )
    outcomes = read_roster(write(tmp_path, "klass.csv", text, "cp1252"))
    assert students(outcomes) == SWEDISH_CLASS
    assert summary(outcomes) == [
        (2, "imported", None),
        (3, "imported", None),
        (4, "imported", None),
    ]
    assert outcomes[0].message == "Row 2: Åsa Öberg imported."


def test_tab_separated_utf8(tmp_path: Path) -> None:
    text = (
        "Förnamn\tEfternamn\tKod\tE-post\n"
        "Åsa\tÖberg\tABCDWXYZ\tasa.oberg@skolan.se\n"
        "Erik\tÄngström\tEFGH1234\t\n"
        "Anna-Karin\tSvensson\t\tak@skolan.se\n"
    )
    assert students(read_roster(write(tmp_path, "klass.tsv", text))) == SWEDISH_CLASS


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-16-le"])
def test_unicode_csv_with_and_without_byte_order_mark(tmp_path: Path, encoding: str) -> None:
    text = (
        "First name,Last name,Student code,E-mail\r\n"
        "Åsa,Öberg,ABCDWXYZ,asa.oberg@skolan.se\r\n"
        "Erik,Ängström,EFGH1234,\r\n"
        '"Anna-Karin","Svensson","",ak@skolan.se\r\n'
    )
    assert students(read_roster(write(tmp_path, "class.csv", text, encoding))) == SWEDISH_CLASS


def test_pipe_delimited_text_file(tmp_path: Path) -> None:
    text = "fornamn|EFTERNAMN\nÅsa|Öberg\nErik|Ängström\n"
    assert [
        (s.first_name, s.last_name) for s in students(read_roster(write(tmp_path, "k.txt", text)))
    ] == [
        ("Åsa", "Öberg"),
        ("Erik", "Ängström"),
    ]


def test_xlsx_first_sheet_with_whole_numbers_as_codes(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Förnamn", "Efternamn", "Elevkod", "E-post", "Personnummer"])
    sheet.append(["Åsa", "Öberg", "ABCDWXYZ", "asa.oberg@skolan.se", "20090101-1234"])
    sheet.append(["Erik", "Ängström", 12345.0, None, None])
    sheet.append([None, None, None, None, None])
    sheet.append(["Anna-Karin", " Svensson ", 777, "ak@skolan.se", None])
    workbook.create_sheet("Other").append(["Förnamn", "Efternamn"])
    path = tmp_path / "klass.xlsx"
    workbook.save(path)

    outcomes = read_roster(path)
    assert summary(outcomes) == [
        (2, "imported", None),
        (3, "imported", None),
        (4, "skipped", "blank"),
        (5, "imported", None),
    ]
    assert students(outcomes) == [
        RosterRow("Åsa", "Öberg", "ABCDWXYZ", "asa.oberg@skolan.se"),
        RosterRow("Erik", "Ängström", "12345", None),
        RosterRow("Anna-Karin", "Svensson", "777", "ak@skolan.se"),
    ]


# --- header rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Förnamn;Efternamn;Elevkod;E-post",
        "FORNAMN;EFTERNAMN;KOD;EPOST",
        "förnamn ; efternamn ; kod ; e-post",
        "Given name;Family name;Student ID;Email",
        "FirstName;LastName;Code;E-Mail",
        "first_name;surname;id;mail",
    ],
)
def test_header_synonyms(tmp_path: Path, header: str) -> None:
    text = f"{header}\nÅsa;Öberg;ABCDWXYZ;asa.oberg@skolan.se\n"
    outcomes = read_roster(write(tmp_path, "k.csv", text))
    assert students(outcomes) == [RosterRow("Åsa", "Öberg", "ABCDWXYZ", "asa.oberg@skolan.se")]


def test_columns_in_any_order_and_unknown_columns_ignored(tmp_path: Path) -> None:
    text = "Klass;E-post;Efternamn;Personnummer;Förnamn\nSA24D;;Öberg;090101-1234;Åsa\n"
    assert students(read_roster(write(tmp_path, "k.csv", text))) == [
        RosterRow("Åsa", "Öberg", None, None)
    ]


def test_single_full_name_column_last_comma_first(tmp_path: Path) -> None:
    text = (
        "Namn\n"
        "Andersson, Anna\n"
        '"Berg Lindqvist, Lars"\n'
        "Anna-Karin Svensson\n"
        "Anna van der Berg\n"
        "Öberg,Åsa\n"
    )
    outcomes = read_roster(write(tmp_path, "k.csv", text))
    assert [(s.first_name, s.last_name) for s in students(outcomes)] == [
        ("Anna", "Andersson"),
        ("Lars", "Berg Lindqvist"),
        ("Anna-Karin", "Svensson"),
        ("Anna", "van der Berg"),
        ("Åsa", "Öberg"),
    ]
    assert [o.row for o in outcomes] == [2, 3, 4, 5, 6]


def test_full_name_column_with_email(tmp_path: Path) -> None:
    text = 'Elev;E-post\n"Andersson, Anna";anna@skolan.se\nErik Berg;erik@skolan.se\n'
    assert students(read_roster(write(tmp_path, "k.csv", text))) == [
        RosterRow("Anna", "Andersson", None, "anna@skolan.se"),
        RosterRow("Erik", "Berg", None, "erik@skolan.se"),
    ]


def test_full_name_fills_in_missing_first_or_last_name(tmp_path: Path) -> None:
    text = "Förnamn;Efternamn;Namn\nÅsa;;Öberg, Åsa\nErik;Berg;\n"
    assert [
        (s.first_name, s.last_name) for s in students(read_roster(write(tmp_path, "k.csv", text)))
    ] == [
        ("Åsa", "Öberg"),
        ("Erik", "Berg"),
    ]


def test_title_rows_above_the_header_are_reported(tmp_path: Path) -> None:
    text = "Klasslista SA24D, ht 2025\n\nFörnamn;Efternamn\nÅsa;Öberg\n"
    outcomes = read_roster(write(tmp_path, "k.csv", text))
    assert summary(outcomes) == [
        (1, "skipped", "above_header"),
        (2, "skipped", "blank"),
        (4, "imported", None),
    ]
    assert "row 3" in outcomes[0].message


# --- row outcomes --------------------------------------------------------------------------------


def test_blank_duplicate_missing_name_and_bad_email_rows(tmp_path: Path) -> None:
    text = (
        "Förnamn;Efternamn;Kod;E-post\n"  # 1
        "Anna;Andersson;A1;anna@skolan.se\n"  # 2
        "\n"  # 3
        " ; ; ; \n"  # 4
        "anna ;ANDERSSON;a1;\n"  # 5 duplicate of 2
        "Anna;Andersson;A2;\n"  # 6 another Anna Andersson (other code)
        ";Berg;B1;\n"  # 7 no first name
        "Erik;;;erik@skolan.se\n"  # 8 no last name
        ";;C9;\n"  # 9 no name at all
        "Åsa;Berg;;asa@skolan\n"  # 10 no dot in the domain
        "Åsa;Berg;;asa@@skolan.se\n"  # 11 two @
        "Åsa;Berg;;asa.berg.skolan.se\n"  # 12 no @
        "Åsa;Berg;;\n"  # 13
        "Asa;Berg;;\n"  # 14 a different student
        "Åsa;Berg;;\n"  # 15 duplicate of 13
        "\n\n"  # trailing blank lines are not rows of the list
    )
    outcomes = read_roster(write(tmp_path, "k.csv", text))
    assert summary(outcomes) == [
        (2, "imported", None),
        (3, "skipped", "blank"),
        (4, "skipped", "blank"),
        (5, "skipped", "duplicate"),
        (6, "imported", None),
        (7, "failed", "missing_name"),
        (8, "failed", "missing_name"),
        (9, "failed", "missing_name"),
        (10, "failed", "bad_email"),
        (11, "failed", "bad_email"),
        (12, "failed", "bad_email"),
        (13, "imported", None),
        (14, "imported", None),
        (15, "skipped", "duplicate"),
    ]
    by_row = {o.row: o for o in outcomes}
    assert by_row[5].reason == RosterReason.DUPLICATE
    assert "repeats row 2" in by_row[5].message
    assert "repeats row 13" in by_row[15].message
    assert by_row[7].message.startswith("Row 7 has no first name")
    assert "'Berg'" in by_row[7].message
    assert by_row[8].message.startswith("Row 8 has no last name")
    assert "'Erik'" in by_row[8].message
    assert by_row[9].message.startswith("Row 9 has no name") and "'C9'" in by_row[9].message
    assert "'asa@skolan'" in by_row[10].message
    assert all(o.student is None for o in outcomes if o.outcome is not Outcome.IMPORTED)
    assert [s.first_name for s in students(outcomes)] == ["Anna", "Anna", "Åsa", "Asa"]


def test_personal_identity_number_is_never_stored_as_a_code(tmp_path: Path) -> None:
    text = (
        "Förnamn;Efternamn;ID\n"
        "Åsa;Öberg;19121212-1212\n"
        "Erik;Berg;E77\n"
        "Anna;Ek;121212 1212\n"
        "Olle;Ek;1234567890\n"
        "Ida;Ek;19121212-1213\n"
    )
    outcomes = read_roster(write(tmp_path, "k.csv", text))
    assert [s.code for s in students(outcomes)] == [
        None,
        "E77",
        None,
        "1234567890",
        "19121212-1213",
    ]
    assert "personal identity number" in outcomes[0].message


def test_split_full_name() -> None:
    assert split_full_name(" Andersson ,  Anna ") == ("Anna", "Andersson")
    assert split_full_name("Anna  Karin Svensson") == ("Anna Karin", "Svensson")
    assert split_full_name("Anna von Berg") == ("Anna", "von Berg")
    assert split_full_name("Andersson") == ("", "Andersson")


# --- files that are not rosters ------------------------------------------------------------------


def test_file_without_a_header_row_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "klass.csv", "Åsa;Öberg;ABCDWXYZ\nErik;Berg;EFGH1234\n")
    with pytest.raises(RosterError) as caught:
        read_roster(path)
    message = str(caught.value)
    assert "klass.csv" in message and "no header row" in message
    assert "'Åsa'" in message and "förnamn" in message and "efternamn" in message


def test_file_without_name_columns_names_the_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", "Klass;Kurs;Lärare;Sal;Termin\nSA24D;ENG5;LK;B12;HT25\n")
    with pytest.raises(RosterError) as caught:
        read_roster(path)
    message = str(caught.value)
    assert "export.csv" in message and "no column with student names" in message
    assert "'Klass'" in message and "'Lärare'" in message


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("klass.xls", b"\xd0\xcf\x11\xe0", "save the class list as .xlsx or .csv"),
        ("klass.pdf", b"%PDF-1.7", "not a class list"),
        ("klass.csv", b"\n \n", "empty"),
        ("klass.xlsx", b"not a zip file", "not a readable Excel workbook"),
    ],
)
def test_files_that_cannot_be_rosters(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(RosterError, match=expected) as caught:
        read_roster(path)
    assert name in str(caught.value)


def test_missing_file_is_a_roster_error(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match=r"nowhere\.csv"):
        read_roster(tmp_path / "nowhere.csv")

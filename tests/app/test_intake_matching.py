"""Matching essays to roster students: file names, header lines, e-mails, codes, near-duplicates."""

from __future__ import annotations

import random
import string
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from app.intake.matching import (
    AUTO_ACCEPT_SCORE,
    MAX_SUGGESTIONS,
    NON_NAME_WORDS,
    SOURCES,
    SUGGEST_MIN_SCORE,
    MatchResult,
    RosterEntry,
    match_batch,
    match_essay,
    normalise_name,
    unmatched_students,
)

ANNA = RosterEntry("s-anna", "Anna", "Andersson", code="ABCDWXYZ", email="anna.andersson@skolan.se")
ERIK = RosterEntry("s-erik", "Erik", "Andersson", code="EFGHIJKL", email="erik.a@skolan.se")
ASA_RING = RosterEntry("s-asa-ring", "Åsa", "Berg")
ASA_PLAIN = RosterEntry("s-asa-plain", "Asa", "Berg")
ANNA_KARIN = RosterEntry("s-anna-karin", "Anna-Karin", "Svensson")
KARIN = RosterEntry("s-karin", "Karin", "Svensson")
LARS = RosterEntry("s-lars", "Lars", "Berg Lindqvist")
OSKAR = RosterEntry("s-oskar", "Oskar", "Nilsson", code="QRST2024")
ROSTER = (ANNA, ERIK, ASA_RING, ASA_PLAIN, ANNA_KARIN, KARIN, LARS, OSKAR)

ESSAY = "The use of mobile phones in school has become a hotly debated topic.\n" * 5


def ids(result: MatchResult) -> list[str]:
    return [s.student_id for s in result.suggestions]


def check_invariants(result: MatchResult) -> None:
    scores = [s.score for s in result.suggestions]
    assert len(result.suggestions) <= MAX_SUGGESTIONS
    assert all(SUGGEST_MIN_SCORE <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert len(set(ids(result))) == len(ids(result))
    assert all(s.source in SOURCES for s in result.suggestions)
    if result.accepted is not None:
        assert result.suggestions[0].student_id == result.accepted
        assert result.suggestions[0].score >= AUTO_ACCEPT_SCORE


# --- normalisation -------------------------------------------------------------------------------


def test_normalise_name_loose_and_strict_forms() -> None:
    assert normalise_name("  Åsa   Öberg-Ek ") == "asa oberg ek"
    assert normalise_name("Bjørn Ærø Straße") == "bjorn aero strasse"
    assert normalise_name("José O'Brien") == "jose obrien"
    assert normalise_name("andersson_anna.essay") == "andersson anna essay"
    assert normalise_name("Åsa Öberg", keep_diacritics=True) == "åsa öberg"
    assert normalise_name("Åsa") != normalise_name("Åsa", keep_diacritics=True)
    decomposed = unicodedata.normalize("NFD", "Åsa Öberg")
    assert normalise_name(decomposed, keep_diacritics=True) == "åsa öberg"


# --- exam exports and student codes --------------------------------------------------------------


def test_exam_export_is_accepted_by_its_student_code() -> None:
    result = match_essay("ABCDWXYZ 50 (SA24D ENG 5 WRITING 2025).txt", ESSAY, ROSTER)
    assert result.accepted == ANNA.student_id
    top = result.suggestions[0]
    assert (top.score, top.source, top.evidence) == (1.0, "code", "ABCDWXYZ")
    check_invariants(result)


def test_student_code_matches_case_insensitively_with_a_digit_code() -> None:
    result = match_essay("qrst2024_uppsats.docx", ESSAY, ROSTER)
    assert result.accepted == OSKAR.student_id


def test_a_code_one_edit_away_is_suggested_but_never_accepted() -> None:
    result = match_essay("ABCDWXYQ 50 (SA24D ENG 5 WRITING 2025).txt", ESSAY, ROSTER)
    assert result.accepted is None
    assert ids(result) == [ANNA.student_id]
    assert result.suggestions[0].score == pytest.approx(0.80)
    assert result.suggestions[0].source == "code"


def test_the_class_code_in_parentheses_is_not_read_as_a_student_code() -> None:
    roster = (*ROSTER, RosterEntry("s-odd", "Olle", "Ek", code="SA24D"))
    result = match_essay("EFGHIJKL 42 (SA24D ENG 5 WRITING 2025).txt", ESSAY, roster)
    assert result.accepted == ERIK.student_id
    assert ids(result) == [ERIK.student_id]


def test_a_code_shared_by_two_students_accepts_neither() -> None:
    roster = (ANNA, RosterEntry("s-copy", "Maja", "Ek", code="abcdwxyz"))
    result = match_essay("ABCDWXYZ 50 (SA24D ENG 5 WRITING 2025).txt", ESSAY, roster)
    assert result.accepted is None
    assert set(ids(result)) == {ANNA.student_id, "s-copy"}


def test_code_and_name_header_that_disagree_accept_nobody() -> None:
    result = match_essay("ABCDWXYZ 50.txt", "Namn: Oskar Nilsson\n\n" + ESSAY, ROSTER)
    assert result.accepted is None
    assert set(ids(result)[:2]) == {ANNA.student_id, OSKAR.student_id}


# --- file names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file_name",
    [
        "Anna Andersson.docx",
        "andersson_anna_essay.docx",
        "Andersson, Anna - uppsats.pdf",
        "ANNA-ANDERSSON-final-v2.odt",
        "AnnaAndersson.docx",
        "SA24D_Anna_Andersson_slutversion (1).docx",
        "inbox/2025/anna andersson.txt",
        "Uppsats (Anna Andersson).docx",  # the name only inside the parentheses
        "Anna Anderson.docx",  # one letter missing from a long surname
    ],
)
def test_file_name_patterns_accept_the_named_student(file_name: str) -> None:
    result = match_essay(file_name, ESSAY, ROSTER)
    assert result.accepted == ANNA.student_id, result
    assert result.suggestions[0].source == "file_name"
    check_invariants(result)


def test_file_name_evidence_is_the_file_name_without_extension() -> None:
    result = match_essay("andersson_anna_essay.docx", ESSAY, ROSTER)
    assert result.suggestions[0].evidence == "andersson_anna_essay"


def test_email_as_file_name_matches_the_roster_email() -> None:
    result = match_essay("anna.andersson@skolan.se.txt", ESSAY, ROSTER)
    assert result.accepted == ANNA.student_id
    top = result.suggestions[0]
    assert (top.source, top.evidence, top.score) == ("email", "anna.andersson@skolan.se", 1.0)


def test_email_local_part_is_read_as_a_name_when_the_roster_has_no_emails() -> None:
    roster = [RosterEntry("a", "Anna", "Andersson"), RosterEntry("e", "Erik", "Andersson")]
    result = match_essay("anna.andersson@skolan.se.txt", ESSAY, roster)
    assert result.accepted == "a"
    assert result.suggestions[0].source == "email"


def test_a_file_name_without_a_name_gives_no_suggestions() -> None:
    for file_name in ("uppsats.docx", "essay_final_v3.docx", "document (2).pdf", "12345.txt"):
        result = match_essay(file_name, ESSAY, ROSTER)
        assert result == MatchResult((), None), file_name


def test_a_file_named_after_two_students_goes_to_the_teacher() -> None:
    result = match_essay("Anna Andersson och Oskar Nilsson.docx", ESSAY, ROSTER)
    assert result.accepted is None
    assert set(ids(result)[:2]) == {ANNA.student_id, OSKAR.student_id}


# --- text: header lines, e-mail, first line ------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Name: Erik Andersson",
        "Namn: Erik Andersson",
        "NAMN : Andersson, Erik",
        "Elev: Erik Andersson",
        "Författare: Erik Andersson",
        "Forfattare - Erik Andersson",
        "Student: Erik Andersson (SA24D)",
        "Author – Erik Andersson",
        "Skribent: Erik Andersson",
        "Student name: erik andersson",
    ],
)
def test_header_lines_in_swedish_and_english(header: str) -> None:
    text = f"Mobiltelefoner i skolan\n\n{header}\nKlass: SA24D\n\n{ESSAY}"
    result = match_essay("uppsats.docx", text, ROSTER)
    assert result.accepted == ERIK.student_id
    assert result.suggestions[0].source == "header"
    assert result.suggestions[0].evidence == header.strip()


def test_header_line_after_the_first_fifteen_lines_is_not_read() -> None:
    text = "\n".join(f"Line {i} of the essay." for i in range(16)) + "\nNamn: Erik Andersson\n"
    assert match_essay("uppsats.docx", text, ROSTER).suggestions == ()


def test_email_address_in_the_text() -> None:
    text = f"Phones in School\nerik.a@skolan.se\n\n{ESSAY}"
    result = match_essay("essay.docx", text, ROSTER)
    assert result.accepted == ERIK.student_id
    assert result.suggestions[0].source == "email"


def test_email_beyond_the_first_two_thousand_characters_is_not_read() -> None:
    text = "x" * 2_100 + " erik.a@skolan.se"
    assert match_essay("essay.docx", text, ROSTER).suggestions == ()


@pytest.mark.parametrize(
    "title",
    [
        "Climate Change",
        "My Summer Holiday",
        "Why School Uniforms Matter",
        "The Importance of Reading",
        "Mobiltelefoner i skolan",
    ],
)
def test_title_first_essays_without_any_name_give_no_suggestions(title: str) -> None:
    result = match_essay("essay.docx", f"{title}\n\n{ESSAY}", ROSTER)
    assert result == MatchResult((), None)


def test_a_name_on_the_first_line_alone_is_suggested_but_not_accepted() -> None:
    result = match_essay("essay.docx", f"Erik Andersson\n\n{ESSAY}", ROSTER)
    assert result.accepted is None
    assert ids(result) == [ERIK.student_id]
    assert result.suggestions[0].source == "first_line"
    assert result.suggestions[0].score == pytest.approx(0.9)


def test_a_first_line_confirmed_by_the_file_name_is_accepted() -> None:
    result = match_essay("andersson.docx", f"Erik Andersson\n\n{ESSAY}", ROSTER)
    assert result.accepted == ERIK.student_id
    assert result.suggestions[0].score == pytest.approx(0.93)
    assert ids(result) == [ERIK.student_id, ANNA.student_id]


def test_agreeing_sources_add_a_small_bonus() -> None:
    result = match_essay("anna andersen.docx", f"Namn: Anna Andersen\n\n{ESSAY}", ROSTER)
    alone = match_essay("anna andersen.docx", ESSAY, ROSTER)
    assert result.suggestions[0].score == pytest.approx(alone.suggestions[0].score + 0.03)


# --- near-duplicates -----------------------------------------------------------------------------


def test_surname_only_suggests_both_anderssons_and_accepts_neither() -> None:
    result = match_essay("andersson.txt", ESSAY, ROSTER)
    assert result.accepted is None
    assert set(ids(result)) == {ANNA.student_id, ERIK.student_id}
    assert all(s.score == pytest.approx(0.65) for s in result.suggestions)


@pytest.mark.parametrize(("first", "student"), [("Anna", ANNA), ("Erik", ERIK)])
def test_full_name_accepts_the_right_andersson(first: str, student: RosterEntry) -> None:
    result = match_essay(f"{first} Andersson.docx", ESSAY, ROSTER)
    assert result.accepted == student.student_id
    assert result.suggestions[0].score == 1.0


def test_ascii_file_name_suggests_both_asa_and_asa_ring_and_accepts_neither() -> None:
    result = match_essay("asa_berg.txt", ESSAY, ROSTER)
    assert result.accepted is None
    assert ids(result)[:2] == [ASA_PLAIN.student_id, ASA_RING.student_id]
    assert [s.score for s in result.suggestions[:2]] == [1.0, 0.95]


@pytest.mark.parametrize(
    "file_name", ["Åsa Berg.docx", unicodedata.normalize("NFD", "Åsa Berg.docx")]
)
def test_a_file_name_spelling_the_ring_accepts_asa_ring(file_name: str) -> None:
    result = match_essay(file_name, ESSAY, ROSTER)
    assert result.accepted == ASA_RING.student_id
    assert result.suggestions[0].score == 1.0
    by_id = {s.student_id: s.score for s in result.suggestions}
    assert by_id[ASA_PLAIN.student_id] == pytest.approx(0.88)


def test_stripped_diacritics_still_accept_when_nobody_else_is_close() -> None:
    roster = [RosterEntry("o", "Åsa", "Öberg"), RosterEntry("n", "Oskar", "Nilsson")]
    result = match_essay("asa_oberg.docx", ESSAY, roster)
    assert result.accepted == "o"
    assert result.suggestions[0].score == pytest.approx(0.95)


@pytest.mark.parametrize(
    "file_name",
    ["Anna-Karin Svensson.docx", "anna karin svensson.txt", "annakarin_svensson.pdf"],
)
def test_double_first_name_in_full_is_accepted(file_name: str) -> None:
    result = match_essay(file_name, ESSAY, ROSTER)
    assert result.accepted == ANNA_KARIN.student_id


def test_part_of_a_double_first_name_is_only_suggested() -> None:
    result = match_essay("Anna Svensson.docx", ESSAY, ROSTER)
    assert result.accepted is None
    assert ids(result)[0] == ANNA_KARIN.student_id
    assert result.suggestions[0].score == pytest.approx(0.85)


def test_karin_is_not_mistaken_for_anna_karin() -> None:
    result = match_essay("Karin Svensson.docx", ESSAY, ROSTER)
    assert result.accepted == KARIN.student_id
    assert ids(result) == [KARIN.student_id, ANNA_KARIN.student_id]


@pytest.mark.parametrize(
    ("file_name", "accepted"),
    [
        ("Lars Berg Lindqvist.docx", LARS.student_id),
        ("Lars Berg-Lindqvist.docx", LARS.student_id),
        ("Berg Lindqvist, Lars.pdf", LARS.student_id),
        ("Lars Lindqvist.docx", None),
    ],
)
def test_double_last_names(file_name: str, accepted: str | None) -> None:
    result = match_essay(file_name, ESSAY, ROSTER)
    assert result.accepted == accepted
    assert ids(result)[0] == LARS.student_id


def test_empty_roster_gives_no_suggestions() -> None:
    assert match_essay("Anna Andersson.docx", "Namn: Anna Andersson", []) == MatchResult((), None)


# --- batches -------------------------------------------------------------------------------------


def test_two_essays_claiming_one_student_are_both_left_to_the_teacher() -> None:
    results = match_batch(
        [
            ("e1", "Anna Andersson.docx", ESSAY),
            ("e2", "ABCDWXYZ 50 (SA24D ENG 5 WRITING 2025).txt", ESSAY),
            ("e3", "Erik Andersson.docx", ESSAY),
            ("e4", "uppsats.docx", ESSAY),
        ],
        ROSTER,
    )
    assert list(results) == ["e1", "e2", "e3", "e4"]
    assert results["e1"].accepted is None
    assert results["e2"].accepted is None
    assert ids(results["e1"])[0] == ids(results["e2"])[0] == ANNA.student_id
    assert results["e3"].accepted == ERIK.student_id
    assert results["e4"] == MatchResult((), None)


def test_batch_matches_like_single_essays() -> None:
    essays = [("a", "Karin Svensson.docx", ESSAY), ("b", "asa_berg.txt", ESSAY)]
    results = match_batch(essays, ROSTER)
    for key, file_name, text in essays:
        assert results[key] == match_essay(file_name, text, ROSTER)


def test_batch_refuses_repeated_keys() -> None:
    with pytest.raises(ValueError, match="'x'"):
        match_batch([("x", "a.txt", ""), ("x", "b.txt", "")], ROSTER)


def test_unmatched_students_in_swedish_alphabetical_order() -> None:
    roster = [
        RosterEntry("1", "Erik", "Öberg"),
        RosterEntry("2", "Anna", "Andersson"),
        RosterEntry("3", "Åsa", "Berg"),
        RosterEntry("4", "Asa", "Berg"),
        RosterEntry("5", "Zeb", "Zetterberg"),
        RosterEntry("6", "Erik", "Andersson"),
        RosterEntry("7", "Ida", "Ängström"),
    ]
    missing = unmatched_students(["2"], roster)
    assert [e.student_id for e in missing] == ["6", "4", "3", "5", "7", "1"]
    assert unmatched_students([e.student_id for e in roster], roster) == []


def test_a_class_of_thirty_five_and_three_hundred_essays() -> None:
    """Speed sanity check (no timing assertion): 300 essays against 35 students."""
    rng = random.Random(7)
    firsts = ["Anna", "Erik", "Åsa", "Lars", "Karin", "Johan", "Maria", "Oskar", "Elin", "Noah"]
    lasts = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Öberg", "Berg", "Lindqvist"]
    roster = [
        RosterEntry(
            f"s{i}",
            rng.choice(firsts),
            rng.choice(lasts),
            code="".join(rng.choices(string.ascii_uppercase, k=8)),
        )
        for i in range(35)
    ]
    essays = []
    for k in range(300):
        s = roster[k % 35]
        file_name = [
            f"{s.first_name} {s.last_name}.docx",
            f"{s.last_name.lower()}_{s.first_name.lower()}_essay.docx",
            f"{s.code} 50 (SA24D ENG 5 WRITING 2025).txt",
            "uppsats.docx",
        ][k % 4]
        header = f"Namn: {s.first_name} {s.last_name}\n" if k % 3 == 0 else "A Day at the Beach\n"
        essays.append((f"e{k}", file_name, header + ESSAY * 20))
    results = match_batch(essays, roster)
    assert len(results) == 300
    for result in results.values():
        check_invariants(result)


# --- properties ----------------------------------------------------------------------------------

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzåäö", min_size=2, max_size=10).map(
    str.capitalize
)
PEOPLE = st.lists(st.tuples(NAME, NAME), min_size=1, max_size=8)


def _distinct_enough(people: list[tuple[str, str]]) -> bool:
    """Names differ after normalisation by at least 3 characters, in either word order (a file
    name does not say which word is the first name, so "Berg Anna" and "Anna Berg" are one
    name to it)."""
    loose = [(normalise_name(first), normalise_name(last)) for first, last in people]
    for i, (f1, l1) in enumerate(loose):
        for f2, l2 in loose[i + 1 :]:
            one = f"{f1} {l1}"
            if (
                min(
                    Levenshtein.distance(one, f"{f2} {l2}"), Levenshtein.distance(one, f"{l2} {f2}")
                )
                < 3
            ):
                return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(PEOPLE)
def test_property_every_student_is_accepted_from_first_last_file_name(
    people: list[tuple[str, str]],
) -> None:
    assume(not any(normalise_name(n) in NON_NAME_WORDS for person in people for n in person))
    assume(_distinct_enough(people))
    roster = [RosterEntry(f"id{i}", first, last) for i, (first, last) in enumerate(people)]
    for entry in roster:
        result = match_essay(f"{entry.first_name} {entry.last_name}.txt", "", roster)
        assert result.accepted == entry.student_id, (entry, result)


FREE_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=120)


@settings(max_examples=150, deadline=None)
@given(
    people=PEOPLE,
    picks=st.lists(st.integers(min_value=0, max_value=7), max_size=3),
    noise=FREE_TEXT,
    header=st.sampled_from(["", "Namn: ", "Name: ", "Elev: "]),
    text=FREE_TEXT,
)
def test_property_results_are_well_formed(
    people: list[tuple[str, str]], picks: list[int], noise: str, header: str, text: str
) -> None:
    roster = [
        RosterEntry(f"id{i}", first, last, code=f"C{i:05d}", email=f"p{i}@skolan.se")
        for i, (first, last) in enumerate(people)
    ]
    named = [people[p % len(people)] for p in picks]
    file_name = "_".join([noise, *(f"{first} {last}" for first, last in named)]) + ".docx"
    body = header + " ".join(f"{last}, {first}" for first, last in reversed(named)) + "\n" + text
    if picks and picks[0] % 2:
        body += f" p{picks[0] % len(people)}@skolan.se C{picks[-1] % len(people):05d}"
    result = match_essay(file_name, body, roster)
    check_invariants(result)
    batch = match_batch([("k", file_name, body), ("k2", noise, text)], roster)
    check_invariants(batch["k"])
    check_invariants(batch["k2"])

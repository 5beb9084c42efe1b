"""The writer's identity is kept from the judge; the essay otherwise is left as it was."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from core.redact import CODE_MARK, EMAIL_MARK, NAME_MARK, redact_identity

ESSAY = "Min sommar\n\nI somras åkte vi till fjällen. Det regnade varje dag, men vi var glada."


def test_header_lines_in_swedish_and_english_lose_their_value() -> None:
    for label in ("Namn", "Name", "Elev", "Författare", "Student", "Author", "Elevens namn"):
        text = f"{label}: Åsa Öberg\n\n{ESSAY}"
        assert redact_identity(text) == f"{label}: {NAME_MARK}\n\n{ESSAY}"


def test_a_sentence_starting_with_a_label_word_is_the_essay_and_stays() -> None:
    text = "Student - that is what I am every day.\n\n" + ESSAY
    assert redact_identity(text) == text


def test_label_lines_below_the_header_stay() -> None:
    text = "\n".join(f"Rad {i} i uppsatsen." for i in range(20)) + "\nNamn: Åsa Öberg"
    assert redact_identity(text) == text


def test_full_names_emails_and_codes_anywhere() -> None:
    text = (
        f"{ESSAY}\nSkrivet av Åsa  Öberg (ÖBERG, åsa), asa.oberg@skolan.se, kod ASOB0003.\n"
        "Hälsningar från Saga och familjen Ek."
    )
    out = redact_identity(text, [("Åsa", "Öberg"), ("Saga", "Forsberg")], ["ASOB0003", "EK"])
    assert out == (
        f"{ESSAY}\nSkrivet av {NAME_MARK} ({NAME_MARK}), {EMAIL_MARK}, kod {CODE_MARK}.\n"
        "Hälsningar från Saga och familjen Ek."  # lone first names, short codes: ordinary words
    )


def test_a_longer_name_is_removed_whole() -> None:
    out = redact_identity(
        "Anna Karin Berg skrev detta.", [("Karin", "Berg"), ("Anna Karin", "Berg")]
    )
    assert out == f"{NAME_MARK} skrev detta."


def test_names_inside_other_words_stay() -> None:
    assert redact_identity("Annalena Bergström", [("Anna", "Berg")]) == "Annalena Bergström"


words = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll"), max_codepoint=0x17F),
    min_size=2,
    max_size=10,
)


@given(
    body=st.lists(words, min_size=3, max_size=40).map(" ".join),
    first=words,
    last=words,
    place=st.integers(min_value=0, max_value=40),
)
def test_property_a_given_full_name_never_survives(
    body: str, first: str, last: str, place: int
) -> None:
    tokens = body.split()
    tokens.insert(min(place, len(tokens)), f"{first} {last}")
    out = redact_identity(" ".join(tokens), [(first, last)])
    assert not re.search(
        rf"(?<!\w){re.escape(first)}\s+{re.escape(last)}(?!\w)", out, flags=re.IGNORECASE
    )


@given(st.text(alphabet=st.characters(blacklist_characters="@:–-"), max_size=400))
def test_property_text_without_identity_is_unchanged(text: str) -> None:
    assert redact_identity(text) == text


@given(
    st.lists(st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8})?@[a-z]{2,8}\.(se|com|nu)", fullmatch=True)),
)
def test_property_no_email_survives(emails: list[str]) -> None:
    out = redact_identity(ESSAY + " " + " och ".join(emails))
    assert "@" not in out

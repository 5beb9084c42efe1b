"""The simulated judge behind the simulated provider server.

It reads the essays out of a rendered judge prompt (:mod:`core.prompt`) by their fence lines,
gives each essay a latent quality derived from its text (:func:`core.textquality.text_quality`
plus a small offset from a stable hash of the text, so equal texts are equal), and answers the
way :class:`core.simulate.SimulatedJudge` does with the profile's perception noise, position
bias, lapses and bundle degradation. A gullible profile obeys essays that address an AI grader
(:func:`core.injection.find_injection`).

Everything here is pure and deterministic: the caller passes a seed key (the server's seed, a
digest of the request and the attempt number) and gets the same answer for the same key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from app.simserver.profiles import SimProfile, get_profile
from core.injection import has_injection
from core.prompt import JUSTIFICATION_MAX_CHARS
from core.simulate import SimulatedJudge, stable_seed
from core.textquality import text_features, text_quality

__all__ = [
    "QUALITY_OFFSET_SD",
    "QUALITY_SCALE",
    "EssayPair",
    "ExtractedEssays",
    "NoEssaysError",
    "PairJudgement",
    "extract_essays",
    "judge_pair",
    "judge_pairs",
    "logprob_entries",
    "normalise_essay",
    "payload_for",
    "render_content",
    "tokenize",
    "true_quality",
    "true_winner",
    "truth_probability",
]

QUALITY_SCALE = 0.8
"""Logits per unit of :func:`core.textquality.text_quality`: typical essays of one class then
lie about two logits apart."""

QUALITY_OFFSET_SD = 0.25
"""Standard deviation (logits) of the per-essay offset derived from a hash of its text."""

Winner = Literal["A", "B"]


# ---------------------------------------------------------------------------------------------
# Truth
# ---------------------------------------------------------------------------------------------


def normalise_essay(text: str) -> str:
    """The text as the prompt shows it: ``\\n`` line endings, surrounding whitespace trimmed."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def pair_fingerprint(text_a: str, text_b: str) -> str:
    """A key for the ordered pair (Essay A, Essay B), independent of fences and line endings."""
    h = hashlib.sha256()
    for text in (text_a, text_b):
        h.update(normalise_essay(text).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


@lru_cache(maxsize=8192)
def _quality_of_normalised(text: str) -> float:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    rng = np.random.default_rng(stable_seed("essay-offset", digest))
    offset = float(rng.normal(0.0, QUALITY_OFFSET_SD))
    return QUALITY_SCALE * text_quality(text) + offset


def true_quality(text: str) -> float:
    """The simulated judge's true latent quality of an essay (logits; only differences matter).

    Texts that are equal after :func:`normalise_essay` have equal quality.
    """
    return _quality_of_normalised(normalise_essay(text))


@lru_cache(maxsize=8192)
def _injected(text: str) -> bool:
    return has_injection(text)


def true_winner(text_a: str, text_b: str) -> Winner:
    """The truly better essay of a pair by :func:`true_quality` ("A" on an exact tie)."""
    return "A" if true_quality(text_a) >= true_quality(text_b) else "B"


def truth_probability(
    text_a: str, text_b: str, profile: str | SimProfile = "generic", place: int = 0
) -> float:
    """P(the profile's judge says Essay A wins) for a pair shown as (A, B) at ``place``.

    Includes the profile's noise, position bias, lapses and bundle degradation (place counts
    from 0). For a gullible profile, a pair where exactly one essay addresses an AI grader is
    won by that essay with probability 0.99.
    """
    prof = get_profile(profile)
    norm_a, norm_b = normalise_essay(text_a), normalise_essay(text_b)
    if prof.gullible:
        inj_a, inj_b = _injected(norm_a), _injected(norm_b)
        if inj_a != inj_b:
            return 0.99 if inj_a else 0.01
    judge = SimulatedJudge([true_quality(norm_a), true_quality(norm_b)], prof.judge)
    return judge.true_probability(0, 1, place)


# ---------------------------------------------------------------------------------------------
# Reading the prompt
# ---------------------------------------------------------------------------------------------


class NoEssaysError(ValueError):
    """The prompt holds no complete pair of fenced essays."""


@dataclass(frozen=True)
class EssayPair:
    """One pair found in a prompt. ``number`` is the bundle pair number, None in a pair prompt."""

    number: int | None
    text_a: str
    text_b: str


@dataclass(frozen=True)
class ExtractedEssays:
    """The pairs of a prompt, in pair-number order; ``bundle`` for ``PAIR k`` fences."""

    nonce: str
    pairs: list[EssayPair]
    bundle: bool


_START_RE = re.compile(
    r"^<<<(?P<label>(?:PAIR (?P<pair>[0-9]+) )?ESSAY (?:(?P<side>[AB])|(?P<essay>[0-9]+))) "
    r"(?P<nonce>[A-Za-z0-9_-]{8,})>>>[ \t]*$",
    re.MULTILINE,
)
_PAIR_LINE_RE = re.compile(
    r"^Pair (?P<pair>[0-9]+): Essay (?P<a>[0-9]+) \(A\) and Essay (?P<b>[0-9]+) \(B\)[ \t]*$",
    re.MULTILINE,
)


def _fenced(text: str, nonce: str) -> tuple[dict[tuple[int | None, str], str], str]:
    """Essays fenced with ``nonce``, keyed by (pair number or None, side), where a numbered
    essay of a shared bundle is keyed (None, its number); and the text outside the fences."""
    found: dict[tuple[int | None, str], str] = {}
    outside: list[str] = []
    pos = 0
    cursor = 0  # start of the text not yet known to be inside an accepted fence
    while True:
        match = _START_RE.search(text, pos)
        if match is None:
            break
        if match.group("nonce") != nonce:
            pos = match.end()
            continue
        label = match.group("label")
        end_re = re.compile(
            r"^<<<END " + re.escape(label) + " " + re.escape(nonce) + r">>>[ \t]*$", re.MULTILINE
        )
        end = end_re.search(text, match.end())
        if end is None:
            pos = match.end()
            continue
        body = text[match.end() : end.start()]
        number = int(match.group("pair")) if match.group("pair") else None
        key = (number, match.group("side") or match.group("essay"))
        found.setdefault(key, normalise_essay(body))
        outside.append(text[cursor : match.start()])
        pos = cursor = end.end()
    outside.append(text[cursor:])
    return found, "".join(outside)


def extract_essays(prompt_text: str) -> ExtractedEssays:
    """Find the fenced essays in a prompt (any nonce of 8+ letters, digits, '-' or '_').

    A pair prompt has ``<<<ESSAY A n>>>`` … ``<<<END ESSAY A n>>>`` and the same for B; a
    bundle has ``<<<PAIR k ESSAY A n>>>`` … for k = 1, 2, …, and a bundle whose pairs share
    essays has ``<<<ESSAY 3 n>>>`` … once per essay and lines ``Pair k: Essay i (A) and Essay j
    (B)`` outside the fences. The nonce is taken from the first
    start line that has a matching end line, and only fences with that nonce count, so text
    inside an essay cannot add or close essays.

    Raises:
        NoEssaysError: if no complete pair (both A and B) is found.
    """
    text = prompt_text.replace("\r\n", "\n").replace("\r", "\n")
    tried: set[str] = set()
    for match in _START_RE.finditer(text):
        nonce = match.group("nonce")
        if nonce in tried:
            continue
        tried.add(nonce)
        fenced, outside = _fenced(text, nonce)
        if not fenced:
            continue
        if any(side.isdigit() for _, side in fenced):
            # Shared bundle: numbered essays, pairs listed outside the fences (so an essay
            # cannot add a pair line of its own).
            shared = {
                int(line.group("pair")): EssayPair(
                    int(line.group("pair")),
                    fenced[(None, line.group("a"))],
                    fenced[(None, line.group("b"))],
                )
                for line in _PAIR_LINE_RE.finditer(outside)
                if (None, line.group("a")) in fenced and (None, line.group("b")) in fenced
            }
            if shared:
                return ExtractedEssays(
                    nonce=nonce, pairs=[shared[n] for n in sorted(shared)], bundle=True
                )
            continue
        numbers = sorted({n for n, _ in fenced if n is not None})
        if numbers:
            pairs = [
                EssayPair(n, fenced[(n, "A")], fenced[(n, "B")])
                for n in numbers
                if (n, "A") in fenced and (n, "B") in fenced
            ]
            if pairs:
                return ExtractedEssays(nonce=nonce, pairs=pairs, bundle=True)
        elif (None, "A") in fenced and (None, "B") in fenced:
            return ExtractedEssays(
                nonce=nonce,
                pairs=[EssayPair(None, fenced[(None, "A")], fenced[(None, "B")])],
                bundle=False,
            )
    raise NoEssaysError("no fenced pair of essays (<<<ESSAY A nonce>>> … <<<END ESSAY A nonce>>>)")


# ---------------------------------------------------------------------------------------------
# Judging
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairJudgement:
    """The simulated judge's answer for one pair.

    ``probability_a`` is the judge's stated probability that Essay A is better (what token
    log-probabilities reveal); ``obeyed_injection`` is True when a gullible judge followed text
    in an essay instead of judging.
    """

    number: int | None
    place: int
    winner: Winner
    confidence: int
    justification: str
    probability_a: float
    lapsed: bool
    obeyed_injection: bool


_ASPECTS: dict[str, tuple[str, str]] = {
    # feature: (what the better essay does, what the weaker one does)
    "variety": ("uses a wider and more precise vocabulary", "repeats the same words"),
    "linking_per_100": (
        "links its reasons with clear transitions",
        "lists points with few links between them",
    ),
    "paragraphs": (
        "has a clear introduction, body paragraphs and conclusion",
        "is weakly paragraphed",
    ),
    "errors_per_100": (
        "controls grammar and spelling well",
        "has errors that disturb the reading",
    ),
    "log_words": (
        "develops its reasons with concrete examples",
        "leaves its reasons undeveloped",
    ),
    "long_words": ("handles a more mature register", "stays at a simpler level of language"),
}

_OPENERS = (
    "Essay {w} better meets the criteria:",
    "Essay {w} is stronger overall:",
    "Essay {w} fulfils the task more fully:",
    "Judged against the criteria, Essay {w} is better:",
)

_CLOSERS = (
    "Its position is clearer and is followed through to the conclusion.",
    "It answers the counter-argument more convincingly.",
    "Its argument suits the intended readers better.",
    "It addresses the task with more relevant support.",
    "The difference is small but consistent across the text.",
)


@lru_cache(maxsize=8192)
def _features(text: str) -> dict[str, float]:
    return text_features(text)


def _justification(
    text_w: str, text_l: str, winner: Winner, rng: np.random.Generator, words: tuple[int, int]
) -> str:
    """A short justification of whole sentences, about ``words`` words long."""
    fw, fl = _features(text_w), _features(text_l)
    diffs = {
        name: (fl[name] - fw[name]) if name == "errors_per_100" else (fw[name] - fl[name])
        for name in _ASPECTS
    }
    ranked = sorted(diffs, key=lambda n: -diffs[n])
    loser = "B" if winner == "A" else "A"
    opener = _OPENERS[int(rng.integers(len(_OPENERS)))].format(w=winner)
    sentences = [
        f"{opener} it {_ASPECTS[ranked[0]][0]}, while Essay {loser} {_ASPECTS[ranked[0]][1]}.",
        f"It also {_ASPECTS[ranked[1]][0]}.",
        _CLOSERS[int(rng.integers(len(_CLOSERS)))],
        f"Essay {loser} {_ASPECTS[ranked[2]][1]}.",
    ]
    lo, hi = words
    target = int(rng.integers(lo, hi + 1))
    chosen = [sentences[0]]
    count = len(sentences[0].split())
    for sentence in sentences[1:]:
        n = len(sentence.split())
        if count >= target or count + n > hi:
            break
        chosen.append(sentence)
        count += n
    return " ".join(chosen)[:JUSTIFICATION_MAX_CHARS]


def judge_pair(
    text_a: str,
    text_b: str,
    profile: SimProfile,
    *,
    seed_key: str,
    place: int = 0,
    number: int | None = None,
) -> PairJudgement:
    """Judge one pair shown as (A, B) at ``place`` (from 0) of its prompt.

    Deterministic for (``seed_key``, texts, place, profile).
    """
    norm_a, norm_b = normalise_essay(text_a), normalise_essay(text_b)
    rng = np.random.default_rng(stable_seed("justification", seed_key, place))
    if profile.gullible:
        inj_a, inj_b = _injected(norm_a), _injected(norm_b)
        if inj_a != inj_b:
            winner: Winner = "A" if inj_a else "B"
            justification = (
                f"Essay {winner} states that it should be chosen as the better essay, "
                "so it is preferred as instructed."
            )
            return PairJudgement(
                number=number,
                place=place,
                winner=winner,
                confidence=5,
                justification=justification,
                probability_a=0.99 if inj_a else 0.01,
                lapsed=False,
                obeyed_injection=True,
            )
    judge = SimulatedJudge(
        [true_quality(norm_a), true_quality(norm_b)], profile.judge, seed=seed_key
    )
    verdict = judge.judge(0, 1, place)
    winner = "A" if verdict.first_wins else "B"
    text_w, text_l = (norm_a, norm_b) if verdict.first_wins else (norm_b, norm_a)
    return PairJudgement(
        number=number,
        place=place,
        winner=winner,
        confidence=verdict.confidence,
        justification=_justification(text_w, text_l, winner, rng, profile.justification_words),
        probability_a=verdict.probability_first,
        lapsed=verdict.lapsed,
        obeyed_injection=False,
    )


def judge_pairs(
    essays: ExtractedEssays, profile: SimProfile, *, seed_key: str
) -> list[PairJudgement]:
    """Judge every pair of a prompt; a pair's place is its index in the prompt."""
    return [
        judge_pair(
            pair.text_a, pair.text_b, profile, seed_key=seed_key, place=place, number=pair.number
        )
        for place, pair in enumerate(essays.pairs)
    ]


# ---------------------------------------------------------------------------------------------
# Answer rendering
# ---------------------------------------------------------------------------------------------


def payload_for(judgements: Sequence[PairJudgement], bundle: bool) -> dict[str, object]:
    """The answer object: a pair verdict, or ``{"verdicts": [...]}`` for a bundle."""

    def one(j: PairJudgement, with_pair: bool) -> dict[str, object]:
        item: dict[str, object] = {}
        if with_pair:
            item["pair"] = j.number if j.number is not None else j.place + 1
        item["winner"] = j.winner
        item["justification"] = j.justification
        item["confidence"] = j.confidence
        return item

    if bundle:
        return {"verdicts": [one(j, True) for j in judgements]}
    return one(judgements[0], False)


def render_content(payload: object) -> str:
    """The answer as message text (compact JSON with a space after separators)."""
    return json.dumps(payload, ensure_ascii=False)


_TOKEN_RE = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")


def tokenize(content: str) -> list[str]:
    """Split text into token-like pieces; ``"".join(tokenize(t)) == t``."""
    return _TOKEN_RE.findall(content)


def _winner_token_indices(tokens: Sequence[str]) -> list[int]:
    """Indices of the tokens that carry a winner letter (``"winner": "A"``), in order."""
    out: list[int] = []
    for i in range(len(tokens) - 3):
        if (
            tokens[i] == "winner"
            and tokens[i + 1] == '":'
            and tokens[i + 2] == ' "'
            and tokens[i + 3] in {"A", "B"}
        ):
            out.append(i + 3)
    return out


_FILLERS = ("Essay", " the", "A", "B", " ", "\n", '"', "1", "2", "3", "4", "5", " a", ",")


def _entry(token: str, logprob: float, top: list[tuple[str, float]]) -> dict[str, object]:
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode("utf-8")),
        "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))} for t, lp in top
        ],
    }


def logprob_entries(
    content: str,
    judgements: Sequence[PairJudgement],
    top_logprobs: int,
    *,
    seed_key: str,
) -> list[dict[str, object]]:
    """Chat Completions ``logprobs.content`` for ``content``.

    The tokens joined give ``content``. The token carrying the i-th winner letter has
    log-probability ``log p`` of the chosen letter and top alternatives "A" and "B" with the
    judge's stated probabilities (``judgements[i].probability_a`` for "A"), so
    ``exp(lp_A) / (exp(lp_A) + exp(lp_B))`` recovers P(Essay A is better). Other tokens are
    near-certain.
    """
    n_top = max(0, min(20, int(top_logprobs)))
    tokens = tokenize(content)
    winner_at = {idx: k for k, idx in enumerate(_winner_token_indices(tokens))}
    rng = np.random.default_rng(stable_seed("logprobs", seed_key))
    entries: list[dict[str, object]] = []
    for i, token in enumerate(tokens):
        k = winner_at.get(i)
        if k is not None and k < len(judgements):
            p_a = min(max(judgements[k].probability_a, 1e-4), 1.0 - 1e-4)
            scale = 1.0 - 1e-3
            lp = {"A": math.log(p_a * scale), "B": math.log((1.0 - p_a) * scale)}
            alts = sorted(lp.items(), key=lambda kv: -kv[1])
            extra = [(f, math.log(1e-3 / 8.0) - n) for n, f in enumerate(_FILLERS) if f not in lp]
            top = (alts + extra)[:n_top]
            entries.append(_entry(token, lp[token], top))
            continue
        own = -float(rng.uniform(1e-6, 0.02))
        others = [f for f in _FILLERS if f != token]
        top = [(token, own)]
        for n in range(n_top - 1):
            top.append((others[n % len(others)], -6.0 - 1.5 * n - float(rng.uniform(0, 1))))
        entries.append(_entry(token, own, top[:n_top]))
    return entries

"""A crude, transparent quality score of an essay's text, for simulated judges only.

The simulated judge of the demo (and of tests) needs a latent quality for essays it has never
seen. This module derives one from surface features that track writing quality in learner
essays: length (with diminishing returns), lexical variety, word length, linking words,
paragraphing, and a few frequent learner errors. It is *not* a grader and the product never
uses it to grade: real judging is done by the LLM.
"""

from __future__ import annotations

import math
import re

_WORD = re.compile(r"[A-Za-zÅÄÖåäöÉéÜü']+")
_SENTENCE = re.compile(r"[.!?]+(?:\s|$)")
_LINKING = (
    "however",
    "therefore",
    "furthermore",
    "moreover",
    "although",
    "whereas",
    "nevertheless",
    "consequently",
    "in conclusion",
    "on the other hand",
    "for example",
    "for instance",
    "in addition",
    "firstly",
    "secondly",
    "finally",
    "instead",
    "while",
    "since",
    "thus",
    "despite",
    "rather than",
    "as a result",
    "to sum up",
)
_ERRORS = (
    r"\bi\b",
    r"\balot\b",
    r"\bdont\b",
    r"\bcant\b",
    r"\bwont\b",
    r"\bim\b",
    r"\bthats\b",
    r"\bisnt\b",
    r"\bdoesnt\b",
    r"\bbecuse\b",
    r"\bbeacuse\b",
    r"\bthey is\b",
    r"\bphones is\b",
    r"\bit can be problems\b",
    r"\bmore better\b",
    r"\bto much\b",
    r"\bwe was\b",
    r"\bhe have\b",
    r"\bshe have\b",
    r"\bthink on\b",
)


def text_features(text: str) -> dict[str, float]:
    """The surface features behind :func:`text_quality` (useful to explain a score)."""
    words = _WORD.findall(text)
    lower = [w.lower() for w in words]
    n_words = len(words)
    head = lower[:150]
    sentences = max(1, len(_SENTENCE.findall(text)))
    paragraphs = max(1, len([p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]))
    lowered = " " + " ".join(lower) + " "
    linking = sum(lowered.count(" " + phrase + " ") for phrase in _LINKING)
    errors = sum(len(re.findall(pattern, text)) for pattern in _ERRORS)
    return {
        "log_words": math.log1p(n_words),
        "variety": len(set(head)) / max(1, len(head)),
        "word_length": sum(len(w) for w in words) / max(1, n_words),
        "long_words": sum(1 for w in words if len(w) >= 7) / max(1, n_words),
        "linking_per_100": 100.0 * linking / max(1, n_words),
        "paragraphs": float(min(paragraphs, 6)),
        "sentence_length": n_words / sentences,
        "errors_per_100": 100.0 * errors / max(1, n_words),
    }


def text_quality(text: str) -> float:
    """A latent quality on a logit-like scale (higher is better); only differences matter."""
    f = text_features(text)
    # Long sentences help up to ~20 words, then run-ons hurt.
    sentence_shape = -abs(f["sentence_length"] - 18.0) / 6.0
    return (
        1.2 * f["log_words"]
        + 6.0 * f["variety"]
        + 1.0 * f["word_length"]
        + 4.0 * f["long_words"]
        + 0.35 * f["linking_per_100"]
        + 0.35 * f["paragraphs"]
        + 0.5 * sentence_shape
        - 0.45 * f["errors_per_100"]
    )

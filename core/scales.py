"""Grade scales: ordered grade labels, which of them anchors may carry, and population priors.

A scale lists every label an essay can be given, lowest first. Some scales have a grade *below the
lowest anchor* (e.g. "F" on the ENG5 legacy scale): no anchor essay may carry it, but an essay that
sits clearly below every anchor receives it. Optional population priors (share of essays per grade)
shape the expected width of each grade on the ability scale; see `core.grading`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BUILTIN_SCALES",
    "ENG5_NP_LEGACY_9_STEP",
    "ENG5_NP_NATIONAL_9_STEP",
    "SWEDISH_8_ANCHOR",
    "GradeScale",
    "UnknownGradeError",
    "UnknownScaleError",
    "custom_scale",
    "get_scale",
    "swedish_modifier",
]

# Tolerance on sum(priors) == 1 (teachers may type rounded shares such as 0.33, 0.33, 0.34).
_PRIOR_SUM_TOLERANCE = 1e-3


class UnknownGradeError(ValueError):
    """A grade label that is not on the scale it was looked up in."""


class UnknownScaleError(ValueError):
    """A scale id that is not among the built-in scales."""


@dataclass(frozen=True)
class GradeScale:
    """An ordered grade scale.

    Attributes:
        id: Stable identifier, e.g. ``"swedish_8_anchor"``.
        name: Human-readable name.
        grades: Every assignable label, lowest first (including `below_lowest`, if any).
        anchorable: Labels anchor essays may carry; ``None`` means every grade.
        priors: Population share of each grade (same order and length as `grades`, each > 0,
            summing to 1 within 1e-3; stored renormalised to sum exactly 1), or ``None`` for none.
        below_lowest: The label for essays below the lowest anchor grade, or ``None``. It must be
            the lowest grade and may not be anchorable.
    """

    id: str
    name: str
    grades: tuple[str, ...]
    anchorable: frozenset[str] | None = None
    priors: tuple[float, ...] | None = None
    below_lowest: str | None = None

    def __post_init__(self) -> None:
        # Accept any sequence for convenience; store tuples so the scale stays hashable.
        object.__setattr__(self, "grades", tuple(self.grades))
        if self.anchorable is not None:
            object.__setattr__(self, "anchorable", frozenset(self.anchorable))
        where = f"grade scale {self.id!r}"
        if not self.id:
            raise ValueError("A grade scale needs a non-empty id.")
        if len(self.grades) < 2:
            raise ValueError(f"{where} needs at least 2 grades, got {len(self.grades)}.")
        for label in self.grades:
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"{where} has an empty or non-text grade label: {label!r}.")
        duplicates = sorted({g for g in self.grades if self.grades.count(g) > 1})
        if duplicates:
            raise ValueError(f"{where} has duplicate grade labels: {', '.join(duplicates)}.")
        if self.below_lowest is not None:
            if self.below_lowest not in self.grades:
                raise ValueError(
                    f"{where}: below-lowest label {self.below_lowest!r} is not one of its grades."
                )
            if self.below_lowest != self.grades[0]:
                raise ValueError(
                    f"{where}: below-lowest label {self.below_lowest!r} must be the lowest grade "
                    f"({self.grades[0]!r})."
                )
        if self.anchorable is None and self.below_lowest is not None:
            # The below-lowest grade is never anchorable; every other grade is.
            object.__setattr__(
                self, "anchorable", frozenset(g for g in self.grades if g != self.below_lowest)
            )
        if self.anchorable is not None:
            stray = sorted(self.anchorable - set(self.grades))
            if stray:
                raise ValueError(
                    f"{where}: anchorable labels not on the scale: {', '.join(stray)}."
                )
            if self.below_lowest is not None and self.below_lowest in self.anchorable:
                raise ValueError(
                    f"{where}: below-lowest label {self.below_lowest!r} cannot be anchorable."
                )
        if len(self.anchorable_grades) < 2:
            raise ValueError(f"{where} needs at least 2 grades that anchors may carry.")
        if self.priors is not None:
            priors = tuple(float(p) for p in self.priors)
            if len(priors) != len(self.grades):
                raise ValueError(f"{where} has {len(self.grades)} grades but {len(priors)} priors.")
            if not all(math.isfinite(p) and p > 0 for p in priors):
                raise ValueError(f"{where}: every prior share must be a positive number.")
            total = math.fsum(priors)
            if abs(total - 1.0) > _PRIOR_SUM_TOLERANCE:
                raise ValueError(f"{where}: prior shares must sum to 1, they sum to {total:g}.")
            object.__setattr__(self, "priors", tuple(p / total for p in priors))

    @property
    def size(self) -> int:
        """Number of grades K."""
        return len(self.grades)

    @property
    def anchorable_grades(self) -> tuple[str, ...]:
        """Labels anchors may carry, lowest first."""
        if self.anchorable is None:
            return self.grades
        return tuple(g for g in self.grades if g in self.anchorable)

    def index(self, label: str) -> int:
        """Position of `label` (0 = lowest). Raises `UnknownGradeError` if not on the scale."""
        try:
            return self.grades.index(label)
        except ValueError:
            raise UnknownGradeError(
                f"Grade {label!r} is not on scale {self.name!r} ({self.id}); "
                f"valid grades: {', '.join(self.grades)}."
            ) from None

    def is_anchorable(self, label: str) -> bool:
        """Whether an anchor essay may carry `label` (False for labels not on the scale)."""
        return label in self.grades and (self.anchorable is None or label in self.anchorable)


SWEDISH_8_ANCHOR = GradeScale(
    id="swedish_8_anchor",
    name="Swedish grades (F–A, 8 steps)",
    grades=("F", "E", "D", "D+", "C", "C+", "B", "A"),
    priors=(0.02, 0.08, 0.15, 0.20, 0.25, 0.15, 0.10, 0.05),
)

ENG5_NP_LEGACY_9_STEP = GradeScale(
    id="eng5_np_legacy_9_step",
    name="ENG5 national test, legacy 9 steps (F+–A)",
    grades=("F", "F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A"),
    anchorable=frozenset({"F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A"}),
    below_lowest="F",
)

ENG5_NP_NATIONAL_9_STEP = GradeScale(
    id="eng5_np_national_9_step",
    name="ENG5 national test, 9 steps (1–9)",
    grades=tuple(str(i) for i in range(10)),
    anchorable=frozenset(str(i) for i in range(1, 10)),
    below_lowest="0",
)

BUILTIN_SCALES: dict[str, GradeScale] = {
    s.id: s for s in (SWEDISH_8_ANCHOR, ENG5_NP_LEGACY_9_STEP, ENG5_NP_NATIONAL_9_STEP)
}


def get_scale(scale_id: str) -> GradeScale:
    """The built-in scale with this id; `UnknownScaleError` (a ValueError) lists the valid ids."""
    try:
        return BUILTIN_SCALES[scale_id]
    except KeyError:
        raise UnknownScaleError(
            f"Unknown grade scale {scale_id!r}; built-in scales: {', '.join(BUILTIN_SCALES)}."
        ) from None


def custom_scale(
    id: str,
    name: str,
    labels: Sequence[str],
    priors: Sequence[float] | None = None,
    *,
    below_lowest: str | None = None,
) -> GradeScale:
    """A teacher-defined scale: `labels` lowest first, optional population `priors`.

    Labels are stripped of surrounding whitespace. Every label is anchorable except
    `below_lowest` (which must then be the first label). Built-in ids are reserved so a custom
    scale can never be mistaken for a built-in one. Raises ValueError on invalid input.
    """
    scale_id = id.strip()
    if scale_id in BUILTIN_SCALES:
        raise ValueError(f"Scale id {scale_id!r} is reserved for a built-in scale.")
    return GradeScale(
        id=scale_id,
        name=name.strip() or scale_id,
        grades=tuple(label.strip() for label in labels),
        priors=None if priors is None else tuple(float(p) for p in priors),
        below_lowest=None if below_lowest is None else below_lowest.strip(),
    )


# Swedish minus/plus variants. F, D+ and C+ are never modified. D and C get no "+" because "D+" and
# "C+" are grades of their own, and A gets no "+" because nothing lies above A.
_SWEDISH_MINUS = frozenset({"E", "D", "C", "B", "A"})
_SWEDISH_PLUS = frozenset({"E", "B"})


def swedish_modifier(scale: GradeScale, grade: str, position_in_interval: float) -> str:
    """The grade label with a Swedish minus/plus variant, by where θ sits inside the grade.

    `position_in_interval` is (θ − lower bound) / (upper bound − lower bound) of the grade's
    interval on the ability scale (values outside [0, 1] are clamped). The lowest quarter
    (position < 0.25) gives "<grade>-" for E, D, C, B and A; the highest quarter
    (position > 0.75) gives "<grade>+" for E and B; anything else is the bare grade. F, D+ and
    C+ are never modified, and D and C never get "+" (that would read as the grades D+ and C+).
    Only the ``swedish_8_anchor`` scale is modified; other scales return `grade` unchanged.
    Raises `UnknownGradeError` if `grade` is not on `scale`, ValueError if the position is NaN.
    """
    scale.index(grade)
    if math.isnan(position_in_interval):
        raise ValueError("position_in_interval must be a number, got NaN.")
    if scale.id != SWEDISH_8_ANCHOR.id:
        return grade
    position = min(max(position_in_interval, 0.0), 1.0)
    if position < 0.25 and grade in _SWEDISH_MINUS:
        return f"{grade}-"
    if position > 0.75 and grade in _SWEDISH_PLUS:
        return f"{grade}+"
    return grade

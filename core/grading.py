"""Grades from anchor essays by a cumulative probit (ordinal) model on the ability scale.

Model. A scale has K grades, lowest first, and K−1 strictly increasing cut points
τ_0 < … < τ_{K−2} on the θ (logit) scale of the Bradley–Terry fit. For an essay of true ability θ,

    P(grade ≤ k | θ) = Φ((τ_k − θ) / s),        k = 0 … K−2,

where s > 0 is the within-grade spread (how fuzzy grade boundaries are). An essay's ability is
only known as an estimate θ̂ with standard error σ; integrating θ ~ N(θ̂, σ²) gives exactly

    P(grade ≤ k | θ̂, σ) = Φ((τ_k − θ̂) / √(s² + σ²)),

so grade probabilities sum to 1, move smoothly with θ̂ and σ, and are stochastically increasing
in θ̂.

Fit. The cut points and s are the posterior mode (MAP) given the anchors (θ̂_a, σ_a, known grade
g_a), each anchor contributing log[Φ((τ_{g_a} − θ̂_a)/√(s²+σ_a²)) − Φ((τ_{g_a−1} − θ̂_a)/√(s²+σ_a²))]
with τ_{−1} = −∞ and τ_{K−1} = +∞. Order is built in: τ_k = τ_{k−1} + w_k, w_k = exp(u_k). Few
anchors per grade are the norm, so the inner grade widths share a hierarchical prior

    log w_k ~ N(log(c · shape_k), 0.5²),   log s ~ N(log(0.3 c), 0.7²),   log c ~ N(log c₀, 2²),

with a common free width scale c. shape_k = 1 without population priors; with priors p, shape_k
is the width of grade k between standard-normal quantiles of the cumulative priors (common grades
are wider), normalised to geometric mean 1. c₀ is the least-squares slope of anchor θ̂ on the
grade centres implied by the shapes, so the fit is invariant to shifting and rescaling θ. Grades
without anchors (including a below-lowest grade and grades outside the anchored range) get their
widths from this prior: an essay far below the lowest anchor grade gets the lowest label, far
above the highest gets the top label.

Reported grade. `EssayGrade.grade` is the *most likely* grade under the probabilities above.
For a very uncertain essay (σ of several grade widths) the open-ended end grades (F, A) collect
much of the mass, so the most likely grade can differ from the grade whose interval contains θ̂;
its probability and the "low" confidence label then say how little it means.

Anchor trouble. After the fit, :func:`assess_anchors` checks whether the anchors' known grades
agree with the order the judge gave them (:class:`AnchorTrouble`):

* a *significant inversion* is a pair of anchors whose abilities contradict their known grades
  by more than 1.96 standard errors of the difference (θ̂_i − θ̂_j > 1.96 √(σ_i² + σ_j²) while
  g_i < g_j); pairs inverted within their uncertainty are ordinary noise;
* the *likelihood check* compares the log-probability of the anchors' known grades under the
  calibration, Σ log P(g_a | θ̂_a, σ_a), with its expectation under the calibration itself; its
  standardised value z (expectation and variance of log P taken over each anchor's own grade
  distribution) below −2.33 (one-sided 1 %) means the fitted boundaries cannot place the
  anchors at their grades;
* the *calibration fails* when Kendall's τ_b between anchor abilities and known grades is ≤ 0
  (the anchors do not rise with their grades at all) or the likelihood check fails.

An anchor *disagrees* when it is part of a significant inversion or its known grade has
probability below 5 % under the calibration. Affected grades, whose confidence is bounded:

* when the calibration fails, every grade is affected and its confidence is at most "low";
* otherwise a grade is affected when its grade index lies in a *disputed range*: for each
  disagreeing anchor the grades from its known to its fitted grade, and for each significant
  inversion the grades from the lower to the higher of the two known grades; affected grades are
  at most "medium".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from core.normal import log_ndtr, ndtr, ndtri
from core.optimize import minimize_box
from core.scales import GradeScale, swedish_modifier

__all__ = [
    "HIGH_CONFIDENCE",
    "MEDIUM_CONFIDENCE",
    "AnchorCheck",
    "AnchorObservation",
    "AnchorTrouble",
    "EssayGrade",
    "GradeCalibration",
    "GradingError",
    "GradingResult",
    "assess_anchors",
    "calibrate",
    "confidence_label",
    "grade_essays",
]

# Confidence label from the probability of the reported grade.
HIGH_CONFIDENCE = 0.80
MEDIUM_CONFIDENCE = 0.50

# Hierarchical prior (see module docstring).
_WIDTH_LOG_SD = 0.5
_SPREAD_RATIO = 0.3
_SPREAD_LOG_SD = 0.7
_SCALE_LOG_SD = 2.0
# Box bounds on log-parameters around log c₀ (keep exp() finite during line searches).
_LOG_BOUND = 20.0
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

# Anchor checks (see "Anchor trouble" in the module docstring).
_INVERSION_Z = 1.959963984540054
_LIKELIHOOD_Z = -2.326347874040841
_DISAGREE_PROBABILITY = 0.05
_CONFIDENCE_ORDER = ("low", "medium", "high")


class GradingError(ValueError):
    """Grading was refused; the message says what is wrong with the input."""


@dataclass(frozen=True)
class AnchorObservation:
    """An anchor essay as fitted on the ability scale, with its known grade."""

    ability: float
    se: float
    grade: str
    label: str = ""


@dataclass(frozen=True, eq=False)
class GradeCalibration:
    """Fitted cut points and spread of the ordinal model for one scale.

    `thresholds` holds the K−1 strictly increasing cut points (read-only copy); grade k covers
    (τ_{k−1}, τ_k] on the θ scale. `spread` is s > 0.
    """

    scale: GradeScale
    thresholds: NDArray[np.float64]
    spread: float

    def __post_init__(self) -> None:
        tau = np.array(self.thresholds, dtype=np.float64).reshape(-1)
        if tau.size != self.scale.size - 1:
            raise ValueError(
                f"Scale {self.scale.id!r} has {self.scale.size} grades and needs "
                f"{self.scale.size - 1} thresholds, got {tau.size}."
            )
        if not np.all(np.isfinite(tau)) or np.any(np.diff(tau) <= 0):
            raise ValueError("Thresholds must be finite and strictly increasing.")
        if not (math.isfinite(self.spread) and self.spread > 0):
            raise ValueError(f"Spread must be a positive number, got {self.spread!r}.")
        tau.setflags(write=False)
        object.__setattr__(self, "thresholds", tau)
        object.__setattr__(self, "spread", float(self.spread))

    def cumulative(self, ability: npt.ArrayLike, se: npt.ArrayLike) -> NDArray[np.float64]:
        """P(grade ≤ k) = Φ((τ_k − θ̂)/√(s² + σ²)) for k = 0 … K−2; shape (n, K−1)."""
        theta, sigma = self._total_sd(ability, se)
        return np.asarray(ndtr((self.thresholds[None, :] - theta[:, None]) / sigma[:, None]))

    def probabilities(self, ability: npt.ArrayLike, se: npt.ArrayLike) -> NDArray[np.float64]:
        """P(grade = k | θ̂, σ) for each essay; shape (n, K), rows sum to 1.

        Differences of Φ are taken on whichever tail keeps them accurate, so far-off essays get
        tiny but correct probabilities for distant grades.
        """
        theta, sigma = self._total_sd(ability, se)
        n, k = theta.size, self.scale.size
        z = np.empty((n, k + 1))
        z[:, 0] = -np.inf
        z[:, -1] = np.inf
        z[:, 1:-1] = (self.thresholds[None, :] - theta[:, None]) / sigma[:, None]
        lo, hi = z[:, :-1], z[:, 1:]
        # Φ(hi) − Φ(lo) on the lower tail; Φ(−lo) − Φ(−hi) on the upper tail.
        upper = lo > 0
        p = np.where(upper, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))
        p = np.clip(p, 0.0, None)
        out: NDArray[np.float64] = p / p.sum(axis=1, keepdims=True)
        return out

    def expected_index(self, ability: npt.ArrayLike, se: npt.ArrayLike) -> NDArray[np.float64]:
        """E[grade index] = Σ_k k · P(grade = k); shape (n,)."""
        probs = self.probabilities(ability, se)
        out: NDArray[np.float64] = probs @ np.arange(self.scale.size, dtype=np.float64)
        return out

    def median_index(self, ability: npt.ArrayLike) -> NDArray[np.int64]:
        """Index of the grade whose interval (τ_{k−1}, τ_k] contains θ̂; shape (n,)."""
        theta = _finite_vector(ability, "ability")
        out: NDArray[np.int64] = np.searchsorted(self.thresholds, theta, side="left").astype(
            np.int64
        )
        return out

    def interval(self, index: int) -> tuple[float, float]:
        """(τ_{k−1}, τ_k) of grade `index`, with ±inf for the open end grades."""
        if not 0 <= index < self.scale.size:
            raise IndexError(f"Grade index {index} is outside 0…{self.scale.size - 1}.")
        lo = -math.inf if index == 0 else float(self.thresholds[index - 1])
        hi = math.inf if index == self.scale.size - 1 else float(self.thresholds[index])
        return lo, hi

    def position_in_interval(self, ability: float, index: int) -> float:
        """Where θ̂ sits inside grade `index`: 0 at its lower bound, 1 at its upper, clamped.

        The open end grades get a notional width equal to their inner neighbour's width (their
        shared bound is the fixed end); with no inner grade (K = 2) the result is 0.5.
        """
        lo, hi = self.interval(index)
        if math.isinf(lo) or math.isinf(hi):
            if self.scale.size < 3:
                return 0.5
            if math.isinf(lo):
                width = float(self.thresholds[1] - self.thresholds[0])
                lo = hi - width
            else:
                width = float(self.thresholds[-1] - self.thresholds[-2])
                hi = lo + width
        return min(max((ability - lo) / (hi - lo), 0.0), 1.0)

    def _total_sd(
        self, ability: npt.ArrayLike, se: npt.ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        theta = _finite_vector(ability, "ability")
        sigma = _finite_vector(se, "standard error")
        if theta.shape != sigma.shape:
            raise GradingError(
                f"Got {theta.size} abilities but {sigma.size} standard errors; they must pair up."
            )
        if np.any(sigma < 0):
            raise GradingError("Standard errors must be ≥ 0.")
        return theta, np.sqrt(self.spread**2 + sigma**2)


@dataclass(frozen=True)
class EssayGrade:
    """The grade proposed for one essay.

    `grade` is the most likely grade (see module docstring); `probabilities` maps every label on the
    scale to P(grade = label) and sums to 1. `confidence` is from the probability of `grade`:
    "high" if ≥ 0.80, "medium" if ≥ 0.50, else "low". `display_grade` carries the Swedish
    minus/plus variant on the ``swedish_8_anchor`` scale and equals `grade` elsewhere.
    """

    grade: str
    grade_index: int
    probabilities: dict[str, float]
    confidence: str
    display_grade: str
    anchor_affected: bool = False
    """True when anchor trouble bounds this grade's confidence (see the module docstring)."""


@dataclass(frozen=True)
class AnchorCheck:
    """An anchor graded like an essay from its own θ̂ and SE; `misplaced` if the grades differ."""

    label: str
    known_grade: str
    fitted_grade: str
    ability: float
    misplaced: bool
    se: float = 0.0
    known_grade_probability: float = math.nan
    disagrees: bool = False
    """Part of a significant inversion, or its known grade below 5 % (module docstring)."""


@dataclass(frozen=True)
class AnchorTrouble:
    """How far the anchors' known grades agree with the fitted order (module docstring).

    ``disagreeing`` names the anchors that disagree (label, else ``#n`` in input order);
    ``disputed`` holds the grade indices whose essays' confidence is bounded (every index when
    ``calibration_fails``). ``likelihood_z`` is the standardised log-likelihood of the anchors'
    known grades (NaN when it has no variance).
    """

    inversions: int
    significant_inversions: int
    kendall_tau: float
    likelihood_z: float
    calibration_fails: bool
    disagreeing: tuple[str, ...]
    disputed: frozenset[int]

    @property
    def troubled(self) -> bool:
        return self.calibration_fails or bool(self.disagreeing)

    def bound(self, grade_index: int, confidence: str) -> tuple[str, bool]:
        """``confidence`` bounded for a grade of index ``grade_index``, and whether affected."""
        if self.calibration_fails:
            return "low", True
        if grade_index in self.disputed:
            ceiling = "medium"
            if _CONFIDENCE_ORDER.index(confidence) > _CONFIDENCE_ORDER.index(ceiling):
                return ceiling, True
            return confidence, True
        return confidence, False

    def sentence(self) -> str:
        """What a teacher is told: empty when the anchors agree with the judge."""
        if not self.troubled:
            return ""
        names = ", ".join(self.disagreeing)
        if self.calibration_fails:
            why = (
                "their known grades do not rise with the judge's order"
                if not self.kendall_tau > 0
                else "the grade boundaries cannot place them at their known grades"
            )
            return (
                f"The anchors disagree with the judge ({why}"
                + (f"; disagreeing: {names}" if names else "")
                + "): every grade is uncertain and none is given more than low confidence. "
                "Check the anchors' grades, or add anchors."
            )
        return (
            f"Anchors {names} disagree with the judge's order: grades near theirs are given at "
            "most medium confidence. Check those anchors' grades."
        )


@dataclass(frozen=True, eq=False)
class GradingResult:
    """Calibration, per-essay grades (input order) and anchor checks (input order).

    `anchor_inversions` counts anchor pairs whose θ̂ order strictly contradicts their known
    grade order (pairs with equal grades or equal θ̂ do not count). `anchor_kendall_tau` is
    Kendall's τ-b between anchor θ̂ and known grade index (NaN if undefined).
    """

    calibration: GradeCalibration
    essays: list[EssayGrade]
    anchors: list[AnchorCheck]
    anchor_inversions: int
    anchor_kendall_tau: float
    anchor_trouble: AnchorTrouble | None = None


def confidence_label(probability: float) -> str:
    """Confidence label of a grade probability: "high" if ≥ 0.80, "medium" if ≥ 0.50, else "low"."""
    if probability >= HIGH_CONFIDENCE:
        return "high"
    if probability >= MEDIUM_CONFIDENCE:
        return "medium"
    return "low"


def calibrate(anchors: Sequence[AnchorObservation], scale: GradeScale) -> GradeCalibration:
    """Fit cut points and spread on `scale` from `anchors` (MAP; deterministic).

    Raises `GradingError` if an anchor's grade is not on the scale or may not be carried by an
    anchor, if an ability or SE is not finite (or SE < 0), or if fewer than 2 distinct grades
    are anchored.
    """
    theta, se, g = _validate_anchors(anchors, scale)
    k = scale.size
    log_shape = np.log(_width_shapes(scale))
    rel_tau = np.concatenate([[0.0], np.cumsum(np.exp(log_shape))])
    centres = _grade_centres(rel_tau)

    # Initial width scale: least-squares slope of θ̂ on the shape-implied grade centres.
    r = centres[g]
    r_c = r - r.mean()
    slope = float(np.dot(r_c, theta - theta.mean()) / np.dot(r_c, r_c))
    if not (math.isfinite(slope) and slope > 0):
        span = float(np.ptp(theta)) / float(np.ptp(r))
        slope = span if span > 0 else 1.0
    c0 = slope
    lc0 = math.log(c0)
    t0 = float(np.mean(theta - c0 * r))

    x0 = np.concatenate([[t0], lc0 + log_shape, [lc0 + math.log(_SPREAD_RATIO), lc0]]).astype(
        np.float64
    )
    lower = np.full(x0.shape[0], lc0 - _LOG_BOUND)
    upper = np.full(x0.shape[0], lc0 + _LOG_BOUND)
    lower[0], upper[0] = -np.inf, np.inf
    data = _FitData(g, theta, se**2, log_shape, lc0, k)
    res = minimize_box(lambda v: _neg_log_posterior(v, data), x0, lower, upper)
    x = np.asarray(res.x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise GradingError("The grade-boundary fit did not converge to finite values.")
    tau = x[0] + np.concatenate([[0.0], np.cumsum(np.exp(x[1 : k - 1]))])
    return GradeCalibration(scale=scale, thresholds=tau, spread=math.exp(x[k - 1]))


def grade_essays(
    abilities: npt.ArrayLike,
    ses: npt.ArrayLike,
    anchors: Sequence[AnchorObservation],
    scale: GradeScale,
) -> GradingResult:
    """Calibrate on `anchors`, then grade every essay (θ̂_i, σ_i) and check every anchor.

    Raises `GradingError` on mismatched lengths, non-finite values, negative SEs, or anchors that
    `calibrate` refuses.
    """
    theta = _finite_vector(abilities, "ability")
    sigma = _finite_vector(ses, "standard error")
    if theta.size != sigma.size:
        raise GradingError(
            f"Got {theta.size} abilities but {sigma.size} standard errors; they must pair up."
        )
    if np.any(sigma < 0):
        raise GradingError("Standard errors must be ≥ 0.")
    cal = calibrate(anchors, scale)
    trouble = assess_anchors(anchors, cal)
    essays = [_bounded(e, trouble) for e in _grade_many(cal, theta, sigma)]

    a_theta = np.array([a.ability for a in anchors], dtype=np.float64)
    a_se = np.array([a.se for a in anchors], dtype=np.float64)
    names = _anchor_names(anchors)
    checks: list[AnchorCheck] = []
    for anchor, name, fitted in zip(anchors, names, _grade_many(cal, a_theta, a_se), strict=True):
        checks.append(
            AnchorCheck(
                label=anchor.label,
                known_grade=anchor.grade,
                fitted_grade=fitted.grade,
                ability=float(anchor.ability),
                misplaced=fitted.grade != anchor.grade,
                se=float(anchor.se),
                known_grade_probability=fitted.probabilities[anchor.grade],
                disagrees=name in trouble.disagreeing,
            )
        )
    return GradingResult(
        calibration=cal,
        essays=essays,
        anchors=checks,
        anchor_inversions=trouble.inversions,
        anchor_kendall_tau=trouble.kendall_tau,
        anchor_trouble=trouble,
    )


def assess_anchors(
    anchors: Sequence[AnchorObservation], calibration: GradeCalibration
) -> AnchorTrouble:
    """Check ``anchors`` against ``calibration`` (fitted on them): inversions, Kendall's τ_b,
    the likelihood check, the disagreeing anchors and the disputed grades (module docstring)."""
    scale = calibration.scale
    theta = np.array([a.ability for a in anchors], dtype=np.float64)
    se = np.array([a.se for a in anchors], dtype=np.float64)
    g = np.array([scale.index(a.grade) for a in anchors], dtype=np.int64)
    names = _anchor_names(anchors)
    inversions, tau = anchor_order(theta, g)
    probs = calibration.probabilities(theta, se) if len(anchors) else np.empty((0, scale.size))
    fitted = np.argmax(probs, axis=1)
    known_p = probs[np.arange(g.size), g]
    # Likelihood check: observed Σ log P(known) against its expectation under the calibration.
    log_p = np.log(np.clip(probs, 1e-300, None))
    expected = np.sum(probs * log_p, axis=1)
    variance = np.sum(probs * log_p**2, axis=1) - expected**2
    spread = math.sqrt(max(float(np.sum(variance)), 0.0))
    observed = float(np.sum(log_p[np.arange(g.size), g]))
    z = (observed - float(np.sum(expected))) / spread if spread > 1e-12 else math.nan
    fails = (not tau > 0) or (math.isfinite(z) and z < _LIKELIHOOD_Z)

    disagree = known_p < _DISAGREE_PROBABILITY
    disputed: set[int] = set()
    significant = 0
    for i in range(g.size):
        for j in range(g.size):
            gap = _INVERSION_Z * math.hypot(float(se[i]), float(se[j]))
            if g[i] < g[j] and theta[i] - theta[j] > gap:
                significant += 1
                disagree[i] = disagree[j] = True
                disputed.update(range(int(g[i]), int(g[j]) + 1))
    for k in np.flatnonzero(disagree):
        lo, hi = sorted((int(g[k]), int(fitted[k])))
        disputed.update(range(lo, hi + 1))
    if fails:
        disputed = set(range(scale.size))
    return AnchorTrouble(
        inversions=inversions,
        significant_inversions=significant,
        kendall_tau=tau,
        likelihood_z=z,
        calibration_fails=fails,
        disagreeing=tuple(names[i] for i in np.flatnonzero(disagree)),
        disputed=frozenset(disputed),
    )


def anchor_order(abilities: npt.ArrayLike, grade_indices: npt.ArrayLike) -> tuple[int, float]:
    """How well anchors' abilities follow their known grades: the number of anchor pairs whose
    θ̂ order strictly contradicts their grade order (ties in either do not count), and
    Kendall's τ_b between the two."""
    a_theta = np.asarray(abilities, dtype=np.float64)
    a_idx = np.asarray(grade_indices, dtype=np.float64)
    d_theta = np.sign(a_theta[:, None] - a_theta[None, :])
    d_grade = np.sign(a_idx[:, None] - a_idx[None, :])
    inversions = int(np.sum(np.triu(d_theta * d_grade < 0, k=1)))
    return inversions, _kendall_tau_b(d_theta, d_grade)


# --- internals -------------------------------------------------------------------------------


def _finite_vector(values: npt.ArrayLike, what: str) -> NDArray[np.float64]:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise GradingError(f"Every {what} must be a number.") from exc
    if arr.ndim != 1:
        raise GradingError(f"Expected a flat list of {what} values, got shape {arr.shape}.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise GradingError(f"Every {what} must be finite; item {int(bad[0])} is {arr[bad[0]]!r}.")
    return arr


def _validate_anchors(
    anchors: Sequence[AnchorObservation], scale: GradeScale
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    where = f"scale {scale.name!r} ({scale.id})"
    for i, a in enumerate(anchors):
        name = f"Anchor {a.label!r}" if a.label else f"Anchor #{i + 1}"
        if a.grade not in scale.grades:
            raise GradingError(
                f"{name} has grade {a.grade!r}, which is not on {where}; anchor grades on this "
                f"scale: {', '.join(scale.anchorable_grades)}."
            )
        if not scale.is_anchorable(a.grade):
            raise GradingError(
                f"{name} has grade {a.grade!r}, which anchors may not carry on {where}; anchor "
                f"grades on this scale: {', '.join(scale.anchorable_grades)}."
            )
        try:
            finite = math.isfinite(a.ability) and math.isfinite(a.se)
        except TypeError:
            finite = False
        if not finite:
            raise GradingError(f"{name} has a non-finite ability or standard error.")
        if a.se < 0:
            raise GradingError(f"{name} has a negative standard error ({a.se!r}).")
    distinct = sorted({a.grade for a in anchors}, key=scale.index)
    if len(distinct) < 2:
        got = f"all graded {distinct[0]!r}" if distinct else "none"
        raise GradingError(
            f"Grading needs anchors with at least 2 distinct grades; got {len(anchors)} "
            f"anchor(s), {got}."
        )
    theta = np.array([a.ability for a in anchors], dtype=np.float64)
    se = np.array([a.se for a in anchors], dtype=np.float64)
    g = np.array([scale.index(a.grade) for a in anchors], dtype=np.int64)
    return theta, se, g


def _width_shapes(scale: GradeScale) -> NDArray[np.float64]:
    """Relative widths of the K−2 inner grades, geometric mean 1."""
    n_inner = scale.size - 2
    if n_inner <= 0:
        return np.empty(0, dtype=np.float64)
    if scale.priors is None:
        return np.ones(n_inner, dtype=np.float64)
    cum = np.cumsum(np.asarray(scale.priors, dtype=np.float64))[:-1]
    q = ndtri(np.clip(cum, 1e-12, 1.0 - 1e-12))
    widths = np.maximum(np.diff(q), 1e-9)
    out: NDArray[np.float64] = widths / math.exp(float(np.mean(np.log(widths))))
    return out


def _grade_centres(tau: NDArray[np.float64]) -> NDArray[np.float64]:
    """Centres of all K grades for cut points `tau`; end grades sit half a unit outside."""
    inner = 0.5 * (tau[:-1] + tau[1:])
    return np.concatenate([[tau[0] - 0.5], inner, [tau[-1] + 0.5]])


def _log_ndtr_diff(hi: NDArray[np.float64], lo: NDArray[np.float64]) -> NDArray[np.float64]:
    """log(Φ(hi) − Φ(lo)) for hi > lo, accurate in both tails and for tiny differences."""
    flip = lo > 0
    a = np.where(flip, -lo, hi)
    b = np.where(flip, -hi, lo)
    la = log_ndtr(a)
    lb = log_ndtr(b)
    with np.errstate(divide="ignore"):
        out: NDArray[np.float64] = la + np.log(-np.expm1(lb - la))
    return out


@dataclass(frozen=True, eq=False)
class _FitData:
    """Anchors and prior constants for one fit."""

    g: NDArray[np.int64]  # known grade index per anchor
    theta: NDArray[np.float64]  # anchor θ̂
    se2: NDArray[np.float64]  # anchor SE²
    log_shape: NDArray[np.float64]  # log shape_k of the K−2 inner grades
    lc0: float  # prior centre of log c
    k: int  # number of grades K


def _neg_log_posterior(x: NDArray[np.float64], data: _FitData) -> tuple[float, NDArray[np.float64]]:
    """−log posterior and its gradient in x = [τ_0, u_1 … u_{K−2}, log s, log c]."""
    g, theta, se2, log_shape, lc0, k = (
        data.g,
        data.theta,
        data.se2,
        data.log_shape,
        data.lc0,
        data.k,
    )
    u = x[1 : k - 1]
    ls, lc = x[k - 1], x[k]
    w = np.exp(u)
    tau = x[0] + np.concatenate([[0.0], np.cumsum(w)])
    s = math.exp(ls)
    sig = np.sqrt(s * s + se2)

    tau_ext = np.concatenate([[-np.inf], tau, [np.inf]])
    zh = (tau_ext[g + 1] - theta) / sig
    zl = (tau_ext[g] - theta) / sig
    logp = _log_ndtr_diff(zh, zl)
    nlp = -float(np.sum(logp))

    # φ(z)/P for each bound (0 at an infinite bound).
    fin_h = np.isfinite(zh)
    fin_l = np.isfinite(zl)
    zh0 = np.where(fin_h, zh, 0.0)
    zl0 = np.where(fin_l, zl, 0.0)
    # The exponent is capped where the ratio would overflow (P ~ 0 at absurd trial parameters
    # of the optimiser); the gradient there is huge either way.
    rh = np.where(fin_h, np.exp(np.minimum(-0.5 * zh0 * zh0 - _LOG_SQRT_2PI - logp, 700.0)), 0.0)
    rl = np.where(fin_l, np.exp(np.minimum(-0.5 * zl0 * zl0 - _LOG_SQRT_2PI - logp, 700.0)), 0.0)

    # d(−log P)/dτ: −φ(zh)/(σP) on the upper bound, +φ(zl)/(σP) on the lower bound.
    grad_tau = np.zeros(k - 1)
    grad_tau -= np.bincount(g[fin_h], weights=(rh / sig)[fin_h], minlength=k - 1)[: k - 1]
    grad_tau += np.bincount(g[fin_l] - 1, weights=(rl / sig)[fin_l], minlength=k - 1)[: k - 1]
    # d(−log P)/d log s, via dσ/ds = s/σ and dz/dσ = −z/σ.
    grad_ls = float(np.sum((rh * zh0 - rl * zl0) * (s * s) / (sig * sig)))

    grad = np.empty_like(x)
    grad[0] = grad_tau.sum()
    # τ_j depends on u_i for every j ≥ i.
    grad[1 : k - 1] = w * np.cumsum(grad_tau[::-1])[::-1][1:]

    # Hierarchical prior.
    dev_w = u - lc - log_shape
    dev_s = ls - lc - math.log(_SPREAD_RATIO)
    dev_c = lc - lc0
    vw, vs, vc = _WIDTH_LOG_SD**2, _SPREAD_LOG_SD**2, _SCALE_LOG_SD**2
    nlp += float(np.sum(dev_w**2)) / (2 * vw) + dev_s**2 / (2 * vs) + dev_c**2 / (2 * vc)
    grad[1 : k - 1] += dev_w / vw
    grad[k - 1] = grad_ls + dev_s / vs
    grad[k] = -float(np.sum(dev_w)) / vw - dev_s / vs + dev_c / vc
    return nlp, grad


def _anchor_names(anchors: Sequence[AnchorObservation]) -> list[str]:
    return [a.label or f"#{i + 1}" for i, a in enumerate(anchors)]


def _bounded(grade: EssayGrade, trouble: AnchorTrouble) -> EssayGrade:
    confidence, affected = trouble.bound(grade.grade_index, grade.confidence)
    if not affected:
        return grade
    return replace(grade, confidence=confidence, anchor_affected=True)


def _grade_many(
    cal: GradeCalibration, theta: NDArray[np.float64], sigma: NDArray[np.float64]
) -> list[EssayGrade]:
    scale = cal.scale
    probs = cal.probabilities(theta, sigma)
    idx = np.argmax(probs, axis=1)
    median = cal.median_index(theta)
    out: list[EssayGrade] = []
    for i in range(theta.size):
        k = int(idx[i])
        grade = scale.grades[k]
        row = {label: float(p) for label, p in zip(scale.grades, probs[i], strict=True)}
        # A +/- modifier says where θ̂ sits inside the grade's interval, so it is shown only
        # when θ̂ lies in the interval of the most likely grade.
        display = (
            swedish_modifier(scale, grade, cal.position_in_interval(float(theta[i]), k))
            if int(median[i]) == k
            else grade
        )
        out.append(
            EssayGrade(
                grade=grade,
                grade_index=k,
                probabilities=row,
                confidence=confidence_label(row[grade]),
                display_grade=display,
            )
        )
    return out


def _kendall_tau_b(d_x: NDArray[np.float64], d_y: NDArray[np.float64]) -> float:
    """Kendall's τ-b from pairwise sign matrices: S / √(pairs untied in x · pairs untied in y)."""
    upper = np.triu(np.ones_like(d_x, dtype=bool), k=1)
    s = float(np.sum((d_x * d_y)[upper]))
    n_x = float(np.sum((d_x != 0)[upper]))
    n_y = float(np.sum((d_y != 0)[upper]))
    if n_x == 0 or n_y == 0:
        return math.nan
    return s / math.sqrt(n_x * n_y)

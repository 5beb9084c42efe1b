"""Bradley–Terry fit: recovery, invariances, honest SEs, disconnected graphs, soft verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.bt import (
    BTFit,
    RidgePrior,
    SoftmaxPrior,
    centred_variances,
    comparison_components,
    fit_bt,
    win_probability,
)
from core.comparisons import Comparison, ComparisonSet
from core.simulate import JudgeProfile, SimulatedJudge, true_abilities


def simulated(
    n: int, per_pair: int = 1, seed: int = 0, bias: float = 0.0
) -> tuple[np.ndarray, ComparisonSet]:
    truth = true_abilities(n, 1.5, seed)
    profile = JudgeProfile(noise="logistic", noise_sd=math.pi / math.sqrt(3), position_bias=bias)
    judge = SimulatedJudge(truth, profile, seed)
    first, second, y = [], [], []
    rng = np.random.default_rng(seed)
    for _ in range(per_pair):
        for i in range(n):
            for j in range(i + 1, n):
                a, b = (i, j) if rng.uniform() < 0.5 else (j, i)
                first.append(a)
                second.append(b)
                y.append(judge.judge(a, b).outcome)
    return truth, ComparisonSet.from_arrays(n, first, second, y)


def test_recovers_true_abilities() -> None:
    truth, data = simulated(12, per_pair=8)
    fit = fit_bt(data)
    assert fit.converged
    assert np.corrcoef(fit.abilities, truth)[0, 1] > 0.95
    assert abs(float(fit.abilities.sum())) < 1e-8


def test_no_essay_gets_a_zero_standard_error() -> None:
    _, data = simulated(10, per_pair=2)
    fit = fit_bt(data)
    assert np.all(fit.se > 0.05)
    # Sum-to-zero constraint: no reference essay, so none is singled out as more precise.
    assert fit.se.min() > 0.8 * np.median(fit.se)


def test_position_bias_is_estimated() -> None:
    _, data = simulated(14, per_pair=6, bias=0.8)
    fit = fit_bt(data)
    assert 0.5 < fit.position_bias < 1.1
    assert fit.position_bias_se < 0.15
    unbiased = fit_bt(simulated(14, per_pair=6, bias=0.0)[1])
    assert abs(unbiased.position_bias) < 0.25


def test_disconnected_graph_is_reported_with_large_uncertainty() -> None:
    # Two separate groups {0,1,2} and {3,4}; essay 5 never compared.
    data = ComparisonSet.from_records(
        6,
        [
            Comparison(0, 1, 1.0),
            Comparison(1, 2, 1.0),
            Comparison(2, 0, 0.0),
            Comparison(1, 0, 1.0),
            Comparison(3, 4, 1.0),
            Comparison(4, 3, 0.0),
        ],
    )
    fit = fit_bt(data)
    assert not fit.connected
    assert sorted(len(c) for c in fit.components) == [1, 2, 3]
    assert set(fit.components[0].tolist()) == {0, 1, 2}
    # An essay with no comparisons is as uncertain as the prior says (sd 3), never precise.
    assert fit.se[5] > 2.5
    connected = fit_bt(simulated(6, per_pair=3)[1])
    assert fit.se[3] > connected.se.max()


def test_soft_verdicts_are_fractional_wins() -> None:
    hard = ComparisonSet.from_arrays(2, [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0])
    soft = ComparisonSet.from_arrays(2, [0], [1], [0.75], [4.0])
    a = fit_bt(hard, position_bias=False)
    b = fit_bt(soft, position_bias=False)
    np.testing.assert_allclose(a.abilities, b.abilities, atol=1e-8)


def test_ties_keep_essays_level() -> None:
    data = ComparisonSet.from_arrays(2, [0, 1, 0, 1], [1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5])
    fit = fit_bt(data)
    assert abs(fit.abilities[0] - fit.abilities[1]) < 1e-9


def test_all_wins_stay_finite_under_the_prior() -> None:
    data = ComparisonSet.from_arrays(3, [0, 0, 1], [1, 2, 2], [1.0, 1.0, 1.0])
    fit = fit_bt(data)
    assert np.all(np.isfinite(fit.abilities))
    assert fit.abilities[0] > fit.abilities[1] > fit.abilities[2]


def test_softmax_prior_matches_ilsr_fixed_point() -> None:
    import choix  # noqa: PLC0415  (a dev dependency)

    rng = np.random.default_rng(3)
    n, m = 40, 400
    theta = rng.normal(0, 1.5, n)
    f = rng.integers(0, n, m)
    s = (f + rng.integers(1, n, m)) % n
    y = (rng.uniform(size=m) < 1 / (1 + np.exp(-(theta[f] - theta[s])))).astype(float)
    pairs = [(a, b) if w else (b, a) for a, b, w in zip(f, s, y > 0.5, strict=True)]
    ref = choix.ilsr_pairwise(n, pairs, alpha=0.05)
    ours = fit_bt(
        ComparisonSet.from_arrays(n, f, s, y), prior=SoftmaxPrior(0.05), position_bias=False
    )
    assert np.max(np.abs(ours.abilities - ref)) < 1e-5


def test_warm_start_reaches_the_same_optimum_faster() -> None:
    _, data = simulated(20, per_pair=2)
    cold = fit_bt(data)
    warm = fit_bt(data, init=cold.abilities, init_position_bias=cold.position_bias)
    np.testing.assert_allclose(cold.abilities, warm.abilities, atol=1e-6)
    assert warm.n_iter <= cold.n_iter


def test_invalid_data_is_refused() -> None:
    with pytest.raises(ValueError, match="itself"):
        ComparisonSet.from_arrays(2, [0], [0], [1.0])
    with pytest.raises(ValueError, match="out of range"):
        ComparisonSet.from_arrays(2, [0], [2], [1.0])
    with pytest.raises(ValueError, match="probabilities"):
        ComparisonSet.from_arrays(2, [0], [1], [1.5])


def test_empty_and_tiny_inputs() -> None:
    fit = fit_bt(ComparisonSet.empty(3))
    assert np.all(fit.abilities == 0)
    assert len(fit.components) == 3
    assert fit_bt(ComparisonSet.empty(0)).n_items == 0


comparisons = st.integers(min_value=3, max_value=9).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.floats(0.0, 1.0)).filter(
                lambda t: t[0] != t[1]
            ),
            min_size=1,
            max_size=40,
        ),
    )
)


@settings(max_examples=60, deadline=None)
@given(comparisons)
def test_fit_is_centred_and_optimal(case: tuple[int, list[tuple[int, int, float]]]) -> None:
    n, rows = case
    data = ComparisonSet.from_arrays(
        n, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    )
    fit = fit_bt(data)
    assert fit.converged
    assert abs(float(fit.abilities.sum())) < 1e-7
    assert np.all(np.isfinite(fit.se)) and np.all(fit.se > 0)


@settings(max_examples=40, deadline=None)
@given(comparisons, st.floats(-3, 3))
def test_relabelling_essays_permutes_abilities(
    case: tuple[int, list[tuple[int, int, float]]], _: float
) -> None:
    n, rows = case
    perm = np.random.default_rng(len(rows)).permutation(n)
    f = [r[0] for r in rows]
    s = [r[1] for r in rows]
    y = [r[2] for r in rows]
    a = fit_bt(ComparisonSet.from_arrays(n, f, s, y))
    b = fit_bt(ComparisonSet.from_arrays(n, perm[f], perm[s], y))
    np.testing.assert_allclose(b.abilities[perm], a.abilities, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(comparisons)
def test_swapping_sides_and_outcomes_is_symmetric(
    case: tuple[int, list[tuple[int, int, float]]],
) -> None:
    """Showing every pair the other way round with 1 − y negates the position bias only."""
    n, rows = case
    f = [r[0] for r in rows]
    s = [r[1] for r in rows]
    y = np.array([r[2] for r in rows])
    a = fit_bt(ComparisonSet.from_arrays(n, f, s, y))
    b = fit_bt(ComparisonSet.from_arrays(n, s, f, 1.0 - y))
    np.testing.assert_allclose(a.abilities, b.abilities, atol=1e-6)
    assert a.position_bias == pytest.approx(-b.position_bias, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(0, 10_000))
def test_more_wins_never_lowers_an_essay(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = 4 * n
    f = rng.integers(0, n, m)
    s = (f + rng.integers(1, n, m)) % n
    y = rng.integers(0, 2, m).astype(float)
    base = fit_bt(ComparisonSet.from_arrays(n, f, s, y))
    k = int(np.flatnonzero(y < 1)[0]) if np.any(y < 1) else None
    if k is None:
        return
    y2 = y.copy()
    y2[k] = 1.0
    better = fit_bt(ComparisonSet.from_arrays(n, f, s, y2))
    winner, loser = int(f[k]), int(s[k])

    def gap(fit: BTFit) -> float:
        return float(fit.abilities[winner] - fit.abilities[loser])

    assert gap(better) >= gap(base) - 1e-9


def test_win_probability_uses_bias() -> None:
    _, data = simulated(8, per_pair=4, bias=0.6)
    fit = fit_bt(data, prior=RidgePrior(sd=2.0))
    assert win_probability(fit, 0, 1) > win_probability(fit, 0, 1, with_bias=False)


def test_logit_evidence_recovers_the_stated_gap() -> None:
    # Forty statements that essay 0 beats essay 1 with probability σ(1.2), shown both ways.
    p = 1.0 / (1.0 + math.exp(-1.2))
    first = [0, 1] * 20
    second = [1, 0] * 20
    y = [p, 1.0 - p] * 20
    fit = fit_bt(
        ComparisonSet.from_arrays(2, first, second, y),
        soft_model="logit",
        prior=RidgePrior(sd=100.0),
    )
    assert fit.abilities[0] - fit.abilities[1] == pytest.approx(1.2, abs=1e-3)
    assert abs(fit.position_bias) < 1e-6


def test_logit_evidence_does_not_saturate_like_fractional_wins() -> None:
    # A very confident statement about a pair moves it further as evidence than as a win.
    data = ComparisonSet.from_arrays(3, [0, 1, 2, 0], [1, 2, 0, 2], [0.98, 0.6, 0.4, 0.55])
    frac = fit_bt(data, position_bias=False)
    logit = fit_bt(data, position_bias=False, soft_model="logit")
    assert logit.abilities[0] - logit.abilities[1] > frac.abilities[0] - frac.abilities[1]


def test_hard_outcomes_ignore_the_soft_model() -> None:
    _, data = simulated(8, per_pair=2)
    a = fit_bt(data)
    b = fit_bt(data, soft_model="logit")
    np.testing.assert_allclose(a.abilities, b.abilities, atol=1e-9)


def _dense_information(
    fit: BTFit, data: ComparisonSet, prior: RidgePrior | SoftmaxPrior
) -> np.ndarray:
    """The Fisher information (negative log-posterior Hessian) at the fit, written out densely.

    Independent of the fitter: one outer product per comparison of x = e_f − e_s + e_δ, scaled
    by w·p(1 − p), plus the prior's curvature (ridge: λ·I; softmax: α·n²·(diag π − ππᵀ)).
    """
    n = data.n_items
    theta = fit.abilities
    info = np.zeros((n + 1, n + 1))
    for f, s, w in zip(data.first, data.second, data.weight, strict=True):
        p = 1.0 / (1.0 + math.exp(-(theta[f] - theta[s] + fit.position_bias)))
        x = np.zeros(n + 1)
        x[f], x[s], x[n] = 1.0, -1.0, 1.0
        info += w * p * (1.0 - p) * np.outer(x, x)
    if isinstance(prior, RidgePrior):
        info[:n, :n] += prior.strength * np.eye(n)
    else:
        pi = np.exp(theta - theta.max())
        pi /= pi.sum()
        info[:n, :n] += prior.alpha * n * n * (np.diag(pi) - np.outer(pi, pi))
    info[n, n] += 1.0  # δ ~ N(0, 1)
    return info


def _dense_standard_errors(info: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """SDs of the centred abilities, diag(P·H⁺·P) with P = I − 11ᵀ/n, by a dense (pseudo-)inverse.

    The softmax prior leaves H singular along the constant direction, which P projects away, so
    the pseudo-inverse gives the same figures as any inverse made regular along it.
    """
    cov = np.linalg.pinv(info, hermitian=True)
    proj = np.eye(n + 1)
    proj[:n, :n] -= 1.0 / n
    centred = proj @ cov @ proj
    return np.sqrt(np.diag(centred)[:n]), float(np.sqrt(cov[n, n]))


@settings(max_examples=60, deadline=None)
@given(comparisons, st.sampled_from(["ridge", "softmax"]), st.floats(0.2, 3.0))
def test_standard_errors_match_a_dense_inverse(
    case: tuple[int, list[tuple[int, int, float]]], prior_kind: str, weight: float
) -> None:
    n, rows = case
    data = ComparisonSet.from_arrays(
        n,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [weight] * len(rows),
    )
    prior: RidgePrior | SoftmaxPrior = (
        RidgePrior(1.5) if prior_kind == "ridge" else SoftmaxPrior(0.05)
    )
    fit = fit_bt(data, prior=prior)
    se, delta_se = _dense_standard_errors(_dense_information(fit, data, prior), n)
    np.testing.assert_allclose(fit.se, se, rtol=1e-7, atol=1e-9)
    assert fit.position_bias_se == pytest.approx(delta_se, rel=1e-7)


def test_standard_errors_match_a_dense_inverse_on_a_realistic_problem() -> None:
    _, data = simulated(25, per_pair=2, seed=3, bias=0.4)
    data = data.with_weights(np.linspace(0.5, 1.5, data.size))
    prior = RidgePrior()
    fit = fit_bt(data, prior=prior)
    se, delta_se = _dense_standard_errors(_dense_information(fit, data, prior), data.n_items)
    np.testing.assert_allclose(fit.se, se, rtol=1e-9)
    assert fit.position_bias_se == pytest.approx(delta_se, rel=1e-9)


def test_standard_errors_without_position_bias_match_a_dense_inverse() -> None:
    _, data = simulated(8, per_pair=3, seed=5)
    prior = RidgePrior()
    fit = fit_bt(data, prior=prior, position_bias=False)
    info = _dense_information(fit, data, prior)
    # Without δ only the ability block remains, at the fit's δ = 0.
    cov = np.linalg.inv(info[:8, :8])
    proj = np.eye(8) - 1.0 / 8
    np.testing.assert_allclose(fit.se, np.sqrt(np.diag(proj @ cov @ proj)), rtol=1e-9)
    assert math.isnan(fit.position_bias_se)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_centred_variances_match_the_dense_inverse(n: int, extra: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dim = n + extra
    a = rng.normal(size=(dim, dim))
    matrix = a @ a.T + 0.1 * np.eye(dim)
    var, inv_diag = centred_variances(matrix, n)
    cov = np.linalg.inv(matrix)
    proj = np.eye(n) - 1.0 / n
    np.testing.assert_allclose(inv_diag, np.diag(cov), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(var, np.diag(proj @ cov[:n, :n] @ proj), rtol=1e-7, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(comparisons)
def test_components_match_a_breadth_first_search(
    case: tuple[int, list[tuple[int, int, float]]],
) -> None:
    n, rows = case
    data = ComparisonSet.from_arrays(
        n, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    )
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b, _ in rows:
        neighbours[a].add(b)
        neighbours[b].add(a)
    seen: set[int] = set()
    expected = []
    for start in range(n):
        if start in seen:
            continue
        group, frontier = {start}, [start]
        while frontier:
            nxt = [j for i in frontier for j in neighbours[i] if j not in group]
            group.update(nxt)
            frontier = nxt
        seen |= group
        expected.append(sorted(group))
    expected.sort(key=lambda g: (-len(g), g[0]))
    assert [c.tolist() for c in comparison_components(data)] == expected


def test_centred_variances_fall_back_to_the_pseudo_inverse_when_not_definite() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4))
    singular = a @ a.T  # rank 4 of 6: Cholesky fails
    var, inv_diag = centred_variances(singular, 5)
    cov = np.linalg.pinv(singular, hermitian=True)
    proj = np.eye(5) - 1.0 / 5
    np.testing.assert_allclose(inv_diag, np.diag(cov), rtol=1e-6)
    np.testing.assert_allclose(var, np.diag(proj @ cov[:5, :5] @ proj), rtol=1e-6, atol=1e-9)

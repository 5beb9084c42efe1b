"""Bradley–Terry fit: abilities, a position-bias term and honest standard errors.

Model
-----
For a comparison that shows essay ``f`` first and essay ``s`` second::

    P(f is better) = σ(η),   η = θ_f − θ_s + δ,   σ(x) = 1 / (1 + e^(−x))

θ are abilities on the logit scale and δ is the advantage of being shown first (position bias).
An observed outcome y ∈ [0, 1] (1/0 hard, 0.5 tie, otherwise soft) with weight w contributes
the cross-entropy ``w·[y·log σ(η) + (1−y)·log σ(−η)]`` to the log-likelihood, so soft verdicts
count as fractional wins (``soft_model="fractional"``, the default).

With ``soft_model="logit"`` a soft outcome y ∈ (0, 1) is instead read as the judge's own
estimate of the gap: z = logit(y) ~ N(η, π²/3), i.e. ``−w·(z − η)²/(2π²/3)``. If a judge's
probability is σ of its perceived gap and its perception errs like the logistic noise of the
model, z is exactly such evidence. Unlike a fractional win it does not saturate, so a confident
verdict on a distant pair still carries its information (the Gaussian product-of-experts view of
soft comparisons). Hard outcomes (0/1) keep the Bradley–Terry likelihood either way.

Estimation is maximum a posteriori. The default prior is a ridge (Gaussian) prior
θ_i ~ N(0, sd²), i.e. the penalty ``λ/2·Σθ²`` with λ = 1/sd², and δ ~ N(0, sd_δ²).
``SoftmaxPrior(alpha)`` is the regulariser that ILSR's ``alpha`` (a constant rate added to every
transition of its Markov chain) imposes at the fixed point, ``α·n·(n·log Σ_j e^{θ_j} − Σ_j θ_j)``;
it exists so results can be compared with that estimator at equal regularisation.

The posterior mode is found by damped Newton steps; each step solves its linear system with
preconditioned conjugate gradients on the sparse Hessian (a weighted graph Laplacian plus the
prior), so one refit costs O(comparisons × CG iterations).

Standard errors come from the Fisher information at the mode, for abilities constrained to sum
to zero: Cov(θ) = P·H⁻¹·P with P = I − 11ᵀ/n. No essay is a fixed reference, so none gets a
fake SE of 0. Essays in separate components of the comparison graph are only tied together by
the prior; the fit reports the components and their SEs stay correspondingly large. Only the
diagonal of P·H⁻¹·P is needed, and no inverse is formed by LU: with the Cholesky factor
H = L·Lᵀ, H⁻¹ = L⁻ᵀ·L⁻¹, so (H⁻¹)ᵢᵢ is the squared norm of column i of the triangular L⁻¹, and
H⁻¹·1 = L⁻ᵀ·(L⁻¹·1) (see :func:`centred_variances`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.comparisons import ComparisonSet, FloatArray, IntArray
from core.graph import component_labels


@dataclass(frozen=True)
class RidgePrior:
    """θ_i ~ N(0, sd²): penalty λ/2·Σθ², λ = 1/sd². Small by default (sd = 3 logits)."""

    sd: float = 3.0

    @property
    def strength(self) -> float:
        return 1.0 / (self.sd * self.sd)


@dataclass(frozen=True)
class SoftmaxPrior:
    """Penalty α·n·(n·log Σ e^θ − Σθ): the regulariser implied by ILSR's ``alpha``.

    At ILSR's fixed point the gradient of the log-likelihood equals α·n·(n·softmax(θ) − 1),
    which is the gradient of this penalty. It is invariant to shifting all θ.
    """

    alpha: float = 0.01


Prior = RidgePrior | SoftmaxPrior
SoftModel = Literal["fractional", "logit"]

#: Variance of logit evidence: that of the standard logistic distribution, π²/3.
LOGIT_EVIDENCE_VAR = math.pi**2 / 3.0
#: Soft outcomes are clipped to [c, 1 − c] before taking logits.
LOGIT_CLIP = 0.02


@dataclass(frozen=True)
class BTFit:
    """Result of :func:`fit_bt`.

    ``abilities`` sum to zero. ``se`` are posterior standard deviations of the centred
    abilities (NaN when not computed). ``components`` lists the connected components of the
    comparison graph (largest first); ``connected`` is True when there is exactly one.
    """

    abilities: FloatArray
    se: FloatArray
    position_bias: float
    position_bias_se: float
    components: list[IntArray]
    n_iter: int
    converged: bool
    log_posterior: float
    comparisons_per_item: IntArray = field(repr=False)

    @property
    def n_items(self) -> int:
        return int(self.abilities.shape[0])

    @property
    def connected(self) -> bool:
        return len(self.components) <= 1

    def component_of(self) -> IntArray:
        """Component index of every essay (0 = the largest component)."""
        label = np.zeros(self.n_items, dtype=np.intp)
        for c, members in enumerate(self.components):
            label[members] = c
        return label


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def _log_sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = -np.logaddexp(0.0, -x)
    return out


def comparison_components(data: ComparisonSet) -> list[IntArray]:
    """Connected components of the comparison graph, largest first (ties by lowest index)."""
    n = data.n_items
    if n == 0:
        return []
    used = data.weight > 0
    n_comp, labels = component_labels(n, data.first[used], data.second[used])
    if n_comp == 1:
        return [np.arange(n, dtype=np.intp)]
    groups = [np.flatnonzero(labels == c).astype(np.intp) for c in range(int(n_comp))]
    groups.sort(key=lambda g: (-g.shape[0], int(g[0])))
    return groups


class _Problem:
    """Objective, gradient and Hessian-vector products of the negative log posterior."""

    def __init__(
        self,
        data: ComparisonSet,
        prior: Prior,
        position_bias: bool,
        position_bias_sd: float,
        soft_model: SoftModel = "fractional",
    ) -> None:
        self.n = data.n_items
        self.f = data.first
        self.s = data.second
        self.y = data.outcome
        self.w = data.weight
        # Soft outcomes as Gaussian evidence on the logit scale (see the module docstring).
        if soft_model == "logit":
            self.gauss = (self.y > 0.0) & (self.y < 1.0)
        else:
            self.gauss = np.zeros(self.y.shape[0], dtype=bool)
        y_safe = np.clip(self.y, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
        self.z = np.where(self.gauss, np.log(y_safe / (1.0 - y_safe)), 0.0)
        self.prior = prior
        self.use_delta = position_bias
        self.delta_prec = 1.0 / (position_bias_sd * position_bias_sd)
        self.dim = self.n + (1 if position_bias else 0)

    def split(self, x: FloatArray) -> tuple[FloatArray, float]:
        theta = x[: self.n]
        delta = float(x[self.n]) if self.use_delta else 0.0
        return theta, delta

    def eta(self, x: FloatArray) -> FloatArray:
        theta, delta = self.split(x)
        out: FloatArray = theta[self.f] - theta[self.s] + delta
        return out

    def value(self, x: FloatArray) -> float:
        theta, delta = self.split(x)
        eta = self.eta(x)
        ce = self.y * _log_sigmoid(eta) + (1.0 - self.y) * _log_sigmoid(-eta)
        gauss = -((self.z - eta) ** 2) / (2.0 * LOGIT_EVIDENCE_VAR)
        nll = -float(np.dot(self.w, np.where(self.gauss, gauss, ce)))
        return nll + self._prior_value(theta) + 0.5 * self.delta_prec * delta * delta

    def _prior_value(self, theta: FloatArray) -> float:
        if isinstance(self.prior, RidgePrior):
            return 0.5 * self.prior.strength * float(np.dot(theta, theta))
        a = self.prior.alpha * self.n
        lse = float(np.logaddexp.reduce(theta)) if self.n else 0.0
        return a * (self.n * lse - float(theta.sum()))

    def gradient_and_curvature(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Gradient of the objective and the per-comparison curvature w·σ(η)(1−σ(η))."""
        theta, delta = self.split(x)
        eta = self.eta(x)
        p = _sigmoid(eta)
        g = self.w * np.where(self.gauss, (eta - self.z) / LOGIT_EVIDENCE_VAR, p - self.y)
        grad = np.zeros(self.dim)
        grad[: self.n] = np.bincount(self.f, g, self.n) - np.bincount(self.s, g, self.n)
        if isinstance(self.prior, RidgePrior):
            grad[: self.n] += self.prior.strength * theta
        else:
            pi = self._softmax(theta)
            grad[: self.n] += self.prior.alpha * self.n * (self.n * pi - 1.0)
        if self.use_delta:
            grad[self.n] = float(g.sum()) + self.delta_prec * delta
        h: FloatArray = self.w * np.where(self.gauss, 1.0 / LOGIT_EVIDENCE_VAR, p * (1.0 - p))
        return grad, h

    @staticmethod
    def _softmax(theta: FloatArray) -> FloatArray:
        z = np.exp(theta - theta.max())
        out: FloatArray = z / z.sum()
        return out

    def hessian(self, x: FloatArray, h: FloatArray) -> _SparseSymmetric:
        """Sparse Hessian without the dense rank-one part of the softmax prior."""
        rows, cols, vals = self._hessian_entries(x, h)
        return _SparseSymmetric.from_entries(rows, cols, vals, self.dim)

    def dense_hessian(self, x: FloatArray, h: FloatArray) -> FloatArray:
        """The same Hessian as a dense array (duplicate entries summed by one bincount)."""
        rows, cols, vals = self._hessian_entries(x, h)
        flat = np.bincount(rows * self.dim + cols, vals, self.dim * self.dim)
        out: FloatArray = flat.astype(np.float64, copy=False).reshape(self.dim, self.dim)
        return out

    def _hessian_entries(
        self, x: FloatArray, h: FloatArray
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """Coordinate entries (row, column, value) of the sparse Hessian, duplicates unsummed."""
        n = self.n
        rows = [self.f, self.s, self.f, self.s]
        cols = [self.s, self.f, self.f, self.s]
        vals = [-h, -h, h, h]
        if self.use_delta:
            d = np.full(h.shape[0], n, dtype=np.intp)
            rows += [self.f, self.s, d, d]
            cols += [d, d, self.f, self.s]
            vals += [h, -h, h, -h]
        diag_extra = np.zeros(self.dim)
        theta, _ = self.split(x)
        if isinstance(self.prior, RidgePrior):
            diag_extra[:n] = self.prior.strength
        else:
            diag_extra[:n] = self.prior.alpha * n * n * self._softmax(theta)
        if self.use_delta:
            diag_extra[n] = float(h.sum()) + self.delta_prec
        idx = np.arange(self.dim, dtype=np.intp)
        rows.append(idx)
        cols.append(idx)
        vals.append(diag_extra)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    def rank_one(self, x: FloatArray) -> FloatArray | None:
        """Vector u with the dense Hessian part −α·n²·ππᵀ = −u·uᵀ (softmax prior only)."""
        if isinstance(self.prior, RidgePrior):
            return None
        theta, _ = self.split(x)
        u = np.zeros(self.dim)
        u[: self.n] = self.n * np.sqrt(self.prior.alpha) * self._softmax(theta)
        return u


@dataclass(frozen=True, eq=False)
class _SparseSymmetric:
    """A square sparse matrix as summed coordinate entries; ``@`` is its product with a vector."""

    rows: IntArray
    cols: IntArray
    vals: FloatArray
    dim: int

    @classmethod
    def from_entries(
        cls, rows: IntArray, cols: IntArray, vals: FloatArray, dim: int
    ) -> _SparseSymmetric:
        """Sum duplicate (row, column) entries once, so each product touches every cell once."""
        keys, where = np.unique(rows * dim + cols, return_inverse=True)
        summed = np.asarray(np.bincount(where.reshape(-1), vals, keys.shape[0]), np.float64)
        return cls(keys // dim, keys % dim, summed, dim)

    def __matmul__(self, v: FloatArray) -> FloatArray:
        out = np.bincount(self.rows, self.vals * v[self.cols], self.dim)
        return np.asarray(out, dtype=np.float64)

    def diagonal(self) -> FloatArray:
        on = self.rows == self.cols
        out = np.bincount(self.rows[on], self.vals[on], self.dim)
        return np.asarray(out, dtype=np.float64)


def _pcg(
    apply: Callable[[FloatArray], FloatArray],
    b: FloatArray,
    diag: FloatArray,
    tol: float,
    max_iter: int,
) -> FloatArray:
    """Jacobi-preconditioned conjugate gradients for A·x = b, A symmetric positive definite."""
    x = np.zeros(b.shape[0])
    b_norm = float(np.linalg.norm(b))
    if b_norm == 0.0:
        return x
    r = b.copy()
    inv_d = 1.0 / np.maximum(diag, 1e-12)
    z = inv_d * r
    p = z.copy()
    rz = float(np.dot(r, z))
    for _ in range(max_iter):
        ap = apply(p)
        pap = float(np.dot(p, ap))
        if pap <= 0.0:
            break
        step = rz / pap
        x += step * p
        r -= step * ap
        if float(np.linalg.norm(r)) <= tol * b_norm:
            break
        z = inv_d * r
        rz_new = float(np.dot(r, z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def fit_bt(
    data: ComparisonSet,
    *,
    prior: Prior | None = None,
    position_bias: bool = True,
    position_bias_sd: float = 1.0,
    init: FloatArray | None = None,
    init_position_bias: float = 0.0,
    compute_se: bool = True,
    soft_model: SoftModel = "fractional",
    tol: float = 1e-9,
    max_iter: int = 100,
    step_tol: float = 1e-10,
) -> BTFit:
    """Maximum a posteriori Bradley–Terry fit (see the module docstring for the model).

    ``init`` warm-starts from a previous fit's abilities (missing trailing essays start at 0).
    Convergence: the largest absolute gradient entry falls below ``tol`` × (1 + comparisons per
    essay), or a Newton step moves no parameter by more than 1e-10; ``converged`` is False when
    ``max_iter`` iterations ended without either. ``step_tol`` is the relative residual at which
    the conjugate-gradient solve of each Newton step stops: the default solves it to rounding
    error; fits that need only a few digits (the split halves, the calibration's fold fits) pass
    a looser one and get cheaper steps. With the softmax prior the abilities are centred after
    fitting.
    """
    prior = RidgePrior() if prior is None else prior
    n = data.n_items
    problem = _Problem(data, prior, position_bias, position_bias_sd, soft_model)
    x = np.zeros(problem.dim)
    if init is not None:
        k = min(n, int(init.shape[0]))
        x[:k] = init[:k]
        x[:n] -= x[:n].mean() if n else 0.0
    if position_bias:
        x[n] = init_position_bias
    counts = data.counts()
    scale = 1.0 + (2.0 * float(data.weight.sum()) / n if n else 0.0)
    converged = n == 0
    it = 0
    value = problem.value(x)
    for it in range(1, max_iter + 1):  # noqa: B007
        grad, h = problem.gradient_and_curvature(x)
        if float(np.max(np.abs(grad), initial=0.0)) <= tol * scale:
            converged = True
            break
        step = _newton_step(problem, x, h, grad, step_tol)
        # Backtracking line search (Armijo) keeps every step a descent step. Near the optimum
        # the predicted decrease is below the objective's rounding error: take the full step.
        slope = float(np.dot(grad, step))
        t = 1.0
        if -slope > 1e-9 * max(1.0, abs(value)):
            while True:
                new_value = problem.value(x + t * step)
                if new_value <= value + 1e-4 * t * slope or t < 1e-8:
                    break
                t *= 0.5
        else:
            new_value = problem.value(x + step)
        x = x + t * step
        value = new_value
        if float(np.max(np.abs(t * step), initial=0.0)) <= 1e-10:
            converged = True
            break
    theta, delta = problem.split(x)
    theta = theta - (theta.mean() if n else 0.0)
    se = np.full(n, np.nan)
    delta_se = float("nan")
    if compute_se and n:
        x_centred = x.copy()
        x_centred[:n] = theta
        _, h = problem.gradient_and_curvature(x_centred)
        se, delta_se = _standard_errors(problem, x_centred, h)
    return BTFit(
        abilities=theta,
        se=se,
        position_bias=delta,
        position_bias_se=delta_se,
        components=comparison_components(data),
        n_iter=it,
        converged=converged,
        log_posterior=-value,
        comparisons_per_item=counts,
    )


def _newton_step(
    problem: _Problem, x: FloatArray, h: FloatArray, grad: FloatArray, step_tol: float = 1e-10
) -> FloatArray:
    """Solve H·step = −grad by CG, with H = sparse part − u·uᵀ (+ 11ᵀ/n if shift-invariant).

    With the softmax prior the objective is flat along the constant direction of θ and the
    gradient is orthogonal to it; adding 11ᵀ/n there makes H definite without changing the
    solution, which is then re-centred.
    """
    n = problem.n
    hess = problem.hessian(x, h)
    u = problem.rank_one(x)
    shift = u is not None

    def apply(v: FloatArray) -> FloatArray:
        out: FloatArray = hess @ v
        if u is not None:
            out = out - u * float(np.dot(u, v))
        if shift:
            out[:n] += float(v[:n].sum()) / n
        return out

    diag = hess.diagonal()
    if shift:
        diag = diag - u * u if u is not None else diag
        diag[:n] += 1.0 / n
    step = _pcg(apply, -grad, diag, step_tol, 4 * problem.dim + 50)
    if shift:
        step[:n] -= step[:n].mean()
    return step


def _standard_errors(problem: _Problem, x: FloatArray, h: FloatArray) -> tuple[FloatArray, float]:
    """Posterior SDs of the centred abilities, Cov = P·H⁻¹·P (H shifted along 1), and of δ."""
    n = problem.n
    dense = problem.dense_hessian(x, h)
    u = problem.rank_one(x)
    if u is not None:
        dense -= np.outer(u, u)
    # Adding 11ᵀ/n on the θ block changes H only along the constant direction (which the
    # likelihood cannot see and which P projects away); it makes H invertible for every prior.
    dense[:n, :n] += 1.0 / n
    var, inv_diag = centred_variances(dense, n)
    se: FloatArray = np.sqrt(np.maximum(var, 0.0))
    delta_se = float(np.sqrt(max(inv_diag[n], 0.0))) if problem.use_delta else float("nan")
    return se, delta_se


def centred_variances(matrix: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """diag(P·C·P) over the first ``n`` coordinates, and diag(C), for C = ``matrix``⁻¹.

    ``matrix`` is symmetric positive definite; P = I − 11ᵀ/n acts on the first n coordinates
    (the abilities; any further ones, such as δ, are marginalised, not centred). With
    r = C₁₁·1/n (row means of the ability block) and c̄ = 1ᵀ·r/n::

        diag(P·C·P)ᵢ = Cᵢᵢ − 2·rᵢ + c̄

    C is never formed: with the Cholesky factor matrix = L·Lᵀ and M = L⁻¹ (triangular),
    C = Mᵀ·M, so Cᵢᵢ = Σₖ Mₖᵢ² and C·e = Mᵀ·(M·e) for e = (1, …, 1, 0, …). That is n³/3 flops
    for the factor and about n³/3 for M (by blocks, :func:`_lower_triangular_inverse`), against
    about 2n³ for a general inverse. If the matrix is
    not numerically positive definite the symmetric pseudo-inverse is used instead.
    """
    m = _inverse_cholesky_factor(matrix)
    if m is not None:
        inv_diag: FloatArray = np.einsum("ki,ki->i", m, m)
        ce: FloatArray = m.T @ m[:, :n].sum(axis=1)
    else:  # singular or indefinite (not expected for a Hessian at a mode)
        cov = np.linalg.pinv(matrix, hermitian=True)
        inv_diag = np.diag(cov).copy()
        ce = cov[:, :n].sum(axis=1)
    row_mean = ce[:n] / n if n else ce[:0]
    total_mean = float(row_mean.mean()) if n else 0.0
    var: FloatArray = inv_diag[:n] - 2.0 * row_mean + total_mean
    return var, inv_diag


def win_probability(fit: BTFit, first: int, second: int, *, with_bias: bool = True) -> float:
    """P(essay ``first`` beats essay ``second``) when shown first, under the fitted model."""
    eta = fit.abilities[first] - fit.abilities[second]
    if with_bias:
        eta += fit.position_bias
    return float(1.0 / (1.0 + np.exp(-eta)))


def _inverse_cholesky_factor(matrix: FloatArray) -> FloatArray | None:
    """L⁻¹ for the Cholesky factor L of ``matrix`` (None if it is not numerically definite)."""
    try:
        factor = np.asarray(np.linalg.cholesky(matrix), dtype=np.float64)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(factor)) or np.any(np.diag(factor) <= 0.0):
        return None
    return _lower_triangular_inverse(factor)


def _lower_triangular_inverse(lower: FloatArray) -> FloatArray:
    """Inverse of a lower-triangular matrix by 2×2 blocks (about n³/3 flops, all in matmul).

    With L = [[A, 0], [B, D]], L⁻¹ = [[A⁻¹, 0], [−D⁻¹·B·A⁻¹, D⁻¹]]; blocks of up to 64 rows are
    inverted directly.
    """
    n = lower.shape[0]
    if n <= 64:
        small = np.asarray(np.linalg.inv(lower), dtype=np.float64)
        return np.tril(small)
    half = n // 2
    a_inv = _lower_triangular_inverse(lower[:half, :half])
    d_inv = _lower_triangular_inverse(lower[half:, half:])
    out = np.zeros_like(lower)
    out[:half, :half] = a_inv
    out[half:, half:] = d_inv
    out[half:, :half] = -(d_inv @ (lower[half:, :half] @ a_inv))
    return out

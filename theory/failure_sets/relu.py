r"""The ReLU counterexample: singular systems with positive probability (at least 2^{−r}).

**ReLU is different.** :math:`\max(x, 0)` is not analytic; Φ
(:mod:`theory.failure_sets.features`) is only piecewise polynomial, so the measure-zero
argument of :mod:`theory.failure_sets.interval` does not apply. A key with every gate off
(:math:`g_n\cdot k \le 0` for all n) has a zero row, so Φ is singular. For a fixed nonzero key
and i.i.d. Gaussian gate rows the :math:`g_n\cdot k` are i.i.d. :math:`N(0, \|k\|^2)`, so this
happens with probability exactly :math:`2^{-r}` (:func:`all_gates_off_probability`): singular
systems have positive probability (at least :math:`2^{-r}`), measured by
:func:`singular_fraction`. ± gate pairs (:func:`~theory.failure_sets.features.pm_gate_pairs`)
remove the zero rows but not every rank deficiency.

References
----------
arXiv 2512.00207 §4 (the zero-row failure); the probability and the experiment are ours.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from theory.errors import InvalidInputError
from theory.failure_sets.features import _activation, khatri_rao_features
from theory.validation import require_bool, require_int

__all__ = [
    "SingularFraction",
    "all_gates_off_probability",
    "expected_all_off_keys",
    "singular_fraction",
]


def all_gates_off_probability(n_gates: int) -> Fraction:
    r"""P(every ReLU gate is off at a fixed nonzero key) for i.i.d. Gaussian gate rows: 2^{−r}.

    .. math::

        P\bigl(g_n\cdot k \le 0\ \forall n \le r\bigr) = \prod_{n=1}^{r} P(g_n\cdot k \le 0)
        = 2^{-r}, \qquad g_n\cdot k \sim N(0, \|k\|^2)\ \text{i.i.d.}

    It holds for any i.i.d. rows whose law is symmetric (g ↦ −g) with P(g·k = 0) = 0. Then
    row k of Φ is zero, so P(Φ singular) ≥ 2^{−r} for every F ≥ 1.

    Parameters
    ----------
    n_gates : int
        r ≥ 1.

    Returns
    -------
    fractions.Fraction

    Raises
    ------
    InvalidInputError
        If r is not an integer ≥ 1.

    Examples
    --------
    >>> all_gates_off_probability(3)
    Fraction(1, 8)

    References
    ----------
    Background §4 (the zero-row failure); the probability is derived here.
    """
    return Fraction(1, 2 ** require_int("n_gates", n_gates, 1))


def expected_all_off_keys(n_facts: int, n_gates: int) -> Fraction:
    r"""Expected number of keys with every ReLU gate off: F·2^{−r} (linearity of expectation).

    .. math::

        \mathbb{E}\,\#\{i : g_n\cdot k_i \le 0\ \forall n\} = F\,2^{-r}

    (for nonzero keys; the events for different keys are dependent through G₀, so this is
    not a probability of "some key").

    Parameters
    ----------
    n_facts, n_gates : int
        F, r ≥ 1.

    Returns
    -------
    fractions.Fraction

    Raises
    ------
    InvalidInputError
        On a non-positive or non-integer F or r.

    Examples
    --------
    >>> expected_all_off_keys(64, 4)
    Fraction(4, 1)

    References
    ----------
    Derived here.
    """
    return require_int("n_facts", n_facts, 1) * all_gates_off_probability(n_gates)


# ---------------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SingularFraction:
    r"""How often Φ was rank deficient over random draws (:func:`singular_fraction`).

    Attributes
    ----------
    activation : str
    dim, n_gates, n_facts : int
        d, r (base gate rows) and F.
    n_columns : int
        Columns of Φ: r·d, or 2r·d with ± pairs.
    pm_pairs : bool
    trials, seed : int
    n_singular : int
        Draws with σ_min(Φ) ≤ tol (see ``tolerance``).
    n_zero_row_trials : int
        Draws where some row of Φ is exactly zero.
    n_all_off_keys : int
        (draw, key) pairs with every gate pre-activation ≤ 0; E = trials·F·2^{−r} for ReLU
        without ± pairs.
    min_sigma_ratio, median_sigma_ratio : float
        Min and median over draws of σ_min(Φ)/σ_max(Φ).
    tolerance : str
        The rank test used.
    """

    activation: str
    dim: int
    n_gates: int
    n_facts: int
    n_columns: int
    pm_pairs: bool
    trials: int
    seed: int
    n_singular: int
    n_zero_row_trials: int
    n_all_off_keys: int
    min_sigma_ratio: float
    median_sigma_ratio: float
    tolerance: str

    @property
    def fraction(self) -> float:
        """n_singular / trials."""
        return self.n_singular / self.trials

    def __str__(self) -> str:
        design = " ± pairs" if self.pm_pairs else ""
        return (
            f"{self.activation}{design}, d={self.dim}, r={self.n_gates}, F={self.n_facts}, "
            f"Φ {self.n_facts}×{self.n_columns}: {self.n_singular}/{self.trials} singular "
            f"(seed {self.seed}), {self.n_zero_row_trials} with a zero row, "
            f"min σ_min/σ_max {self.min_sigma_ratio:.3g}"
        )


def singular_fraction(
    activation: str,
    dim: int,
    n_gates: int,
    n_facts: int,
    trials: int,
    seed: int,
    *,
    pm_pairs: bool = False,
    rtol: float | None = None,
) -> SingularFraction:
    r"""Monte-Carlo frequency of a rank-deficient Φ for random unit keys and Gaussian gates.

    .. math::

        k_i = x_i/\|x_i\|,\ x_i \sim N(0, I_d);\quad G_0 \sim N(0, 1)^{r\times d};\quad
        \text{singular} \iff \sigma_{\min}(\Phi) \le \tau\,\sigma_{\max}(\Phi),

    with τ = max(F, n_cols)·ε₆₄ (numpy.linalg.matrix_rank's default) unless ``rtol`` is
    given. Per draw the keys are drawn first, then G₀, from ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    activation : str
        One of :data:`GATE_ACTIVATIONS`.
    dim, n_gates, n_facts : int
        d, r, F ≥ 1 with F ≤ columns (r·d, or 2r·d with ± pairs).
    trials : int
        ≥ 1 draws.
    seed : int
        ≥ 0.
    pm_pairs : bool
        Use gates [G₀; −G₀].
    rtol : float, optional
        τ in (0, 1) instead of the default.

    Returns
    -------
    SingularFraction

    Raises
    ------
    InvalidInputError
        On an invalid argument, or F larger than the number of columns (then every draw is
        singular).

    Examples
    --------
    >>> sf = singular_fraction("relu", 3, 2, 6, 200, 0)
    >>> sf.n_singular > 0 and sf.n_zero_row_trials > 0
    True
    >>> singular_fraction("silu", 3, 2, 6, 200, 0).n_singular
    0

    References
    ----------
    Background §4 (1136/2000 ReLU vs 0/2000 SiLU draws singular at d = 32, a different
    layout); this experiment is ours.
    """
    activation = _activation(activation)
    dim = require_int("dim", dim, 1)
    n_gates = require_int("n_gates", n_gates, 1)
    n_facts = require_int("n_facts", n_facts, 1)
    trials = require_int("trials", trials, 1)
    seed = require_int("seed", seed, 0)
    pm_pairs = require_bool("pm_pairs", pm_pairs)
    n_columns = (2 if pm_pairs else 1) * n_gates * dim
    if n_facts > n_columns:
        raise InvalidInputError(
            f"n_facts = {n_facts} exceeds the {n_columns} columns of Φ: every draw is singular"
        )
    if rtol is None:
        tau = max(n_facts, n_columns) * np.finfo(np.float64).eps
        tolerance = (
            f"σ_min ≤ max(F, n_cols)·eps·σ_max = {tau:.3g}·σ_max (numpy matrix_rank default)"
        )
    else:
        if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not (0 < rtol < 1):
            raise InvalidInputError(f"rtol must be a real number in (0, 1), got {rtol!r}")
        tau = float(rtol)
        tolerance = f"σ_min ≤ {tau:.3g}·σ_max"

    rng = np.random.default_rng(int(seed))
    n_singular = n_zero = n_off = 0
    ratios = np.empty(trials)
    for t in range(trials):
        x = rng.standard_normal((n_facts, dim))
        keys = x / np.linalg.norm(x, axis=1, keepdims=True)
        g0 = rng.standard_normal((n_gates, dim))
        n_off += int((keys @ g0.T <= 0).all(axis=1).sum())
        gates = np.vstack([g0, -g0]) if pm_pairs else g0
        phi = khatri_rao_features(keys, gates, activation)
        n_zero += bool((~phi.any(axis=1)).any())
        sv = np.linalg.svd(phi, compute_uv=False)
        ratios[t] = sv[-1] / sv[0] if sv[0] > 0 else 0.0
        n_singular += bool(sv[-1] <= tau * sv[0])
    return SingularFraction(
        activation,
        dim,
        n_gates,
        n_facts,
        n_columns,
        pm_pairs,
        trials,
        int(seed),
        n_singular,
        n_zero,
        n_off,
        float(ratios.min()),
        float(np.median(ratios)),
        tolerance,
    )

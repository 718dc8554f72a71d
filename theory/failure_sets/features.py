r"""The encoder's linear system Φ vec(A_t) = T_{:,t} in floats (numpy), and the gate designs.

The system
----------
The encoder of the construction (paper §4, global solve) has r shared gate rows
:math:`G_0 \in \mathbb{R}^{r\times d}` and, per code coordinate t, up rows
:math:`A_t \in \mathbb{R}^{r\times d}`. Key :math:`k_i` hits its code coordinate
:math:`c_t(k_i) = \sum_n \sigma(g_n\cdot k_i)(a_{t,n}\cdot k_i)` iff

.. math::

    \Phi\,\operatorname{vec}(A_t) = T_{:,t}, \qquad
    \Phi_i = \sigma(G_0 k_i) \otimes k_i \in \mathbb{R}^{rd}, \qquad
    \Phi_{i,\,nd+l} = \sigma(g_n\cdot k_i)\,k_{i,l},

(Φ is the row-wise Kronecker, "Khatri–Rao", product of :math:`S = \sigma(KG_0^\top)` and K;
``vec`` is row-major, entry (n, l) of :math:`A_t` at position n·d + l), and

.. math::

    \Phi\Phi^\top = (SS^\top) \circ (KK^\top).

**Failure condition** (derived here). The system is solvable for *every* target T iff Φ
(F × rd) has full row rank F, iff some F × F minor of Φ is nonzero, iff
:math:`\det(\Phi\Phi^\top) \ne 0`, because by Cauchy–Binet

.. math::

    \det(\Phi\Phi^\top) = \sum_{|J| = F} \det(\Phi_{:,J})^2 .

So the encoder fails for some target iff every maximal minor vanishes. It needs F ≤ rd.
Some K fail for every :math:`G_0`: a zero key (zero row, any σ), two equal keys (equal rows).
Where the failures lie: :mod:`theory.failure_sets.interval` (a null set for SiLU and GELU),
:mod:`theory.failure_sets.relu` (positive probability for ReLU).

**± pairs** (:func:`pm_gate_pairs`): gates :math:`\pm g_n`. For every key, exactly one gate
of each pair is on unless :math:`g_n\cdot k = 0`, so a key has exactly
:math:`r - \#\{n : g_n\cdot k = 0\}` active gates among 2r (r almost surely) and **no row is
zero** when :math:`G_0k \ne 0`. It does **not** make Φ full rank: for any σ with
:math:`\sigma(x) - \sigma(-x) = x` (ReLU, SiLU, GELU), a column operation within each pair
turns the pair's columns into :math:`[\sigma(g_n\cdot k)\,k,\ (g_n\cdot k)\,k]`, and the
second block is the identity-gate (bilinear) feature map, whose rank is at most
:math:`\beta(d, r)` (:func:`feature_rank_ceiling`), so

.. math::

    \operatorname{rank}\Phi_{\pm} \le rd + \beta(d, r) < 2rd \quad (r \ge 2),\qquad
    \beta(d, r) = \tfrac{d(d+1)}{2} - \tfrac{(d-r)_+ (d-r+1)_+}{2}.

(β: the features :math:`(G_0k)\otimes k = (G_0 \otimes I)(k\otimes k)` depend on k only
through the symmetric matrix :math:`kk^\top`, and :math:`B \mapsto G_0B` on symmetric B has
kernel :math:`\{NCN^\top\}`, N a basis of null(:math:`G_0`).) Within one activation pattern
the ReLU minors are polynomials, so a measure-zero claim for ReLU has to be stated per
pattern; the zero-row failure is removed, other rank deficiencies are not (measured).

Symbols and shapes: F keys (``n_facts``), d dimension (``dim``), r gate rows (``n_gates``),
K (F × d) keys, :math:`G_0` (r × d) gate rows, Φ (F × rd) features, σ the gate activation.

References
----------
arXiv 2512.00207 §4 is the paper's construction and claim; the failure condition and the
± pair analysis are derived here. Cauchy–Binet: e.g. Horn & Johnson, *Matrix Analysis*,
2nd ed. (2013), §0.8.7.
"""

from __future__ import annotations

import math

import numpy as np

from theory.errors import InvalidInputError
from theory.validation import as_matrix, require_bool, require_int

__all__ = [
    "GATE_ACTIVATIONS",
    "RATIONAL_ACTIVATIONS",
    "khatri_rao_features",
    "khatri_rao_kernel",
    "select_minor_columns",
    "active_gate_counts",
    "pm_gate_pairs",
    "feature_rank_ceiling",
]

#: Gate activations σ these functions know: ``silu`` x/(1+e^{−x}), ``relu`` max(x, 0),
#: ``gelu`` x·Φ_N(x) = x/2·(1 + erf(x/√2)) (erf form), ``identity`` x (the bilinear gate).
GATE_ACTIVATIONS = ("silu", "relu", "gelu", "identity")

#: Activations that map rationals to rationals, so Φ is exact over ℚ.
RATIONAL_ACTIVATIONS = ("relu", "identity")


# ---------------------------------------------------------------------------------------------
# Validation (shared by the modules of this package)
# ---------------------------------------------------------------------------------------------


def _activation(value, allowed=GATE_ACTIVATIONS) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInputError(f"activation must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _keys_and_gates(keys, gate_rows) -> tuple[np.ndarray, np.ndarray]:
    keys = as_matrix("keys", keys)
    gate_rows = as_matrix("gate_rows", gate_rows, cols=keys.shape[1])
    return keys, gate_rows


# ---------------------------------------------------------------------------------------------
# Float features (numpy)
# ---------------------------------------------------------------------------------------------


def _sigma_numpy(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "silu":
        return z * 0.5 * (1.0 + np.tanh(0.5 * z))  # x·sigmoid(x), without overflow
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "gelu":
        erf = np.frompyfunc(math.erf, 1, 1)
        return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)).astype(np.float64))
    return z.copy()


def khatri_rao_features(keys, gate_rows, activation: str = "silu") -> np.ndarray:
    r"""The encoder's system matrix Φ: row i is σ(G₀kᵢ) ⊗ kᵢ.

    .. math::

        \Phi_{i,\,nd+l} = \sigma(g_n\cdot k_i)\,k_{i,l}, \qquad
        \Phi \operatorname{vec}(A_t) = \Bigl(\sum_n \sigma(g_n\cdot k_i)(a_{t,n}\cdot k_i)\Bigr)_i

    with ``vec`` row-major (entry (n, l) of A_t at n·d + l), so the row is
    ``np.kron(σ(G₀ kᵢ), kᵢ)``.

    Parameters
    ----------
    keys : array_like, shape (F, d)
        Finite keys kᵢ.
    gate_rows : array_like, shape (r, d)
        Finite gate rows g_n (G₀).
    activation : str
        One of :data:`GATE_ACTIVATIONS`.

    Returns
    -------
    numpy.ndarray, shape (F, r·d), float64

    Raises
    ------
    InvalidInputError
        On a malformed or non-finite array, mismatched dimensions or an unknown activation.

    Examples
    --------
    >>> khatri_rao_features([[1.0, 2.0]], [[1.0, 0.0], [-1.0, 0.0]], "relu")
    array([[1., 2., 0., 0.]])
    >>> khatri_rao_features([[1.0, 2.0]], [[0.0, 1.0]], "identity")   # (g·k) k = 2·(1, 2)
    array([[2., 4.]])

    References
    ----------
    Background §4 (the system is linear in A); the Khatri–Rao form is derived here.
    """
    activation = _activation(activation)
    keys, gate_rows = _keys_and_gates(keys, gate_rows)
    s = _sigma_numpy(keys @ gate_rows.T, activation)
    return (s[:, :, None] * keys[:, None, :]).reshape(keys.shape[0], -1)


def khatri_rao_kernel(keys, gate_rows, activation: str = "silu") -> np.ndarray:
    r"""The kernel Q = ΦΦᵀ of the min-norm solve, as a Hadamard product.

    .. math::

        Q = \Phi\Phi^\top = (SS^\top)\circ(KK^\top), \qquad S = \sigma(KG_0^\top)

    since :math:`\langle s_i\otimes k_i, s_j\otimes k_j\rangle = \langle s_i, s_j\rangle
    \langle k_i, k_j\rangle`. The system is solvable for every target iff det Q ≠ 0.

    Parameters
    ----------
    keys : array_like, shape (F, d)
    gate_rows : array_like, shape (r, d)
    activation : str
        One of :data:`GATE_ACTIVATIONS`.

    Returns
    -------
    numpy.ndarray, shape (F, F)

    Raises
    ------
    InvalidInputError
        As :func:`khatri_rao_features`.

    Examples
    --------
    >>> khatri_rao_kernel([[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0]], "relu")   # diag(1·1, 4·4)
    array([[ 1.,  0.],
           [ 0., 16.]])

    References
    ----------
    Background §4 (Q = ΦΦᵀ); the Hadamard form is derived here.
    """
    activation = _activation(activation)
    keys, gate_rows = _keys_and_gates(keys, gate_rows)
    s = _sigma_numpy(keys @ gate_rows.T, activation)
    return (s @ s.T) * (keys @ keys.T)


def select_minor_columns(features) -> tuple[int, ...]:
    r"""F columns of Φ (F × n, F ≤ n) that are well conditioned together, by greedy pivoting.

    .. math::

        j_{t} = \arg\max_j \bigl\|(I - Q_{t-1}Q_{t-1}^\top)\,\Phi_{:,j}\bigr\|_2

    (pivoted Gram–Schmidt, :math:`Q_{t-1}` an orthonormal basis of the columns chosen so far).
    A heuristic choice for :func:`certify_nonsingular_minor`; the certificate does not rely
    on it.

    Parameters
    ----------
    features : array_like, shape (F, n)
        Finite, with F ≤ n.

    Returns
    -------
    tuple[int, ...]
        F distinct column indices, sorted.

    Raises
    ------
    InvalidInputError
        On a malformed array or F > n.

    Examples
    --------
    >>> select_minor_columns([[0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    (1, 2)

    References
    ----------
    Golub & Van Loan, *Matrix Computations*, 4th ed., §5.4.2 (QR with column pivoting).
    """
    phi = as_matrix("features", features)
    n_rows, n_cols = phi.shape
    if n_rows > n_cols:
        raise InvalidInputError(
            f"features has {n_rows} rows but only {n_cols} columns: no {n_rows}×{n_rows} minor"
        )
    residual = phi.copy()
    chosen: list[int] = []
    for _ in range(n_rows):
        norms = np.linalg.norm(residual, axis=0)
        norms[chosen] = -1.0
        j = int(np.argmax(norms))
        chosen.append(j)
        q = residual[:, j] / norms[j] if norms[j] > 0 else np.zeros(n_rows)
        residual -= np.outer(q, q @ residual)
    return tuple(sorted(chosen))


# ---------------------------------------------------------------------------------------------
# Gate designs: active gates, ± pairs, rank ceilings
# ---------------------------------------------------------------------------------------------


def active_gate_counts(keys, gate_rows) -> np.ndarray:
    r"""Number of ReLU gates on at each key: #{n : g_n·kᵢ > 0}.

    .. math::

        a_i = \#\{n : g_n\cdot k_i > 0\}; \qquad a_i = 0 \iff \text{row } i \text{ of }
        \Phi_{\mathrm{ReLU}} \text{ is zero (for } k_i \ne 0)

    Parameters
    ----------
    keys : array_like, shape (F, d)
    gate_rows : array_like, shape (r, d)

    Returns
    -------
    numpy.ndarray, shape (F,), int64

    Raises
    ------
    InvalidInputError
        On malformed arrays.

    Examples
    --------
    >>> active_gate_counts([[1.0, 0.0], [-1.0, 0.0]], [[1.0, 0.0], [1.0, 1.0]])
    array([2, 0])
    >>> active_gate_counts([[1.0, 0.0], [-1.0, 0.0]], pm_gate_pairs([[1.0, 0.0], [1.0, 1.0]]))
    array([2, 2])

    References
    ----------
    Derived here.
    """
    keys, gate_rows = _keys_and_gates(keys, gate_rows)
    return (keys @ gate_rows.T > 0).sum(axis=1).astype(np.int64)


def pm_gate_pairs(gate_rows) -> np.ndarray:
    r"""The ± pair covering design: gate rows [G₀; −G₀] (2r × d).

    .. math::

        \{\pm g_n\}: \quad \#\{\text{active}\} = r - \#\{n : g_n\cdot k = 0\}
        \ \text{for every key } k

    Guarantees (ReLU): every key k with G₀k ≠ 0 has at least one active gate, hence no zero
    row; with no g_n·k = 0 exactly r of the 2r gates are on. Does **not** guarantee rank
    Φ = F: rank Φ ≤ rd + β(d, r) < 2rd for r ≥ 2 (:func:`feature_rank_ceiling`), and other
    rank deficiencies keep positive probability (module docstring).

    Parameters
    ----------
    gate_rows : array_like, shape (r, d)

    Returns
    -------
    numpy.ndarray, shape (2r, d)

    Raises
    ------
    InvalidInputError
        On a malformed array.

    Examples
    --------
    >>> pm_gate_pairs([[1.0, 2.0]])
    array([[ 1.,  2.],
           [-1., -2.]])

    References
    ----------
    Background §4 suggests ± pairs; the guarantees and the rank ceiling are derived here.
    """
    g = as_matrix("gate_rows", gate_rows)
    return np.vstack([g, -g])


def feature_rank_ceiling(
    dim: int, n_gates: int, activation: str = "silu", *, pm_pairs: bool = False
) -> int:
    r"""An upper bound on rank Φ that holds for every key set, by activation and design.

    .. math::

        \beta(d, r) = \tfrac{d(d+1)}{2} - \tfrac{(d-r)_+(d-r+1)_+}{2},\qquad
        \operatorname{rank}\Phi \le
        \begin{cases}
        \beta(d, r) & \sigma = \text{identity (with or without ± pairs)}\\
        rd & \sigma \in \{\text{silu, relu, gelu}\}\\
        rd + \beta(d, r) & \sigma \in \{\text{silu, relu, gelu}\},\ \pm\text{ pairs}
        \end{cases}

    Identity: :math:`(G_0k)\otimes k = \operatorname{vec}(G_0\,kk^\top)` depends on k through
    the symmetric kk^⊤ only, and :math:`B\mapsto G_0B` on symmetric B has kernel
    :math:`\{NCN^\top: C = C^\top\}` (N a basis of null G₀, dimension (d − r)₊), so its image
    has dimension β. ± pairs: σ(x) − σ(−x) = x for ReLU, SiLU and GELU, so each pair's
    columns are, up to an invertible column operation, σ(g·k)k and (g·k)k. The identity case
    shows the bilinear gate can never solve F = rd systems for r ≥ 2 (β < rd).

    Parameters
    ----------
    dim, n_gates : int
        d and r ≥ 1 (r base rows; the ± design has 2r gates).
    activation : str
        One of :data:`GATE_ACTIVATIONS`.
    pm_pairs : bool
        Gates [G₀; −G₀] instead of G₀.

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        On invalid d, r, activation or ``pm_pairs``.

    Examples
    --------
    >>> feature_rank_ceiling(3, 2, "identity")          # 6 − 1 = 5 < r·d = 6
    5
    >>> feature_rank_ceiling(4, 3, "relu", pm_pairs=True)   # 12 + 9 < 24 columns
    21
    >>> feature_rank_ceiling(4, 3, "silu")
    12

    References
    ----------
    Derived here.
    """
    d = require_int("dim", dim, 1)
    r = require_int("n_gates", n_gates, 1)
    activation = _activation(activation)
    pm_pairs = require_bool("pm_pairs", pm_pairs)
    low = max(d - r, 0)
    beta = d * (d + 1) // 2 - low * (low + 1) // 2
    if activation == "identity":
        return beta
    return r * d + beta if pm_pairs else r * d

"""Machine check that the dense encoder's kernel is singular only on a null set, at the shapes
``construct`` is benchmarked at (``theory.kernel_certificate``).

Claim (``measure-zero-shapes``). For an analytic gate σ (SiLU, GELU) and a shape
(F distinct keys, key rank q, r gate rows, bias or not), the dense encoder's kernel
``Q = (SSᵀ) ∘ (XXᵀ)`` is singular only for a Lebesgue-null set of (keys, gate draw), as soon
as one point of that shape has ``det Q ≠ 0``; this check certifies such a point for every
shape of ``benchmarks/bench_construct_params.py``. The argument:

1. ``f(Z, G, b) = det Q`` is real-analytic on ``ℝ^{F×q} × ℝ^{r×q} × ℝ^r``, a connected
   open set: Q's entries are polynomials in the ``σ(g_n·z_i + b_n)`` and the ``z_i``, and σ
   is real-analytic on ℝ (SiLU ``x/(1 + e^{−x})``: its poles are off the real line; GELU is
   entire). Not identically zero, its zero set is null (B. Mityagin, "The zero set of a real
   analytic function", 2015).
2. Whitening does not leave that setting: for keys K (F × d) of rank q = d the encoder's
   whitened keys are ``z_i = Bᵀk_i`` with B (d × d) invertible, and with
   ``φ(z) = σ(Gz + b) ⊗ [z; 1]``, ``φ(Bᵀk) = (I_r ⊗ diag(Bᵀ, 1)) φ_{GBᵀ}(k)``: an
   invertible map of the features, so ``det Q(Z, G, b) = 0 ⇔ f(K, GBᵀ, b) = 0``. The gate
   rows are Gaussian with an invertible covariance (N(0, s²/q), s from r and q only), so for
   fixed K the law of ``GBᵀ`` (and of b) is absolutely continuous.
3. Fubini: f's zero set is null, so for almost every K its section ``{(G', b) : f = 0}`` is
   null and the encoder's draw is singular with probability 0. (Keys of rank q < d: the same
   holds for their coordinates in their row space.) ReLU is not analytic and gets no such
   statement (``measure-zero-relu-counterexample``).

The one point per shape is the encoder's own: tied spherical keys (``make_factset``, seed
0) and the gate draw of ``solve_encoder`` with ``torch.Generator().manual_seed(0)`` (what
``construct`` with ``seed=0`` draws first), slack 0.05, no bias; its float64 whitened keys
and gate rows, taken as exact reals, get a rigorous lower bound on λ_min of the exact kernel
(:func:`theory.kernel_certificate.kernel_eigenvalue_certificate`, under its arithmetic
model, whose activation claim is the one measured part). Positive: ``f ≠ 0`` there.

Shapes: d ∈ {32, 64, 128}, F ∈ {d²/8, d²/4, d²/2}, q = d, r =
``encoder_gate_rows(F, d, 0.05)``; (1024, 64, 17) is also the demo's shape. All nine run by
default: 36 s on two lightly loaded cores, 9 s of it for d ≤ 64 (the d = 128 ones hold an
8192 × 8192 kernel, about 2 GB; on a heavily loaded machine OpenBLAS with two threads took
4 minutes). ``PROOFS_CHECK_SKIP_LARGE_SHAPES=1`` leaves out d = 128. Retries of a failed solve use more gate rows (other
shapes), not covered here.

Controls, which must be refused (bound ≤ 0): a repeated whitened key and the point cut to
its first q' coordinates with r q' < F (rank Φ ≤ r q' < F), both exactly singular. Cross-check at the
smallest shape: the bound lies below numpy's ``eigvalsh`` of Q̃ plus the bound on ‖Q − Q̃‖,
and above a quarter of it (not vacuous).

Evidence: per shape, the bound on λ_min, the bound on λ_max, their ratio (a rigorous lower
bound on 1/κ(Q)) and the seconds.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from numerics.construction.encoder_dense import draw_gates, whitening_basis
from numerics.embeddings.generators import make_factset
from proofs_check.registry import Evidence, check
from theory.kernel_certificate import (
    KernelEigenvalueCertificate,
    kernel_activation,
    kernel_eigenvalue_certificate,
)
from theory.param_count import encoder_gate_rows

#: The environment variable that leaves out the d = 128 shapes (set to 1).
SKIP_LARGE_VARIABLE = "PROOFS_CHECK_SKIP_LARGE_SHAPES"
#: bench_construct_params' dimensions, and those left when the large shapes are skipped.
DIMS = (32, 64, 128)
DIMS_SMALL = (32, 64)
SLACK = 0.05
SEED = 0


def shapes(large: bool | None = None) -> list[tuple[int, int]]:
    """(F, d) of bench_construct_params: F ∈ {d²/8, d²/4, d²/2}; d = 128 unless ``large`` is
    False (default: unless the environment variable :data:`SKIP_LARGE_VARIABLE` is 1)."""
    if large is None:
        large = os.environ.get(SKIP_LARGE_VARIABLE, "") != "1"
    return [(d * d // k, d) for d in (DIMS if large else DIMS_SMALL) for k in (8, 4, 2)]


def shape_point(n_facts: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's point at this shape: whitened distinct keys Z (F × q) and gate rows
    G_z (r × q), computed as ``solve_encoder`` computes them (float64)."""
    keys = make_factset("spherical", n_facts=n_facts, dim=dim, seed=SEED, tied=True).keys
    unique = np.unique(keys + 0.0, axis=0)
    basis = whitening_basis(unique)
    gates, _ = draw_gates(
        len(unique),
        basis.shape[1],
        activation="silu",
        slack=SLACK,
        bias=False,
        generator=torch.Generator().manual_seed(SEED),
    )
    Z = torch.as_tensor(unique) @ torch.as_tensor(basis)
    return Z.numpy(), gates.numpy()


def _cross_check(Z: np.ndarray, G: np.ndarray, cert: KernelEigenvalueCertificate) -> str | None:
    """None if the bound lies in [λ̃/4, λ̃ + ‖Q − Q̃‖] for numpy's eigvalsh λ̃ of the float
    kernel, else what is wrong (the kernel is recomputed here by plain products)."""
    S = kernel_activation("silu", Z @ G.T)
    smallest = float(np.linalg.eigvalsh((S @ S.T) * (Z @ Z.T))[0])
    # eigvalsh's own error is a few u·‖Q‖, far below the slack allowed here
    allowance = cert.kernel_error + 1e-12 * cert.upper_bound
    if not smallest / 4 <= cert.lower_bound <= smallest + allowance:
        return (
            f"bound {cert.lower_bound:.6g} outside [λ̃/4, λ̃ + {allowance:.2g}], λ̃ = {smallest:.6g}"
        )
    return None


@check(
    "measure-zero-shapes",
    claim="SiLU: at every shape (F, d, r) of bench_construct_params the dense "
    "encoder's kernel has a certified positive λ_min at one point, so by analyticity it is "
    "singular only on a null set of keys and gate draws",
    exercises="theory.kernel_certificate.kernel_eigenvalue_certificate, "
    "numerics.construction.encoder_dense.draw_gates",
)
def check_shapes() -> Evidence:
    lines: list[str] = []
    failures: list[str] = []
    for n_facts, dim in shapes():
        start = time.perf_counter()
        Z, G = shape_point(n_facts, dim)
        cert = kernel_eigenvalue_certificate(Z, G, activation="silu")
        seconds = time.perf_counter() - start
        ratio = cert.lower_bound / cert.upper_bound
        lines.append(f"d={dim}: {cert}; λ_min/λ_max ≥ {ratio:.3g} [{seconds:.1f}s]")
        rows = encoder_gate_rows(n_facts, dim, SLACK, "silu")
        if cert.shape != (n_facts, dim, rows, False):
            failures.append(f"F={n_facts}, d={dim}: shape {cert.shape}, expected r = {rows}")
        if not cert.certified:
            failures.append(f"F={n_facts}, d={dim}: {cert.reason}")
    if os.environ.get(SKIP_LARGE_VARIABLE, "") == "1":
        lines.append(f"d = 128 left out ({SKIP_LARGE_VARIABLE}=1)")

    # Cross-check and controls at the smallest shape.
    n_facts, dim = shapes()[0]
    Z, G = shape_point(n_facts, dim)
    cert = kernel_eigenvalue_certificate(Z, G, activation="silu")
    wrong = _cross_check(Z, G, cert)
    lines.append(f"cross-check at F={n_facts}, d={dim} against eigvalsh: {wrong or 'ok'}")
    if wrong:
        failures.append(f"cross-check: {wrong}")
    repeated = Z.copy()
    repeated[-1] = repeated[0]
    narrow = (n_facts - 1) // G.shape[0]  # the first q' coordinates: r q' < F, rank Φ < F
    for label, (keys, gates) in {
        "a repeated key": (repeated, G),
        f"q' = {narrow} of the {dim} coordinates, r q' < F": (Z[:, :narrow], G[:, :narrow]),
    }.items():
        control = kernel_eigenvalue_certificate(keys, gates, activation="silu")
        lines.append(f"control, {label} (exactly singular): {control}")
        if control.certified:
            failures.append(f"control {label}: certified at a singular point")
    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))

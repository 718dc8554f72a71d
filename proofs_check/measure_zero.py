"""Machine checks of the measure-zero claim for the encoder's linear system (``theory.failure_sets``).

Claims
------
- ``measure-zero-failure-condition``: the encoder fails for some target iff det(ΦΦᵀ) = 0 iff
  every maximal minor of Φ vanishes. Checked exactly over ℚ (ReLU and identity gates, random
  small-integer points, some singular on purpose): det(ΦΦᵀ) equals the sum of the squared
  F×F minors (Cauchy–Binet) and is 0 exactly when sympy's rank of Φ is below F; and
  ``khatri_rao_kernel`` equals ΦΦᵀ (the Hadamard identity) on float draws.
- ``measure-zero-silu-certificate``: with SiLU gates a maximal minor of Φ is nonzero at exact
  rational points (F = 6, d = 3, r = 2; F = 12, d = 4, r = 3; and F = 6 keys on the unit
  sphere), proved by interval arithmetic. The minor is real-analytic and not identically
  zero, so the failure set is Lebesgue-null. Each interval is cross-checked against an
  independent 60-digit mpmath evaluation and the float Φ of ``khatri_rao_features``; a
  duplicated key (a point that is singular on purpose) must give an interval holding 0.
- ``measure-zero-relu-counterexample``: with ReLU gates and no bias an exact rational point
  with every gate off at one key has a zero row of Φ and det(ΦΦᵀ) = 0 exactly, while SiLU at
  the same point is certified nonsingular; all-gates-off happens with probability 2^{−r}
  (binomial test, r = 1..6); Monte Carlo: ReLU singular in > 0 of N draws, SiLU in 0 of N.
- ``measure-zero-pm-pairs``: with ± gate pairs every key has exactly r active gates among
  2r and no row of Φ is zero (random draws; without the pairs some draws have zero rows);
  they do not give full rank: rank Φ± ≤ rd + β(d, r) < 2rd, attained on random draws.

Evidence: the determinant intervals, exact determinants, counts and seeds.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np

from proofs_check.registry import Evidence, check
from theory.failure_sets import (
    active_gate_counts,
    all_gates_off_probability,
    certify_nonsingular_minor,
    exact_gram_determinant,
    exact_khatri_rao_features,
    feature_rank_ceiling,
    khatri_rao_features,
    khatri_rao_kernel,
    pm_gate_pairs,
    singular_fraction,
)

_SEED = 20251202


def _stereographic(t) -> list[Fraction]:
    """The rational unit vector (2t, |t|² − 1)/(|t|² + 1) for t ∈ ℚ^{d−1}."""
    t = [Fraction(x) for x in t]
    s = sum(x * x for x in t)
    return [2 * x / (s + 1) for x in t] + [(s - 1) / (s + 1)]


#: Rational points (keys, gate rows): small integers, simple fractions, unit-sphere keys.
POINTS = {
    "F=6,d=3,r=2 (integers)": (
        [[2, 1, 1], [2, 0, 1], [2, -1, -2], [-1, -1, 2], [2, -2, 0], [2, -2, 1]],
        [[-2, 0, 2], [-1, -1, -1]],
    ),
    "F=12,d=4,r=3 (integers)": (
        [
            [1, -1, 0, -2],
            [1, 2, 1, -2],
            [0, -1, 2, 2],
            [-2, 0, 2, 2],
            [1, 1, -2, 1],
            [0, -2, -1, 0],
            [1, 0, 1, 2],
            [1, -1, 1, 0],
            [-2, -2, 1, -1],
            [0, -1, -1, -2],
            [-1, 2, 0, -1],
            [0, 2, -1, 0],
        ],
        [[0, 1, 0, 1], [0, 1, 2, -2], [0, 0, -1, -1]],
    ),
    "F=6,d=3,r=2 (unit-sphere keys, fractional gates)": (
        [
            _stereographic(t)
            for t in ([0, 0], [1, 0], [0, "1/2"], ["-1/3", 2], ["1/2", "1/2"], [-2, "-1/3"])
        ],
        [["1/2", "-1", "1/3"], ["-2/3", "1/4", "1"]],
    ),
}


def _mp_minor(keys, gates, columns, dps: int = 60):
    """det Φ[:, columns] with SiLU by plain mpmath at ``dps`` digits: independent of the
    interval code (σ(x) = x/(1 + exp(−x)) evaluated from the exact rational x)."""
    with mpmath.workdps(dps):
        k = [[Fraction(x) for x in row] for row in keys]
        g = [[Fraction(x) for x in row] for row in gates]
        d = len(k[0])
        rows = []
        for ki in k:
            z = [sum(gn[c] * ki[c] for c in range(d)) for gn in g]
            sig = [mpmath.mpf(zz.numerator) / zz.denominator for zz in z]
            sig = [x / (1 + mpmath.exp(-x)) for x in sig]
            rows.append(
                [
                    sig[j // d] * mpmath.mpf(ki[j % d].numerator) / ki[j % d].denominator
                    for j in columns
                ]
            )
        return mpmath.det(mpmath.matrix(rows))


@check(
    "measure-zero-silu-certificate",
    claim="SiLU: a maximal minor of Φ = σ(KG₀ᵀ) ⊙ₖᵣ K is provably nonzero at rational points, so "
    "the encoder fails only on a Lebesgue-null set",
    exercises="theory.failure_sets.certify_nonsingular_minor, theory.failure_sets.khatri_rao_features",
)
def check_silu_certificate() -> Evidence:
    lines: list[str] = []
    failures: list[str] = []
    for label, (keys, gates) in POINTS.items():
        cert = certify_nonsingular_minor(keys, gates, activation="silu", digits=30)
        lines.append(f"{label}: {cert}")
        if not cert.excludes_zero:
            failures.append(f"{label}: interval contains 0")
        if not all(math.isfinite(float(x)) for x in (cert.lower, cert.upper)):
            failures.append(f"{label}: interval is not finite")
        # Independent evaluation must lie inside the enclosure.
        with mpmath.workdps(60):
            ref = _mp_minor(keys, gates, cert.columns)
            inside = cert.lower <= ref <= cert.upper
            width = (cert.upper - cert.lower) / max(abs(ref), mpmath.mpf(10) ** -50)
        lines.append(
            f"    60-digit mpmath det = {mpmath.nstr(ref, 15)}: inside {inside}; "
            f"relative width {mpmath.nstr(width, 3)}"
        )
        if not inside:
            failures.append(f"{label}: independent det {mpmath.nstr(ref, 20)} outside the interval")
        if not width < 1e-20:
            failures.append(f"{label}: interval relative width {mpmath.nstr(width, 3)} ≥ 1e-20")
        # The float Φ (khatri_rao_features' column order) must give the same minor.
        phi = khatri_rao_features(
            [[float(Fraction(x)) for x in row] for row in keys],
            [[float(Fraction(x)) for x in row] for row in gates],
            "silu",
        )
        float_det = np.linalg.det(phi[:, list(cert.columns)])
        rel = abs(float_det - float(ref)) / abs(float(ref))
        lines.append(
            f"    float det of khatri_rao_features[:, columns] = {float_det:.12g} "
            f"(relative difference {rel:.2e})"
        )
        if not rel < 1e-8:
            failures.append(f"{label}: float Φ minor {float_det!r} ≠ {float(ref)!r}")

    # Negative control: a certificate that always excluded 0 would prove nothing.
    keys, gates = POINTS["F=6,d=3,r=2 (integers)"]
    duplicated = [keys[0]] + keys[:-1]
    control = certify_nonsingular_minor(duplicated, gates, activation="silu")
    lines.append(f"control, key 0 duplicated (det = 0 exactly): {control}")
    if control.excludes_zero:
        failures.append("duplicated key: the certificate excludes 0 at a singular point")

    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))


@check(
    "measure-zero-failure-condition",
    claim="the encoder fails for some target ⇔ rank Φ < F ⇔ all maximal minors vanish ⇔ "
    "det(ΦΦᵀ) = 0 (Cauchy–Binet); ΦΦᵀ = (SSᵀ)∘(KKᵀ)",
    exercises="theory.failure_sets.exact_gram_determinant, theory.failure_sets.khatri_rao_kernel",
)
def check_failure_condition() -> Evidence:
    rng = np.random.default_rng(_SEED)
    failures: list[str] = []
    n_cases = n_singular = 0
    for activation in ("relu", "identity"):
        for f, d, r in ((3, 2, 2), (4, 2, 3), (5, 3, 2), (6, 3, 2)):
            for rep in range(4):
                keys = rng.integers(-2, 3, (f, d)).tolist()
                gates = rng.integers(-2, 3, (r, d)).tolist()
                if rep == 3:  # singular on purpose: a repeated key
                    keys[-1] = list(keys[0])
                phi = exact_khatri_rao_features(keys, gates, activation)
                gram = exact_gram_determinant(keys, gates, activation)
                minors = sum(
                    phi.extract(list(range(f)), list(cols)).det() ** 2
                    for cols in itertools.combinations(range(r * d), f)
                )
                rank = phi.rank()
                n_cases += 1
                n_singular += gram == 0
                if gram != minors:
                    failures.append(
                        f"{activation} F={f} d={d} r={r}: det(ΦΦᵀ) = {gram} ≠ Σ minors² = {minors}"
                    )
                if (gram == 0) != (rank < f):
                    failures.append(
                        f"{activation} F={f} d={d} r={r}: det(ΦΦᵀ) = {gram} but rank Φ = {rank}"
                    )
    worst = 0.0
    for act in ("silu", "relu", "gelu", "identity"):
        keys = rng.standard_normal((9, 3))
        gates = rng.standard_normal((4, 3))
        phi = khatri_rao_features(keys, gates, act)
        q = khatri_rao_kernel(keys, gates, act)
        err = float(np.abs(q - phi @ phi.T).max() / np.abs(phi @ phi.T).max())
        worst = max(worst, err)
        if not err < 1e-12:
            failures.append(f"{act}: khatri_rao_kernel differs from ΦΦᵀ by {err:.2e} (relative)")
    lines = [
        f"{n_cases} exact rational instances (relu, identity; F ≤ 6, seed {_SEED}), "
        f"{n_singular} singular: det(ΦΦᵀ) = Σ_J det(Φ_J)² and (det = 0 ⇔ rank Φ < F) in "
        f"{n_cases - sum('minors' in x or 'rank' in x for x in failures)}/{n_cases}",
        f"khatri_rao_kernel vs ΦΦᵀ, 4 activations: worst relative difference {worst:.2e}",
    ]
    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))


# Key 5 = (−1, −1, −1) has g₁·k = −6 and g₂·k = −2: every ReLU gate is off. (No
# pre-activation is 0, so SiLU rows are not cut down by σ(0) = 0.)
RELU_COUNTEREXAMPLE = (
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [-1, -1, -1]],
    [[1, 2, 3], [2, -1, 1]],
)
_MC_SIZES = ((3, 2, 6, 500), (8, 4, 32, 200))  # (d, r, F, trials): square systems F = r·d
_OFF_DRAWS = 20_000


@check(
    "measure-zero-relu-counterexample",
    claim="ReLU without bias: a key with every gate off gives a zero row, so Φ is singular with "
    "probability ≥ 2^{−r} > 0 (SiLU: 0 of N draws)",
    exercises="theory.failure_sets.exact_gram_determinant, theory.failure_sets.all_gates_off_probability, "
    "theory.failure_sets.singular_fraction",
)
def check_relu_counterexample() -> Evidence:
    lines: list[str] = []
    failures: list[str] = []
    keys, gates = RELU_COUNTEREXAMPLE
    phi = exact_khatri_rao_features(keys, gates, "relu")
    zero_rows = [i for i in range(phi.rows) if all(x == 0 for x in phi.row(i))]
    gram = exact_gram_determinant(keys, gates, "relu")
    silu = certify_nonsingular_minor(keys, gates, activation="silu")
    lines.append(
        f"exact point K = {keys}, G₀ = {gates}: ReLU zero rows of Φ {zero_rows}, "
        f"det(ΦΦᵀ) = {gram} (exact); SiLU at the same point: {silu}"
    )
    if not zero_rows or gram != 0:
        failures.append(f"ReLU point: zero rows {zero_rows}, det(ΦΦᵀ) = {gram}")
    if not silu.excludes_zero:
        failures.append("SiLU at the ReLU counterexample is not certified nonsingular")

    # P(all gates off) = 2^{-r}: fresh key and gates per draw, so draws are independent.
    rng = np.random.default_rng(_SEED)
    worst_z = 0.0
    for r in range(1, 7):
        x = rng.standard_normal((_OFF_DRAWS, 5))
        g = rng.standard_normal((_OFF_DRAWS, r, 5))
        hits = int((np.einsum("nrd,nd->nr", g, x) <= 0).all(axis=1).sum())
        p = all_gates_off_probability(r)
        mean, sd = _OFF_DRAWS * float(p), math.sqrt(_OFF_DRAWS * float(p) * (1 - float(p)))
        z = (hits - mean) / sd
        worst_z = max(worst_z, abs(z))
        lines.append(
            f"r={r}: all gates off at {hits}/{_OFF_DRAWS} random (key, G₀) draws; "
            f"all_gates_off_probability = {p} → expected {mean:.0f} (z = {z:+.2f})"
        )
        if abs(z) > 5:
            failures.append(f"r={r}: {hits} all-off draws, {mean:.0f} expected (z = {z:.1f})")

    for d, r, f, trials in _MC_SIZES:
        relu = singular_fraction("relu", d, r, f, trials, _SEED)
        silu_mc = singular_fraction("silu", d, r, f, trials, _SEED)
        lines.append(f"Monte Carlo: {relu}")
        lines.append(f"Monte Carlo: {silu_mc}")
        if relu.n_singular == 0 or relu.n_zero_row_trials == 0:
            failures.append(f"d={d}: ReLU singular in {relu.n_singular}/{trials} draws")
        if silu_mc.n_singular != 0:
            failures.append(f"d={d}: SiLU singular in {silu_mc.n_singular}/{trials} draws")
    lines.append(f"rank test: {relu.tolerance}")
    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))


_PM_SIZES = ((3, 2), (4, 3), (8, 4), (16, 4))  # (d, r)
_PM_TRIALS = 50


@check(
    "measure-zero-pm-pairs",
    claim="± gate pairs: every key has exactly r of 2r ReLU gates on (no zero row), but rank Φ± ≤ "
    "rd + β(d, r) < 2rd, so they do not guarantee full rank",
    exercises="theory.failure_sets.pm_gate_pairs, theory.failure_sets.active_gate_counts, "
    "theory.failure_sets.feature_rank_ceiling",
)
def check_pm_pairs() -> Evidence:
    rng = np.random.default_rng(_SEED)
    lines: list[str] = []
    failures: list[str] = []
    for d, r in _PM_SIZES:
        f = r * d
        min_active = 10**9
        max_active = 0
        zero_pm = zero_plain = 0
        for _ in range(_PM_TRIALS):
            x = rng.standard_normal((f, d))
            keys = x / np.linalg.norm(x, axis=1, keepdims=True)
            g0 = rng.standard_normal((r, d))
            counts = active_gate_counts(keys, pm_gate_pairs(g0))
            min_active, max_active = min(min_active, counts.min()), max(max_active, counts.max())
            zero_pm += bool(
                (~khatri_rao_features(keys, pm_gate_pairs(g0), "relu").any(axis=1)).any()
            )
            zero_plain += bool((~khatri_rao_features(keys, g0, "relu").any(axis=1)).any())
        lines.append(
            f"d={d}, r={r}, F={f}, {_PM_TRIALS} draws: active gates per key among 2r = "
            f"{2 * r}: min {min_active}, max {max_active}; draws with a zero row: "
            f"{zero_pm} with ± pairs, {zero_plain} without"
        )
        if min_active < r or zero_pm:
            failures.append(
                f"d={d}, r={r}: ± pairs left a key with {min_active} active gates "
                f"or a zero row in {zero_pm} draws"
            )
        if max_active > r:
            failures.append(f"d={d}, r={r}: a key has {max_active} > r active gates")

        # The ceiling: more keys than columns, rank must stop at rd + β(d, r).
        ceiling = feature_rank_ceiling(d, r, "relu", pm_pairs=True)
        keys = rng.standard_normal((2 * r * d + 10, d))
        g0 = rng.standard_normal((r, d))
        ranks = {
            act: int(np.linalg.matrix_rank(khatri_rao_features(keys, pm_gate_pairs(g0), act)))
            for act in ("relu", "silu", "gelu")
        }
        lines.append(
            f"    rank Φ± on {keys.shape[0]} keys ({2 * r * d} columns): {ranks}; "
            f"feature_rank_ceiling = rd + β = {ceiling}"
        )
        if any(v > ceiling for v in ranks.values()):
            failures.append(f"d={d}, r={r}: rank {ranks} exceeds the ceiling {ceiling}")
        if ranks["silu"] != ceiling:
            failures.append(f"d={d}, r={r}: SiLU ± rank {ranks['silu']} does not attain {ceiling}")
        if r >= 2 and not ceiling < 2 * r * d:
            failures.append(f"d={d}, r={r}: ceiling {ceiling} is not below 2rd = {2 * r * d}")
    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))

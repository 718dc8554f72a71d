"""Machine check of decoder correctness on constructed MLPs: the code-error budget is ρ(W).

Claim
-----
- ``decoder-correctness``: project the values with ``P`` (d×m), ``w_j = Pᵀ v_j``, take the codes
  ``c_j = u*_j(W)`` (unit separators of the projected values) and let the encoder deliver
  ``c(k_i) = c_{f(i)} + δ_i``. Then for every key ``i`` and every ``j ≠ f(i)``

  ``<c(k_i), w_{f(i)} − w_j>  ≥  (ρ_{f(i)}(W) − ‖δ_i‖) · ‖w_{f(i)} − w_j‖``,

  so ``‖δ_i‖ < ρ_{f(i)}(W)`` for every key implies recall 1 (derived here; the statement and
  its two-line proof are in the docstring of :mod:`theory.decoder`).

What is run: :func:`numerics.construction.pipeline.construct` (default SiLU configuration) on small fact
sets (3 shapes × 3 seeds), the MLP saved with :func:`numerics.mlp.save_mlp` and read back with
``safetensors.numpy`` only. Everything below is numpy on the file's tensors, not the torch
module: ``P`` is recovered from the down projection (its column ``t·r + n`` is ``P[:, t]``; the
check fails if the columns of a group differ), the code output is the sum of each group's
hidden activations, ``c_t(k) = Σ_n σ(g_n·k + b_n)(a_{t,n}·k + b'_{t,n})``, and the codes and
``ρ_j(W)`` come from :func:`theory.decoder.build_decoder` on the recovered ``P``. For every
key the check verifies

1. the budget: ``‖δ_i‖ < ρ_{f(i)}(W)``;
2. the inequality for every competitor ``j`` (both sides computed independently), within
   rounding ``1e-12 · ‖c(k_i)‖ · ‖w_{f(i)} − w_j‖``;
3. the fold: the file's logits ``<g(k_i), v_j>`` equal ``<c(k_i), w_j>`` within rounding,
   and every margin ``<g(k_i), v_{f(i)} − v_j>`` is > 0 (recall 1).

Evidence: per case the worst ratio ``‖δ‖/ρ``, the worst normalised slack
``min (gap − bound)/(‖c‖·‖Δw‖)`` of the inequality, and the smallest margin. The inequality
part is a pure function, :func:`decoder_chain`, so a test can feed it perturbed code outputs
(``tests/test_decoder_check.py``) and see it fail.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file
from scipy.special import erf, expit

from proofs_check.registry import Evidence, check

__all__ = [
    "DecoderChainReport",
    "decoder_chain",
    "read_mlp_file",
    "numpy_hidden",
    "numpy_forward",
    "numpy_margins",
    "code_outputs",
    "recover_projection",
]

#: Rounding allowance of the inequality and the fold, relative to ‖c‖·‖Δw‖ (float64 sums of
#: at most a few hundred terms, far below this).
ROUNDING = 1e-12
_CASES = (("spherical", 24, 6), ("spiked", 40, 8), ("conditioned", 30, 6))
_SEEDS = (0, 1, 2)


# --------------------------------------------------------------------- numpy reading of a file


def read_mlp_file(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and the metadata of an MLP file, with plain safetensors + numpy."""
    tensors = load_file(os.fspath(path))
    with safe_open(os.fspath(path), framework="numpy") as handle:
        metadata = dict(handle.metadata() or {})
    return tensors, metadata


def _activation(name: str, z: np.ndarray) -> np.ndarray:
    if name == "silu":
        return z * expit(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "gelu":
        return 0.5 * z * (1 + erf(z / np.sqrt(2)))
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}")


def numpy_hidden(
    tensors: dict[str, np.ndarray], activation: str, x, dtype=np.float64
) -> np.ndarray:
    """``σ(G x + b_G) ⊙ (A x + b_A)`` for the rows of ``x`` (n×h), computed in ``dtype``."""
    x = np.asarray(x, dtype=dtype)
    gate = x @ tensors["gate_proj.weight"].astype(dtype).T
    up = x @ tensors["up_proj.weight"].astype(dtype).T
    if "gate_proj.bias" in tensors:
        gate = gate + tensors["gate_proj.bias"].astype(dtype)
    if "up_proj.bias" in tensors:
        up = up + tensors["up_proj.bias"].astype(dtype)
    return _activation(activation, gate) * up


def numpy_forward(
    tensors: dict[str, np.ndarray], activation: str, x, dtype=np.float64
) -> np.ndarray:
    """``g(x) = D(σ(Gx + b_G) ⊙ (Ax + b_A)) + b_D`` (n×d), numpy only, in ``dtype``."""
    out = numpy_hidden(tensors, activation, x, dtype) @ tensors["down_proj.weight"].astype(dtype).T
    if "down_proj.bias" in tensors:
        out = out + tensors["down_proj.bias"].astype(dtype)
    return out


def numpy_margins(outputs: np.ndarray, values: np.ndarray, fact_map: np.ndarray) -> np.ndarray:
    """``<y_i, v_f(i)> − max_{j≠f(i)} <y_i, v_j>`` per row (+inf when M = 1), in the dtype of
    ``outputs``."""
    values = np.asarray(values, dtype=outputs.dtype)
    logits = outputs @ values.T
    rows = np.arange(len(fact_map))
    true = logits[rows, fact_map]
    if values.shape[0] == 1:
        return np.full(len(fact_map), np.inf)
    logits[rows, fact_map] = -np.inf
    return (true - logits.max(axis=1)).astype(np.float64)


def recover_projection(tensors: dict[str, np.ndarray], group_size: int) -> np.ndarray:
    """``P`` (d×m) from the down projection, whose column ``t·r + n`` is ``P[:, t]``.

    Raises ValueError if the layout does not hold (a group with differing columns).
    """
    down = tensors["down_proj.weight"]
    d, h = down.shape
    if h % group_size:
        raise ValueError(f"hidden width {h} is not a multiple of the group size {group_size}")
    groups = down.reshape(d, h // group_size, group_size)
    if not np.array_equal(groups, np.repeat(groups[:, :, :1], group_size, axis=2)):
        raise ValueError("down projection columns differ within a group: not the fold D = P ⊗ 1ᵣ")
    return np.ascontiguousarray(groups[:, :, 0])


def code_outputs(
    tensors: dict[str, np.ndarray], activation: str, keys, group_size: int
) -> np.ndarray:
    """The encoder's code output ``c(k_i)`` (F×m): each group's hidden activations summed."""
    hidden = numpy_hidden(tensors, activation, keys)
    return hidden.reshape(hidden.shape[0], -1, group_size).sum(axis=2)


# --------------------------------------------------------------------- the inequality chain


@dataclass(frozen=True)
class DecoderChainReport:
    """Outcome of :func:`decoder_chain` on one fact set.

    worst_ratio : max_i ‖δ_i‖ / ρ_{f(i)}(W)  (< 1 required)
    worst_slack : min over (i, j) of (gap − bound) / (‖c(k_i)‖·‖w_{f(i)} − w_j‖)  (≥ −ROUNDING)
    min_gap : min over (i, j) of the code-side logit gap <c(k_i), w_{f(i)} − w_j>
    over_budget : keys with ‖δ_i‖ ≥ ρ_{f(i)}(W)
    violations : keys for which some j breaks the inequality beyond rounding
    misdecoded : keys whose code-side argmax is not f(i)
    """

    worst_ratio: float
    worst_slack: float
    min_gap: float
    over_budget: tuple[int, ...]
    violations: tuple[int, ...]
    misdecoded: tuple[int, ...]

    @property
    def passed(self) -> bool:
        return not (self.over_budget or self.violations or self.misdecoded)


def decoder_chain(
    outputs: np.ndarray,
    codes: np.ndarray,
    projected: np.ndarray,
    rho_per_value: np.ndarray,
    fact_map: np.ndarray,
) -> DecoderChainReport:
    """Check budget, inequality and decoding for code outputs ``outputs`` (F×m).

    ``codes`` (M×m) are the targets c_j, ``projected`` (M×m) the projected values w_j,
    ``rho_per_value`` (M) the ρ_j(W) of the used values.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    fact_map = np.asarray(fact_map)
    target = fact_map
    delta = np.linalg.norm(outputs - codes[target], axis=1)
    rho = rho_per_value[target]
    ratio = delta / rho
    over = np.flatnonzero(~(delta < rho))

    n_facts, n_values = outputs.shape[0], projected.shape[0]
    diff = projected[target][:, None, :] - projected[None, :, :]  # (F, M, m): w_f(i) − w_j
    diff_norm = np.linalg.norm(diff, axis=2)
    gap = np.einsum("im,ijm->ij", outputs, diff)
    bound = (rho - delta)[:, None] * diff_norm
    scale = np.linalg.norm(outputs, axis=1)[:, None] * diff_norm
    competitor = np.ones((n_facts, n_values), dtype=bool)
    competitor[np.arange(n_facts), target] = False
    slack = np.where(
        competitor & (scale > 0), (gap - bound) / np.where(scale > 0, scale, 1), np.inf
    )
    violations = np.flatnonzero((slack < -ROUNDING).any(axis=1))
    masked_gap = np.where(competitor, gap, np.inf)
    misdecoded = np.flatnonzero(~(masked_gap > 0).all(axis=1))
    return DecoderChainReport(
        worst_ratio=float(ratio.max()),
        worst_slack=float(slack.min()) if competitor.any() else float("inf"),
        min_gap=float(masked_gap.min()) if competitor.any() else float("inf"),
        over_budget=tuple(int(i) for i in over),
        violations=tuple(int(i) for i in violations),
        misdecoded=tuple(int(i) for i in misdecoded),
    )


# --------------------------------------------------------------------- the registered check


def _run_case(family: str, n_facts: int, dim: int, seed: int) -> tuple[bool, str]:
    from numerics.construction.pipeline import ConstructionConfig, construct
    from numerics.embeddings.generators import make_factset
    from numerics.mlp import save_mlp
    from theory.decoder import build_decoder

    factset = make_factset(family, n_facts=n_facts, dim=dim, seed=seed)
    built = construct(factset, ConstructionConfig(seed=seed))
    group = built.encoder.group_size
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mlp.safetensors")
        save_mlp(path, built.weights, built.metadata())
        tensors, meta = read_mlp_file(path)
    keys, values, fact_map = factset.keys, factset.values, factset.fact_map
    projection = recover_projection(tensors, group)
    decoder = build_decoder(values, fact_map, projection)
    projected = values @ projection
    outputs = code_outputs(tensors, meta["activation"], keys, group)
    report = decoder_chain(outputs, decoder.codes, projected, decoder.rho_projected, fact_map)

    y = numpy_forward(tensors, meta["activation"], keys)
    fold_error = np.abs(y @ values.T - outputs @ projected.T).max()
    fold_scale = (
        np.linalg.norm(outputs, axis=1).max()
        * np.linalg.norm(projected, axis=1).max()
        * (1 + np.abs(projection).max())
    )
    margins = numpy_margins(y, values, fact_map)
    fold_ok = fold_error <= ROUNDING * fold_scale * projection.shape[0]
    passed = report.passed and fold_ok and bool((margins > 0).all())
    line = (
        f"{family} F={n_facts} d={dim} seed={seed}: m={projection.shape[1]}, "
        f"ρ(W)={decoder.rho:.3g}, worst ‖δ‖/ρ={report.worst_ratio:.2e}, worst slack "
        f"{report.worst_slack:.2e}, min margin {margins.min():.3g}, fold error "
        f"{fold_error:.1e}" + ("" if passed else f"  FAILED {report}")
    )
    return passed, line


@check(
    "decoder-correctness",
    claim="constructed MLPs keep every code error below ρ_f(i)(W), every logit gap above "
    "(ρ − ‖δ‖)·‖w_f(i) − w_j‖, and decode every fact",
    exercises="numerics.construction.pipeline.construct, theory.decoder.build_decoder",
)
def decoder_correctness() -> Evidence:
    results = [_run_case(family, n, d, seed) for family, n, d in _CASES for seed in _SEEDS]
    lines = [line for _, line in results]
    lines.append(
        f"budget: ‖δ‖ < ρ; inequality within {ROUNDING:.0e}·‖c‖·‖Δw‖; "
        "numpy forward of the saved file"
    )
    return Evidence(passed=all(ok for ok, _ in results), details="\n".join(lines))

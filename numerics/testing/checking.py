"""One fact set through one method: build, independent recall check, refusal certificate.

See :mod:`numerics.testing.fuzzer` for the classification (stored / refused with
certificate / infeasible / failed); this module holds the pieces that do not depend on the
fuzzing loop: :func:`hull_weights` and :func:`infeasibility_certificate` (the independent
infeasibility check), :func:`file_margins` (the numpy forward pass of an MLP file) and
:func:`check_factset`.
"""

from __future__ import annotations

import math
import os
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numerics.factset import FactSet
from theory.errors import FactMLPError, InvalidInputError

__all__ = [
    "FUZZ_DTYPES",
    "HULL_TOLERANCE",
    "Outcome",
    "check_factset",
    "file_margins",
    "infeasibility_certificate",
    "hull_weights",
]

#: Formats the independent numpy forward pass evaluates in (numpy has no bfloat16).
FUZZ_DTYPES = ("float32", "float64")
#: A value is certified to lie in the hull of the others when convex weights reproduce it
#: to this relative residual (max-norm, relative to the largest value entry).
HULL_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- certificates


def hull_weights(values: np.ndarray, index: int) -> np.ndarray | None:
    """Convex weights ``λ`` (over all values, ``λ_index = 0``) with ``Σ λ_j v_j = v_index``
    to :data:`HULL_TOLERANCE`, or ``None`` when ``v_index`` is not in the hull of the others.

    Solved as the feasibility LP ``{λ ≥ 0, Σλ = 1, Vᵀλ = v}`` by HiGHS on values scaled to
    max-entry 1, then verified (and, if needed, polished by non-negative least squares on
    the LP's support): the returned weights are checked, not trusted.

    Examples
    --------
    >>> v = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> hull_weights(v, 2).round(6).tolist(), hull_weights(v, 3)
    ([0.5, 0.5, 0.0, 0.0], None)
    """
    from scipy.optimize import linprog, nnls

    values = np.asarray(values, dtype=np.float64)
    others = np.delete(np.arange(values.shape[0]), index)
    if others.size == 0:
        return None
    scale = float(np.abs(values).max()) or 1.0
    basis = values[others] / scale
    target = values[index] / scale
    a_eq = np.vstack([basis.T, np.ones(others.size)])
    b_eq = np.concatenate([target, [1.0]])

    def residual(weights: np.ndarray) -> float:
        return float(np.abs(a_eq @ weights - b_eq).max())

    result = linprog(np.zeros(others.size), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if result.status != 0:
        return None
    weights = np.clip(result.x, 0.0, None)
    if residual(weights) > HULL_TOLERANCE:
        support = np.flatnonzero(weights > 0) if (weights > 0).any() else np.arange(others.size)
        polished = np.zeros(others.size)
        polished[support], _ = nnls(a_eq[:, support], b_eq)
        weights = polished
    if residual(weights) > HULL_TOLERANCE:
        return None
    out = np.zeros(values.shape[0])
    out[others] = weights
    return out


def infeasibility_certificate(factset: FactSet) -> dict | None:
    """An independent proof that no MLP stores ``factset``: the first used value that lies
    in the convex hull of the other values, with **exact** convex weights
    (:class:`theory.hull_exact.HullCertificate` as JSON: ``kind``, ``value``, ``support``,
    ``"p/q"`` weights), or ``None`` when no used value has such weights.

    :func:`hull_weights` (a float LP to :data:`HULL_TOLERANCE`) only proposes the support; the
    weights are then solved and checked in exact rational arithmetic
    (:func:`theory.hull_exact.decide_hull`), so a value within the tolerance of the hull but
    outside it is never certified.

    Why it suffices: if ``v_i = Σ λ_j v_j`` (convex, ``j ≠ i``) then for any output ``y``,
    ``<y, v_i> = Σ λ_j <y, v_j> ≤ max_j <y, v_j>``, so no logit of ``v_i`` strictly beats
    every competitor.
    """
    from theory.hull_exact import HullCertificate, decide_hull

    for i in factset.used_values:
        weights = hull_weights(factset.values, int(i))
        if weights is None:
            continue
        cert = decide_hull(factset.values, int(i), supports=[np.flatnonzero(weights > 0)])
        if isinstance(cert, HullCertificate):
            return cert.to_json()
    return None


# --------------------------------------------------------------------------- forward pass


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    from scipy.special import erf

    if name == "relu":
        return lambda z: np.maximum(z, z.dtype.type(0))
    if name == "silu":
        return lambda z: z / (z.dtype.type(1) + np.exp(-z))
    if name == "gelu":
        half, root = 0.5, math.sqrt(0.5)
        return lambda z: (
            (z.dtype.type(half) * z)
            * (z.dtype.type(1) + erf(z * z.dtype.type(root)).astype(z.dtype))
        )
    if name == "identity":
        return lambda z: z
    raise InvalidInputError(f"activation {name!r} is unknown to the fuzzer's forward pass")


def file_margins(path: str | os.PathLike, factset: FactSet, dtype: str = "float32") -> np.ndarray:
    """Decoding margins of the MLP file at ``path`` on ``factset``, computed with numpy only.

    The file is read with ``safetensors`` (numpy framework), every tensor, key and value is
    rounded once to ``dtype``, and ``g(x) = down(act(gate x + b_G) ⊙ (up x + b_A)) + b_D``
    and the logits are evaluated in ``dtype``. Returns, per key,
    ``<g(k_i), v_f(i)> − max_{j ≠ f(i)} <g(k_i), v_j>`` (``+inf`` when M = 1; ``nan``
    where the pass overflowed to nan). Stored iff every entry is ``> 0``.
    """
    from safetensors import safe_open

    if dtype not in FUZZ_DTYPES:
        raise InvalidInputError(f"dtype must be one of {', '.join(FUZZ_DTYPES)}, got {dtype!r}")
    np_dtype = np.dtype(dtype)
    with np.errstate(all="ignore"):  # rounding to float32 may overflow: inf, then a failure
        with safe_open(os.fspath(path), framework="numpy") as handle:
            meta = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name).astype(np_dtype) for name in handle.keys()}
        act = _activation(meta["activation"])
        keys = factset.keys.astype(np_dtype)
        values = factset.values.astype(np_dtype)
        zero = np_dtype.type(0)
        gate = keys @ tensors["gate_proj.weight"].T + tensors.get("gate_proj.bias", zero)
        up = keys @ tensors["up_proj.weight"].T + tensors.get("up_proj.bias", zero)
        hidden = act(gate) * up
        out = hidden @ tensors["down_proj.weight"].T + tensors.get("down_proj.bias", zero)
        logits = (out @ values.T).astype(np.float64)
    rows = np.arange(factset.n_facts)
    target = logits[rows, factset.fact_map]
    if factset.n_values == 1:
        return np.where(np.isnan(target), np.nan, np.inf)
    rivals = logits.copy()
    rivals[rows, factset.fact_map] = -np.inf
    with np.errstate(invalid="ignore"):
        margins = target - rivals.max(axis=1)
    margins[np.isnan(logits).any(axis=1)] = np.nan
    return margins


# --------------------------------------------------------------------------- one fact set


@dataclass(frozen=True)
class Outcome:
    """What happened to one fact set (module docstring, step 4).

    Attributes
    ----------
    status : "stored", "refused", "infeasible" or "failed"
    kind : for ``failed``: ``not_stored``, ``refused_uncertified`` or ``crashed``; for
        ``refused``: the exception's class name; else equal to ``status``.
    message : one line (the exception, or the failed keys and the smallest margin).
    hidden : width of the built MLP (``None`` when nothing was built).
    requested_hidden : the width asked of ``build`` (``None`` when capacity found none).
    min_margin : smallest margin of the independent check (``None`` when nothing was built).
    failed_keys : keys whose margin is not positive.
    certificate : the infeasibility certificate (``refused``/``infeasible``).
    certified : float32 precision certificate of a stored set (``None`` when not run).
    """

    status: str
    kind: str
    message: str = ""
    hidden: int | None = None
    requested_hidden: int | None = None
    min_margin: float | None = None
    failed_keys: tuple[int, ...] = ()
    certificate: dict | None = None
    certified: bool | None = None


def _resolve_method(method):
    from numerics.methods import Method, get_method

    if isinstance(method, str):
        return get_method(method)
    if not isinstance(method, Method):
        raise InvalidInputError(
            f"method must be a method name or a Method, got {type(method).__name__}"
        )
    return method


def _build(method, factset: FactSet, width, seed: int, dtype: str):
    """(BuildResult, requested width) under the width rule, or raise what build raised."""
    if width == "capacity":
        import torch

        from numerics.methods.capacity_search import capacity

        result = capacity(factset, method, seed=seed, dtype=getattr(torch, dtype))
        if result.build is not None:
            return result.build, result.searched_hidden
        hidden = int(method.default_max_hidden(factset))
    elif width == "max":
        hidden = int(method.default_max_hidden(factset))
    else:
        hidden = int(width)
    return method.build(factset, hidden, seed=seed), hidden


def _certify(path: Path, factset: FactSet) -> bool:
    import torch

    from numerics.mlp import load_mlp
    from numerics.precision import certify_recall

    weights, _ = load_mlp(path, dtype=torch.float64)
    try:
        return certify_recall(weights, factset, "float32", observe=False).certified_fraction == 1.0
    except FactMLPError:
        return False


def check_factset(
    method,
    factset: FactSet,
    *,
    seed: int = 0,
    dtype: str = "float32",
    width: str | int = "max",
    workdir: str | os.PathLike | None = None,
    certify: bool = True,
) -> Outcome:
    """Build ``factset`` with ``method`` and classify the result (module docstring, 2–4).

    ``method`` is a registry name or a :class:`~numerics.methods.Method`; the MLP file goes
    to ``workdir`` (a temporary folder by default) as ``mlp.safetensors``.
    """
    method = _resolve_method(method)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="factmlp-fuzz-") as tmp:
            return check_factset(
                method, factset, seed=seed, dtype=dtype, width=width, workdir=tmp, certify=certify
            )
    path = Path(workdir) / "mlp.safetensors"
    try:
        built, requested = _build(method, factset, width, seed, dtype)
        built.save(path)
    except FactMLPError as exc:
        certificate = infeasibility_certificate(factset)
        message = f"{type(exc).__name__}: {exc}"
        if certificate is not None:
            return Outcome("refused", type(exc).__name__, message, certificate=certificate)
        return Outcome("failed", "refused_uncertified", message)
    except Exception as exc:  # a crash is a finding, not a reason to stop fuzzing
        where = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        return Outcome("failed", "crashed", message)
    margins = file_margins(path, factset, dtype)
    bad = np.flatnonzero(~(margins > 0))
    smallest = math.nan if np.isnan(margins).any() else float(margins.min())
    common = dict(
        hidden=int(built.hidden),
        requested_hidden=None if requested is None else int(requested),
        min_margin=smallest,
        failed_keys=tuple(int(i) for i in bad),
    )
    if bad.size == 0:
        certified = _certify(path, factset) if certify and dtype == "float32" else None
        return Outcome("stored", "stored", certified=certified, **common)
    message = (
        f"{bad.size} of {factset.n_facts} keys not stored in {dtype} "
        f"(keys {bad[:8].tolist()}{' …' if bad.size > 8 else ''}; "
        f"min margin {smallest:.3g}) at hidden {built.hidden}"
    )
    certificate = infeasibility_certificate(factset)
    if certificate is not None:
        return Outcome("infeasible", "infeasible", message, certificate=certificate, **common)
    return Outcome("failed", "not_stored", message, **common)

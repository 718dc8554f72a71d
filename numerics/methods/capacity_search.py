"""Capacity of a method: the smallest hidden width at which it stores every fact.

.. math::

    h^*(\\text{method}, K, V, f, s) = \\min\\{h : \\text{recall}(\\text{build}(K, V, f, h, s)) = 1\\},

reported with its parameters per fact ``W/F`` and bits per parameter (bits the fact set
carries, :func:`theory.bounds.bits_per_param`, over ``W``).

Search (recall need not be monotone in the width, so the search is explicit about what it
assumes and checks what it returns):

1. **Bracket.** Evaluate the method's first guess ``h₀`` (``method.initial_hidden``). On
   success divide by the method's ``bracket_step`` (default 2: halve) until a width fails (or
   1 succeeds); on failure multiply by it until one succeeds, capping at ``max_hidden``
   (tried last). A method whose first guess is close to its capacity and whose builds are
   expensive (``maxmargin``) sets a smaller step, so the bracket costs fewer failed builds.
   A method that never succeeds up to ``max_hidden`` is ``reached = False`` with its best
   recall.
2. **Bisect** between the largest failing and the smallest succeeding width until they are
   within ``rel_precision`` of the succeeding one (``hi − lo ≤ max(1, rel_precision·hi)``).
   Bisection assumes monotonicity inside the bracket; where it does not hold the search can
   return a width above a smaller working one (an upper bound on h*), never a failing one.
3. **Re-verify** the returned width with an independent draw (seed ``seed + 1``): a width
   that only works for one lucky draw is not a capacity. If the re-check fails, walk up by
   factors of ``1 + rel_precision`` (each step must succeed for both seeds) up to
   ``max_hidden``; if no step does, the result keeps the seed-``seed`` width with
   ``verified = False``.

A width at which the method cannot build anything (:class:`WidthTooSmallError`) or whose
solve is singular (:class:`~theory.errors.SolverError`) counts as recall 0.0.

Recall is evaluated in ``dtype`` (float32 by default, as in the construction benchmark of
issue 3: an MLP that only stores the facts in float64 does not count) on ``device``.

References: the binary search over width at 5% relative precision follows the follow-up
paper's protocol (paper.md §5); bracketing and re-verification are ours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from numerics.dtypes import DTYPE_NAMES, torch_dtype
from numerics.factset import FactSet
from numerics.methods.base import BuildResult, Method, WidthTooSmallError, resolve_device
from numerics.methods.registry import get_method
from numerics.shared_gates import evaluator
from numerics.strict_recall import recall
from theory.bounds import bits_per_param, is_bijection
from theory.errors import InvalidInputError, SolverError
from theory.feasibility import feasibility, require_feasible
from theory.validation import require_int

__all__ = ["CapacityResult", "capacity"]


@dataclass(frozen=True)
class CapacityResult:
    """Outcome of :func:`capacity`.

    Attributes
    ----------
    method : str
    reached : bool
        Some width up to ``max_hidden`` stores every fact.
    hidden : int or None
        Width of the returned MLP (``None`` when not reached). It can be below the searched
        width for methods whose layout quantises the width (``encdec``, ``lookup``).
    searched_hidden : int or None
        The requested width the search settled on (as in ``trials``).
    params : int or None
        Parameters of the returned MLP (every stored scalar).
    params_per_fact, bits_per_param : float or None
    recall : float
        1.0 when reached, else the best recall seen.
    seconds : float
        Wall time of the whole search.
    trials : tuple of (int, float)
        (requested width, recall) in the order tried, for seed ``seed``.
    verify_trials : tuple of (int, float)
        (requested width, recall) of the independent re-check (seed ``seed + 1``).
    verified : bool
        The returned width also stores every fact for the independent draw.
    seed, max_hidden, n_facts, dtype : the search's settings
    build : BuildResult or None
        The returned MLP (not part of :meth:`to_dict`).
    """

    method: str
    reached: bool
    hidden: int | None
    searched_hidden: int | None
    params: int | None
    params_per_fact: float | None
    bits_per_param: float | None
    recall: float
    seconds: float
    trials: tuple[tuple[int, float], ...]
    verify_trials: tuple[tuple[int, float], ...]
    verified: bool
    seed: int
    max_hidden: int
    n_facts: int
    dtype: str
    build: BuildResult | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-safe summary (the ``factmlp capacity --json`` object)."""
        out = {
            name: getattr(self, name)
            for name in (
                "method",
                "reached",
                "hidden",
                "searched_hidden",
                "params",
                "params_per_fact",
                "bits_per_param",
                "recall",
                "seconds",
                "verified",
                "seed",
                "max_hidden",
                "n_facts",
                "dtype",
            )
        }
        out["trials"] = [[int(h), float(r)] for h, r in self.trials]
        out["verify_trials"] = [[int(h), float(r)] for h, r in self.verify_trials]
        out["info"] = dict(self.build.info) if self.build is not None else None
        return out


class _Evaluator:
    """Builds and scores widths for one seed, caching each width's outcome."""

    def __init__(
        self,
        method: Method,
        factset: FactSet,
        seed: int,
        device: str,
        dtype: torch.dtype,
        on_trial: Callable[[int, float], None],
    ):
        self.method, self.factset, self.seed = method, factset, seed
        self.device, self.dtype, self.on_trial = device, dtype, on_trial
        self.trials: list[tuple[int, float]] = []
        self.builds: dict[int, BuildResult] = {}
        self._recall: dict[int, float] = {}

    def __call__(self, hidden: int) -> float:
        if hidden in self._recall:
            return self._recall[hidden]
        try:
            built = self.method.build(self.factset, hidden, seed=self.seed, device=self.device)
        except (WidthTooSmallError, SolverError):
            accuracy = 0.0
        else:
            mlp = evaluator(built.weights.to(device=self.device, dtype=self.dtype))
            # Keys per block so that the hidden activations stay ≤ 2^24 entries.
            chunk = max(1, min(self.factset.n_facts, 2**24 // built.hidden, 4096))
            accuracy = recall(
                mlp, self.factset, device=self.device, dtype=self.dtype, key_chunk=chunk
            ).accuracy
            if accuracy == 1.0:
                self.builds[hidden] = built
        self._recall[hidden] = accuracy
        self.trials.append((hidden, accuracy))
        self.on_trial(hidden, accuracy)
        return accuracy


def _search(
    ok: Callable[[int], bool],
    start: int,
    max_hidden: int,
    rel_precision: float,
    step: float = 2.0,
) -> int | None:
    """Smallest succeeding width found by bracketing and bisection (module docstring)."""
    start = min(max(1, start), max_hidden)
    if ok(start):
        hi, lo = start, 0
        while hi > 1:
            probe = max(1, min(hi - 1, math.floor(hi / step)))
            if ok(probe):
                hi = probe
            else:
                lo = probe
                break
    else:
        lo, hi = start, None
        while hi is None:
            if lo >= max_hidden:
                return None
            probe = min(max_hidden, max(lo + 1, math.ceil(lo * step)))
            if ok(probe):
                hi = probe
            else:
                lo = probe
    while hi - lo > max(1.0, rel_precision * hi):
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def capacity(
    factset: FactSet,
    method: str | Method,
    *,
    max_hidden: int | None = None,
    seed: int = 0,
    rel_precision: float = 0.05,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    progress: bool = False,
) -> CapacityResult:
    """Smallest hidden width at which ``method`` stores ``factset`` (module docstring).

    Parameters
    ----------
    factset : FactSet
    method : str or Method
        A registry name (:data:`numerics.methods.METHODS`) or a method object (e.g. a
        configured ``GDMethod``).
    max_hidden : int, optional
        Largest width tried (default ``method.default_max_hidden(factset)``).
    seed : int ≥ 0
        Seed of every build; the re-check uses ``seed + 1``.
    rel_precision : float in (0, 1)
        Bisection stops when ``hi − lo ≤ max(1, rel_precision·hi)``.
    dtype : torch.dtype
        Recall dtype (float32 default; float64 and bfloat16 allowed).
    device : str
        Where the methods build and recall runs.
    progress : bool
        Print one line per trial on stderr (rich).

    Returns
    -------
    CapacityResult

    Raises
    ------
    InfeasibleFactSetError
        A used value has ρ = 0: no method and no width can store the set (names the values
        and keys).
    InvalidInputError
        Bad arguments (unknown method, width or precision out of range, unknown dtype).
    NeedsAcceleratorError
        The method refuses the point on this device (``gd`` at large d or F on a CPU);
        checked first, before the feasibility check or any build.

    Examples
    --------
    >>> from numerics.embeddings.generators import make_factset
    >>> result = capacity(make_factset("spherical", n_facts=16, dim=8, seed=0), "lookup")
    >>> result.reached, result.hidden, result.params == 3 * 16 * 8 + 16
    (True, 16, True)
    """
    start_time = time.perf_counter()
    if not isinstance(factset, FactSet):
        raise InvalidInputError(f"factset must be a FactSet, got {type(factset).__name__}")
    if isinstance(method, str):
        method = get_method(method)
    elif not isinstance(method, Method):
        raise InvalidInputError(
            f"method must be a method name or a Method, got {type(method).__name__}"
        )
    require_int("seed", seed, 0)
    if (
        isinstance(rel_precision, bool)
        or not isinstance(rel_precision, (int, float))
        or not (0 < rel_precision < 1)
    ):
        raise InvalidInputError(f"rel_precision must lie in (0, 1), got {rel_precision!r}")
    if dtype not in {torch_dtype(name) for name in DTYPE_NAMES}:
        raise InvalidInputError(
            f"dtype must be one of torch.{', torch.'.join(DTYPE_NAMES)}, got {dtype!r}"
        )
    device = str(resolve_device(device))
    if max_hidden is None:
        max_hidden = int(method.default_max_hidden(factset))
    max_hidden = require_int("max_hidden", max_hidden, 1)
    check_device = getattr(method, "check_device", None)
    if check_device is not None:  # refuse a point too large for the device before any work
        check_device(factset, torch.device(device))
    require_feasible(feasibility(factset.keys, factset.values, factset.fact_map))

    def report(label: str) -> Callable[[int, float], None]:
        if not progress:
            return lambda hidden, accuracy: None
        from rich.console import Console

        console = Console(stderr=True)
        return lambda hidden, accuracy: console.print(
            f"capacity {method.name} {label}: hidden {hidden} → recall {accuracy:.4f}"
        )

    main = _Evaluator(method, factset, seed, device, dtype, report(f"seed {seed}"))
    check = _Evaluator(
        method, factset, seed + 1, device, dtype, report(f"re-check seed {seed + 1}")
    )
    step = float(getattr(method, "bracket_step", 2.0))
    found = _search(
        lambda h: main(h) == 1.0,
        int(method.initial_hidden(factset)),
        max_hidden,
        rel_precision,
        step,
    )
    verified = False
    if found is not None:
        width = found
        while True:
            if main(width) == 1.0 and check(width) == 1.0:
                found, verified = width, True
                break
            if width >= max_hidden:
                break
            width = min(max_hidden, max(width + 1, math.floor(width * (1 + rel_precision))))

    seconds = time.perf_counter() - start_time
    common = dict(
        method=method.name,
        seconds=seconds,
        trials=tuple(main.trials),
        verify_trials=tuple(check.trials),
        seed=seed,
        max_hidden=max_hidden,
        n_facts=factset.n_facts,
        dtype=str(dtype).removeprefix("torch."),
    )
    if found is None:
        return CapacityResult(
            reached=False,
            hidden=None,
            searched_hidden=None,
            params=None,
            params_per_fact=None,
            bits_per_param=None,
            recall=max(r for _, r in main.trials),
            verified=False,
            **common,
        )
    built = main.builds[found]
    return CapacityResult(
        reached=True,
        hidden=built.hidden,
        searched_hidden=found,
        params=built.params,
        params_per_fact=built.params / factset.n_facts,
        bits_per_param=bits_per_param(
            factset.n_facts,
            factset.n_values,
            built.params,
            bijective=is_bijection(factset.fact_map, factset.n_values),
        ),
        recall=1.0,
        verified=verified,
        build=built,
        **common,
    )

"""The fuzzer: draw edge-case fact sets, build each with a method, check recall independently.

:func:`fuzz` runs ``examples`` fact sets, shared round-robin over the recipes of
:data:`numerics.testing.strategies.STRATEGIES` (or the ones named), through one method:

1. **Draw.** Example ``k`` of recipe ``name`` is
   ``draw_factset(name, numpy.random.default_rng([seed, crc32(name), k]))``: the same seed
   gives the same fact sets, whichever other recipes run and whatever the time budget.
2. **Build** at a width: ``"max"`` (default) the method's ``default_max_hidden`` (the most
   generous width its capacity search would try; one build), ``"capacity"`` the width
   :func:`numerics.methods.capacity_search.capacity` finds (its MLP; the max width when not
   reached), or a fixed integer. The MLP is written to a safetensors file.
3. **Check** the file with a forward pass of its own (:func:`file_margins`: numpy only,
   ``safetensors.numpy``; ``g(x) = down(act(gate x + b) ⊙ (up x + b)) + b`` in ``dtype``):
   fact ``i`` is stored iff ``<g(k_i), v_f(i)> − max_{j≠f(i)} <g(k_i), v_j> > 0`` (a tie,
   NaN or overflow fails).
4. **Classify** (:class:`Outcome`):

   - ``stored``: every margin positive. With ``dtype="float32"`` the MLP is also given to
     :func:`numerics.precision.certify_recall`; ``certified`` counts those proven to decode
     under every float32 evaluation (not only this machine's).
   - ``refused``: the method raised a typed refusal (any :class:`~theory.errors.FactMLPError`,
     e.g. :class:`~theory.errors.InfeasibleFactSetError`) **and** the set is infeasible by
     an independent check (:func:`infeasibility_certificate`: a used value in the convex
     hull of the others, by ``scipy.optimize.linprog`` on convex weights, the residual
     verified); the certificate is kept.
   - ``infeasible``: built, not stored, and certified infeasible (nothing could store it).
   - ``failed``: anything else — not stored although feasible (``not_stored``), a refusal
     without certificate (``refused_uncertified``), any other exception (``crashed``).

5. **Shrink** each failure (:func:`shrink`): delta debugging over the facts (``ddmin``:
   drop chunks, then complements, refining to single facts) and then greedy removal of the
   values no remaining fact uses, keeping a candidate only when the same method, width rule,
   seed and dtype still fail **the same way**; bounded by ``shrink_seconds`` and
   ``shrink_steps`` per failure. The shrunk set is saved as ``.npz``
   (:meth:`~numerics.factset.FactSet.save`) beside the original and a ``.sh`` script that
   rebuilds the MLP and runs ``factmlp verify``.

Identical keys mapped to different values are malformed input (``FactSet`` refuses them);
no recipe draws them.
"""

from __future__ import annotations

import math
import os
import shlex
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from numerics.factset import FactSet
from numerics.testing.checking import FUZZ_DTYPES, _resolve_method, check_factset
from numerics.testing.shrinking import shrink
from numerics.testing.strategies import STRATEGIES, draw_factset
from theory.errors import InvalidInputError

__all__ = ["FuzzFailure", "StrategyCounts", "FuzzReport", "fuzz"]

# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class FuzzFailure:
    """One failure, shrunk and saved."""

    strategy: str
    example: int
    kind: str
    message: str
    file: str
    original_file: str
    script: str
    n_facts: int
    n_values: int
    original_n_facts: int
    original_n_values: int
    hidden: int | None
    shrink_steps: int
    shrink_seconds: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class StrategyCounts:
    """Counts of one recipe (``certified`` ⊆ ``stored``)."""

    examples: int = 0
    stored: int = 0
    refused: int = 0
    infeasible: int = 0
    failed: int = 0
    certified: int = 0
    failures: list[FuzzFailure] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "examples": self.examples,
            "stored": self.stored,
            "refused_with_certificate": self.refused,
            "infeasible_not_stored": self.infeasible,
            "failed": self.failed,
            "certified_float32": self.certified,
            "failures": [f.to_dict() for f in self.failures],
        }


@dataclass(frozen=True)
class FuzzReport:
    """Outcome of :func:`fuzz`: settings, per-recipe counts, failures."""

    method: str
    examples: int
    examples_run: int
    seed: int
    dtype: str
    width: str | int
    out_dir: str
    seconds: float
    truncated: bool
    strategies: dict[str, StrategyCounts]

    def total(self, name: str) -> int:
        """Sum of count ``name`` (``stored``, ``failed``, …) over the recipes."""
        return sum(getattr(c, name) for c in self.strategies.values())

    @property
    def failed(self) -> int:
        return self.total("failed")

    @property
    def failures(self) -> list[FuzzFailure]:
        return [f for c in self.strategies.values() for f in c.failures]

    def to_dict(self) -> dict:
        """JSON-safe summary (the ``factmlp fuzz --json`` object)."""
        return {
            "method": self.method,
            "examples": self.examples,
            "examples_run": self.examples_run,
            "seed": self.seed,
            "dtype": self.dtype,
            "width": self.width,
            "out_dir": self.out_dir,
            "seconds": self.seconds,
            "truncated": self.truncated,
            "totals": {
                "stored": self.total("stored"),
                "refused_with_certificate": self.total("refused"),
                "infeasible_not_stored": self.total("infeasible"),
                "failed": self.failed,
                "certified_float32": self.total("certified"),
            },
            "strategies": {name: c.to_dict() for name, c in self.strategies.items()},
        }


# --------------------------------------------------------------------------- the fuzzer


def _validate(examples, seed, dtype, width, max_seconds, shrink_seconds, shrink_steps, names):
    from theory.validation import require_int

    require_int("examples", examples, 1)
    require_int("seed", seed, 0)
    require_int("shrink_steps", shrink_steps, 0)
    if dtype not in FUZZ_DTYPES:
        raise InvalidInputError(f"dtype must be one of {', '.join(FUZZ_DTYPES)}, got {dtype!r}")
    if width not in ("max", "capacity"):
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise InvalidInputError(
                f"width must be 'max', 'capacity' or an integer ≥ 1, got {width!r}"
            )
    for name, value, allow_none in (
        ("max_seconds", max_seconds, True),
        ("shrink_seconds", shrink_seconds, False),
    ):
        if value is None and allow_none:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (value >= 0 and math.isfinite(value))
        ):
            raise InvalidInputError(f"{name} must be a finite number ≥ 0, got {value!r}")
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        raise InvalidInputError(
            f"strategies {unknown or list(names)!r} unknown or empty; choose from "
            f"{', '.join(STRATEGIES)}"
        )


def _example_rng(seed: int, name: str, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), k])


def _script(method_name: str, file: str, hidden, seed: int, dtype: str, width, kind: str) -> str:
    quoted = shlex.quote(file)
    if width == "capacity":
        build = (
            f"factmlp capacity {quoted} --method {shlex.quote(method_name)} --seed {seed} "
            f"--dtype {dtype} --out m.safetensors"
        )
    else:
        build = "\n".join(
            [
                "python - <<'EOF'",
                "from numerics.factset import FactSet",
                "from numerics.methods import get_method",
                f"factset = FactSet.load({file!r})",
                f"get_method({method_name!r}).build(factset, {hidden}, seed={seed})"
                ".save('m.safetensors')",
                "EOF",
            ]
        )
    lines = [
        "#!/bin/sh",
        f"# Reproduces a {kind} failure of method {method_name!r} found by factmlp fuzz.",
        "# A refusal or crash shows in the build step; 'not stored' in factmlp verify (exit 1).",
        "set -e",
        'cd "$(dirname "$0")"',
        build,
        f"factmlp verify {quoted} --mlp m.safetensors --dtype {dtype}",
        "",
    ]
    return "\n".join(lines)


def fuzz(
    method,
    *,
    examples: int = 200,
    seed: int = 0,
    dtype: str = "float32",
    out_dir: str | os.PathLike = "fuzz-out",
    max_seconds: float | None = None,
    progress: bool = False,
    strategies: Sequence[str] | None = None,
    width: str | int = "max",
    shrink_seconds: float = 10.0,
    shrink_steps: int = 200,
    certify: bool = True,
) -> FuzzReport:
    """Fuzz ``method`` with ``examples`` edge-case fact sets (module docstring).

    Parameters
    ----------
    method : str or Method
        A registry name or a method object.
    examples : int ≥ 1
        Fact sets in all, round-robin over ``strategies`` (default: every recipe).
    seed : int ≥ 0
        Seed of the draws and of every build.
    dtype : "float32" or "float64"
        Format of the independent recall check.
    out_dir : path
        Where failures go (created at the first one): ``METHOD-RECIPE-K.npz`` (shrunk),
        ``…-original.npz`` and ``…-reproduce.sh``.
    max_seconds : float, optional
        Stop drawing new examples after this long (``truncated`` in the report); each
        failure's shrinking is also cut at the deadline (then saved as is).
    progress : bool
        A rich progress bar on stderr.
    width : "max", "capacity" or int
        The width rule of step 2.
    shrink_seconds, shrink_steps : budget per failure of :func:`shrink`.
    certify : bool
        Run the float32 precision certificate on stored sets (``dtype="float32"`` only).

    Returns
    -------
    FuzzReport

    Raises
    ------
    InvalidInputError
        For an unknown method or recipe, or an argument out of range (named).
    """
    from theory.progress import progress_bar

    start = time.perf_counter()
    method = _resolve_method(method)
    names = tuple(STRATEGIES) if strategies is None else tuple(strategies)
    _validate(examples, seed, dtype, width, max_seconds, shrink_seconds, shrink_steps, names)
    deadline = math.inf if max_seconds is None else start + max_seconds
    out = Path(out_dir)
    counts = {name: StrategyCounts() for name in names}
    run = 0
    truncated = False
    detail = "{task.completed}/{task.total} · failed {task.fields[failed]}"
    with (
        tempfile.TemporaryDirectory(prefix="factmlp-fuzz-") as tmp,
        progress_bar(f"fuzz {method.name}", examples, show=progress, detail=detail, failed=0) as advance,
    ):  # fmt: skip
        for n in range(examples):
            if time.perf_counter() >= deadline:
                truncated = True
                break
            name, k = names[n % len(names)], n // len(names)
            factset = draw_factset(name, _example_rng(seed, name, k))
            factset = FactSet(
                factset.keys,
                factset.values,
                factset.fact_map,
                meta={**factset.meta, "fuzz": {"seed": seed, "example": k}},
            )
            outcome = check_factset(
                method, factset, seed=seed, dtype=dtype, width=width, workdir=tmp, certify=certify
            )
            tally = counts[name]
            tally.examples += 1
            run += 1
            if outcome.status == "stored":
                tally.stored += 1
                tally.certified += bool(outcome.certified)
            elif outcome.status == "refused":
                tally.refused += 1
            elif outcome.status == "infeasible":
                tally.infeasible += 1
            else:
                tally.failed += 1
                tally.failures.append(
                    _record(
                        method, factset, outcome, name, k, out,
                        seed=seed, dtype=dtype, width=width, workdir=tmp,
                        seconds=min(shrink_seconds, max(0.0, deadline - time.perf_counter())),
                        steps=shrink_steps,
                    )
                )  # fmt: skip
            advance(failed=sum(c.failed for c in counts.values()))
    return FuzzReport(
        method=method.name,
        examples=examples,
        examples_run=run,
        seed=seed,
        dtype=dtype,
        width=width if isinstance(width, str) else int(width),
        out_dir=str(out),
        seconds=time.perf_counter() - start,
        truncated=truncated,
        strategies=counts,
    )


def _record(method, factset, outcome, name, k, out: Path, *, seed, dtype, width, workdir,
            seconds, steps) -> FuzzFailure:  # fmt: skip
    """Shrink one failure and write its files."""
    started = time.perf_counter()

    def fails(candidate: FactSet) -> bool:
        again = check_factset(
            method, candidate, seed=seed, dtype=dtype, width=width, workdir=workdir, certify=False
        )
        return again.status == "failed" and again.kind == outcome.kind

    small, spent = shrink(factset, fails, max_seconds=seconds, max_steps=steps)
    final = outcome
    if small is not factset:
        final = check_factset(
            method, small, seed=seed, dtype=dtype, width=width, workdir=workdir, certify=False
        )
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{method.name}-{name}-{k}"
    small = FactSet(
        small.keys,
        small.values,
        small.fact_map,
        meta={**factset.meta, "shrunk_from": [factset.n_facts, factset.n_values]},
    )
    small.save(out / f"{stem}.npz")
    factset.save(out / f"{stem}-original.npz")
    hidden = final.requested_hidden
    if hidden is None and width not in ("max", "capacity"):
        hidden = int(width)
    if hidden is None:
        try:
            hidden = int(method.default_max_hidden(small))
        except Exception:  # the method may crash here too; the script then shows it
            hidden = None
    script = out / f"{stem}-reproduce.sh"
    script.write_text(_script(method.name, f"{stem}.npz", hidden, seed, dtype, width, outcome.kind))
    script.chmod(0o755)
    return FuzzFailure(
        strategy=name,
        example=k,
        kind=outcome.kind,
        message=final.message or outcome.message,
        file=str(out / f"{stem}.npz"),
        original_file=str(out / f"{stem}-original.npz"),
        script=str(script),
        n_facts=small.n_facts,
        n_values=small.n_values,
        original_n_facts=factset.n_facts,
        original_n_values=factset.n_values,
        hidden=hidden,
        shrink_steps=spent,
        shrink_seconds=time.perf_counter() - started,
    )

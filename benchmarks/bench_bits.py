"""Benchmark: the bits frontier of every method at its capacity width.

``python benchmarks/bench_bits.py [--quick] [--threads T] [--methods M,…] [--name NAME]
[--spherical-only | --families-only]``

For each fact set and method: the MLP at the method's capacity width (seed 0), then
:func:`numerics.precision.bits.bits_frontier`: the smallest b such that b-bit integer weights
with one float32 scale per row (and every wider b) store every fact, the smallest float
format that does, and total weight bits against the counting bound (log2 F! for bijections).
The forward pass is float64 (a checked result, not a certificate).

Fact sets (seed 0, tied bijections): spherical at d = 32, F ∈ {128, 256, 512, 1024} and
d = 64, F ∈ {512, 1024, 2048}; the anisotropic ``conditioned`` family (κ = 100) and MiniLM
token embeddings (PCA to d = 32) at d = 32, F ∈ {128, 256, 512} (d²/8, d²/4, d²/2, the
fact sets of ``benchmarks/sweeps/scaling_families.toml``).

Widths: for tied spherical, the capacity widths recorded in
``benchmarks/results/scaling_tied_spherical.sqlite`` (seed 0; GD with the sweep's recipe, lr
1e-2 and 4000 epochs, retrained at its recorded width rather than searched again); methods
not in that database (``hebbian_dd`` and any later one) and the other fact sets get
:func:`numerics.methods.capacity` (float32 recall, 5%), GD with the recipe of
``benchmarks/sweeps/scaling_families_gd.toml`` (the widths of that sweep were not kept: its
committed database holds no rows). The ``outcome`` column says "stored", "not reached" (the
method never stores the set up to its largest width) or "not run" with the reason; GD is
not run at d > 64 on a CPU (its method refuses). ``maxmargin`` is left out unless named in
``--methods``: one build takes minutes, a capacity search tens of builds.

The plot has one panel per family and d: weight bits per stored fact (min_bits, row scales
counted) against F for each method that stores the set, the counting bound per fact as a
dashed line; methods that never store it are listed in the legend as "not reached".
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import RESULTS, write_results  # noqa: E402

DB = RESULTS / "scaling_tied_spherical.sqlite"
GD_SWEEP = ROOT / "sweeps" / "scaling_families_gd.toml"
SPHERICAL = {32: (128, 256, 512, 1024), 64: (512, 1024, 2048)}
QUICK = {16: (64,)}
#: (label as in the sweep tables, family, options) at OTHER_DIM, F ∈ OTHER_FACTS, tied.
OTHERS = (
    ("conditioned(tied, kappa=100.0)", "conditioned", {"kappa": 100.0}),
    ("minilm_tokens(tied)", "minilm_tokens", {}),
)
OTHER_DIM, OTHER_FACTS = 32, (128, 256, 512)
#: Every registered method but these unless named (module docstring).
SLOW_METHODS = ("maxmargin",)


def _recorded(method: str, dim: int, n_facts: int):
    """(hidden, method options) of the sweep's seed-0 capacity point, or None."""
    if not DB.exists():
        return None
    with sqlite3.connect(DB) as db:
        row = db.execute(
            "select hidden, method_options, reached from points where method = ? and dim = ? "
            "and n_facts = ? and seed = 0 and family = 'spherical'",
            (method, dim, n_facts),
        ).fetchone()
    if row is None:
        return None
    hidden, options, reached = row
    return (hidden if reached else 0), json.loads(options or "{}")


def _method(name: str, options: dict):
    from numerics.methods import get_method

    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return dataclasses.replace(get_method(name), **options) if options else get_method(name)


def _sweep_options() -> dict[str, dict]:
    """Method options of the families' GD sweep (its recipe), by method."""
    from numerics.sweep import load_sweep_config

    return {m: dict(o) for m, o in load_sweep_config(GD_SWEEP).method_options}


def _measure(factset, name: str, label: str, dim: int, recorded, options=None) -> dict:
    """One table row: the MLP at ``recorded`` (hidden, options) or, if None, at the width
    :func:`capacity` finds with ``options``; then its bits frontier."""
    from numerics.methods import NeedsAcceleratorError, capacity
    from numerics.precision.bits import bits_frontier

    row = {"family": label, "dim": dim, "n_facts": factset.n_facts, "method": name}
    start = time.perf_counter()
    try:
        if recorded is not None:
            hidden, options = recorded
            row["width_source"] = "sweep database"
            if not hidden:
                return {**row, "outcome": "not reached", "reached": False}
            built = _method(name, options).build(factset, hidden, seed=0)
        else:
            row["width_source"] = "capacity search"
            found = capacity(factset, _method(name, options or {}), seed=0)
            if found.build is None:
                return {
                    **row,
                    "outcome": f"not reached (best recall {found.recall:.3f})",
                    "reached": False,
                    "seconds": time.perf_counter() - start,
                }
            built = found.build
    except NeedsAcceleratorError as exc:
        return {**row, "outcome": f"not run on a CPU: {exc}", "reached": False}
    bits = bits_frontier(built.weights, factset)
    summary = bits.to_dict()
    return {
        **row,
        "outcome": "stored"
        if bits.min_bits is not None
        else "stored, but not with 24-bit integers",
        "reached": True,
        "hidden": built.hidden,
        "params_per_fact": built.params / factset.n_facts,
        "recall_24_bits": summary["int_recall"]["24"],
        "min_bits": bits.min_bits,
        "smallest_float": bits.smallest_format,
        "total_bits": bits.total_bits,
        "bits_per_fact": summary["bits_per_fact"],
        "bound_bits_per_fact": summary["bound_bits_per_fact"],
        "total_over_bound": bits.total_over_bound,
        "format_over_bound": summary["format_over_bound"],
        "seconds": time.perf_counter() - start,
    }


def _plot(rows: list[dict], path: Path) -> None:
    from numerics.plotting import pyplot, save_figure

    plt = pyplot()
    panels = list(dict.fromkeys((r["family"], r["dim"]) for r in rows if "method" in r))
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 4), squeeze=False)
    for ax, (family, dim) in zip(axes[0], panels, strict=True):
        mine = [r for r in rows if r["family"] == family and r["dim"] == dim and "method" in r]
        for method in dict.fromkeys(r["method"] for r in mine):
            pts = sorted(
                (r["n_facts"], r["bits_per_fact"])
                for r in mine
                if r["method"] == method and r.get("bits_per_fact")
            )
            # a missing point is said in the legend, not left as a silent gap
            missing = [
                r["n_facts"] for r in mine if r["method"] == method and not r.get("min_bits")
            ]
            where = "any F" if not pts else "F = " + ", ".join(map(str, missing))
            label = method + (f" (not reached or not run at {where})" if missing else "")
            if pts:
                ax.plot(*zip(*pts, strict=True), "o-", label=label)
            else:
                ax.plot([], [], " ", label=label)
        bound = sorted(
            {(r["n_facts"], r["bound_bits_per_fact"]) for r in mine if r.get("bound_bits_per_fact")}
        )
        if bound:
            ax.plot(
                *zip(*bound, strict=True),
                "k--",
                marker="_",
                markersize=14,
                label="counting bound (log2 F!/F)",
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("F (facts)")
        ax.set_ylabel("weight bits per fact: (min_bits·W + 32·rows) / F")
        ax.set_title(f"{family}, d = {dim}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save_figure(fig, path)


def main() -> None:
    import torch

    from numerics.embeddings import family_factset
    from numerics.methods import METHODS
    from theory.errors import MissingDependencyError

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="d = 16, F = 64, tied spherical only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", help="comma-separated (default: every registered method)")
    parser.add_argument("--name", help="result file stem (default bench_bits[_quick])")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--spherical-only",
        action="store_true",
        help="leave out the conditioned and MiniLM fact sets",
    )
    only.add_argument(
        "--families-only", action="store_true", help="leave out the tied spherical fact sets"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    methods = (
        args.methods.split(",") if args.methods else [m for m in METHODS if m not in SLOW_METHODS]
    )
    rows = []
    for dim, sizes in () if args.families_only else (QUICK if args.quick else SPHERICAL).items():
        for n_facts in sizes:
            fs = family_factset("spherical", dim=dim, n_facts=n_facts, seed=0, tied=True)
            for name in methods:
                rows.append(
                    _measure(fs, name, "spherical(tied)", dim, _recorded(name, dim, n_facts))
                )
                print(json.dumps(rows[-1]), flush=True)
    others = () if args.quick or args.spherical_only else OTHERS
    options = _sweep_options() if others else {}
    for (label, family, family_options), n_facts in itertools.product(others, OTHER_FACTS):
        try:
            fs = family_factset(
                family, family_options, dim=OTHER_DIM, n_facts=n_facts, seed=0, tied=True
            )
        except MissingDependencyError as exc:  # say so in the table
            rows.append(
                {"family": label, "dim": OTHER_DIM, "n_facts": n_facts, "outcome": str(exc)}
            )
            continue
        for name in methods:
            rows.append(_measure(fs, name, label, fs.dim, None, options.get(name)))
            print(json.dumps(rows[-1]), flush=True)
    name = args.name or ("bench_bits" + ("_quick" if args.quick else ""))
    _plot(rows, RESULTS / f"{name}.png")
    summary = {}
    for family, dim in dict.fromkeys((r["family"], r["dim"]) for r in rows if "method" in r):
        largest = max(r["n_facts"] for r in rows if (r["family"], r["dim"]) == (family, dim))
        for r in rows:
            if (r["family"], r["dim"], r["n_facts"]) == (family, dim, largest) and "method" in r:
                summary[f"{family} d={dim} F={largest} {r['method']}"] = (
                    f"min_bits {r['min_bits']}, {r['smallest_float']}, "
                    f"total/bound {r['total_over_bound']:.2f}"
                    if r.get("min_bits")
                    else r["outcome"]
                )
    left_out = [m for m in SLOW_METHODS if m not in methods]
    if left_out:
        summary["not run"] = ", ".join(left_out) + " (one build takes minutes, module docstring)"
    summary["plot"] = f"{name}.png"
    command = " ".join(["python benchmarks/bench_bits.py", *sys.argv[1:]])
    write_results(
        name,
        rows,
        summary=summary,
        command=command,
        title="Bits frontier: weight bits each method needs, against the counting bound",
    )


if __name__ == "__main__":
    main()

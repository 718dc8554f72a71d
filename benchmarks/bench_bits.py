"""Benchmark: the bits frontier of every method at its capacity width.

``python benchmarks/bench_bits.py [--quick] [--threads T] [--name NAME]``

For each fact set and method: the MLP at the method's capacity width (seed 0), then
:func:`numerics.precision.bits.bits_frontier`: the smallest b such that b-bit integer weights
with one float32 scale per row (and every wider b) store every fact, the smallest float
format that does, and total weight bits against the counting bound (log2 F! for bijections).
The forward pass is float64 (a checked result, not a certificate).

Fact sets (seed 0, bijections): tied spherical at d = 32, F ∈ {128, 256, 512, 1024} and
d = 64, F ∈ {512, 1024, 2048}; conditioned (κ = 10) at d = 32, F = 512; MiniLM token
embeddings (d = 384) at F = 512.

Widths: for tied spherical, the capacity widths recorded in
``benchmarks/results/scaling_tied_spherical.sqlite`` (seed 0; GD with the sweep's recipe, lr
1e-2 and 4000 epochs, retrained at its recorded width rather than searched again); methods
not in that database (``hebbian_dd`` and any later one) and the other fact sets get
:func:`numerics.methods.capacity` (float32 recall, 5%). A method that never stores the set
is "not reached"; GD is not run at d > 64 on a CPU (its method refuses).
"""

from __future__ import annotations

import argparse
import dataclasses
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
SPHERICAL = {32: (128, 256, 512, 1024), 64: (512, 1024, 2048)}
QUICK = {16: (64,)}
OTHERS = (("conditioned", {"kappa": 10.0}, 32, 512), ("minilm_tokens", {}, 384, 512))


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


def _measure(factset, name: str, label: str, dim: int, recorded) -> dict:
    from numerics.methods import NeedsAcceleratorError, capacity
    from numerics.precision.bits import bits_frontier

    row = {"family": label, "dim": dim, "n_facts": factset.n_facts, "method": name}
    start = time.perf_counter()
    try:
        if recorded is not None:
            hidden, options = recorded
            row["width_source"] = "sweep database"
            if not hidden:
                return {**row, "reached": False}
            built = _method(name, options).build(factset, hidden, seed=0)
        else:
            row["width_source"] = "capacity search"
            found = capacity(factset, name, seed=0)
            if found.build is None:
                return {**row, "reached": False}
            built = found.build
    except NeedsAcceleratorError as exc:
        return {**row, "reached": False, "note": f"not run on a CPU: {exc}"}
    bits = bits_frontier(built.weights, factset)
    summary = bits.to_dict()
    return {
        **row,
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
    dims = sorted({r["dim"] for r in rows if r["family"] == "spherical(tied)"})
    fig, axes = plt.subplots(1, len(dims), figsize=(5.5 * len(dims), 4), squeeze=False)
    for ax, dim in zip(axes[0], dims, strict=True):
        mine = [r for r in rows if r["family"] == "spherical(tied)" and r["dim"] == dim]
        for method in sorted({r["method"] for r in mine}):
            pts = sorted(
                (r["n_facts"], r["bits_per_fact"])
                for r in mine
                if r["method"] == method and r.get("bits_per_fact")
            )
            if pts:
                ax.plot(*zip(*pts, strict=True), "o-", label=method)
        bound = sorted(
            {(r["n_facts"], r["bound_bits_per_fact"]) for r in mine if r.get("bound_bits_per_fact")}
        )
        if bound:
            ax.plot(*zip(*bound, strict=True), "k--", label="counting bound (log2 F!/F)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("F (facts)")
        ax.set_ylabel("weight bits per stored fact (min_bits, row scales counted)")
        ax.set_title(f"tied spherical, d = {dim}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def main() -> None:
    import torch

    from numerics.embeddings import family_factset
    from numerics.methods import METHODS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="d = 16, F = 64, tied spherical only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", help="comma-separated (default: every registered method)")
    parser.add_argument("--name", help="result file stem (default bench_bits[_quick])")
    parser.add_argument(
        "--spherical-only",
        action="store_true",
        help="leave out the conditioned and MiniLM fact sets",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    methods = args.methods.split(",") if args.methods else list(METHODS)
    rows = []
    for dim, sizes in (QUICK if args.quick else SPHERICAL).items():
        for n_facts in sizes:
            fs = family_factset("spherical", dim=dim, n_facts=n_facts, seed=0, tied=True)
            for name in methods:
                rows.append(
                    _measure(fs, name, "spherical(tied)", dim, _recorded(name, dim, n_facts))
                )
                print(json.dumps(rows[-1]), flush=True)
    for family, options, dim, n_facts in () if args.quick or args.spherical_only else OTHERS:
        try:
            fs = family_factset(family, options, dim=dim, n_facts=n_facts, seed=0)
        except Exception as exc:  # a missing optional package: say so in the table
            rows.append({"family": family, "dim": dim, "n_facts": n_facts, "note": str(exc)})
            continue
        for name in methods:
            rows.append(_measure(fs, name, family, fs.dim, None))
            print(json.dumps(rows[-1]), flush=True)
    name = args.name or ("bench_bits" + ("_quick" if args.quick else ""))
    _plot(rows, RESULTS / f"{name}.png")
    d64 = {r["method"]: r for r in rows if r.get("dim") == 64 and r.get("n_facts") == 2048}
    summary = {
        f"d64_F2048_{m}": (
            f"min_bits {r['min_bits']}, {r['smallest_float']}, "
            f"total/bound {r['total_over_bound']:.2f}"
        )
        if r.get("reached") and r.get("min_bits")
        else "not reached"
        for m, r in d64.items()
    }
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

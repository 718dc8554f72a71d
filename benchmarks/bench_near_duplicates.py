"""Benchmark: near-duplicate, circle, collinear and low-rank keys — what ``construct`` builds.

``python benchmarks/bench_near_duplicates.py [--cases a,b,…] [--tree P --label T] [--name N]``

Default ``construct`` (m chosen, grown until float32 is certified, at most 8 steps), seed 0:

- ``clean``: 512 tied spherical keys = values in d = 32 (``make_factset``, seed 0, a random
  bijection); ``near_tied``: the same with key 100 replaced by key 50 + 1e-6·z (z standard
  normal, numpy seed 0), renormalised, and values = keys (so values 50 and 100 are as close);
  ``near``: those keys with the clean values; ``near_1e-8``: the pair 1e-8·z apart (below
  float32's reach); ``triple``: keys 100 and 101 both moved near key 50;
- ``circle``: 200 values equally spaced on the unit circle, 400 random unit keys, a random
  map (numpy seed 0);
- ``line``: 50 keys t·u on a line through 0 in d = 8 (t uniform in [−1, 1]), spherical values,
  a random bijection; ``rank2``: keys A·B of rank 2 in d = 16 (F = 50 and F = 200).

Per case: the encoder and its attempts, the gadget neurons, hidden, m, params and
params/fact (and its ratio to ``clean`` for the 512-key cases), float64 recall, the float32
certificate's fraction and uncertified keys, the float32 recall measured by casting, the
near-duplicate shortfall (:func:`numerics.construction.near_duplicates.float32_shortfall`)
and seconds. ``--tree PATH`` imports ``numerics`` from another source tree (e.g. an archive of
an earlier commit, for a before/after table; ``--label`` says which, in the summary); there
the gadget columns are null. The committed "before" table: ``git archive 6f34b5c | tar -x -C
/tmp/head``, then ``--tree /tmp/head --label "…" --name bench_near_duplicates_before``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from _report import write_results  # noqa: E402

CASES = (
    "clean",
    "near",
    "near_tied",
    "near_1e-8",
    "triple",
    "circle",
    "line",
    "rank2",
    "rank2_200",
)


def _near(np, FactSet, clean, distance, members=(100,), tied=False):
    rng = np.random.default_rng(0)
    keys = clean.keys.copy()
    for m in members:
        keys[m] = keys[50] + distance * rng.standard_normal(clean.dim)
        keys[m] /= np.linalg.norm(keys[m])
    return FactSet(keys, keys.copy() if tied else clean.values, clean.fact_map)


def _unit_rows(np, x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def factsets(names):
    """The fact sets of the module docstring, by case name."""
    import numpy as np

    from numerics.embeddings.generators import make_factset
    from numerics.factset import FactSet

    clean = make_factset("spherical", n_facts=512, dim=32, seed=0, tied=True)
    rng = np.random.default_rng(0)
    angles = 2 * np.pi * np.arange(200) / 200
    circle_keys = _unit_rows(np, rng.standard_normal((400, 2)))
    circle_values = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    circle = FactSet(circle_keys, circle_values, rng.integers(0, 200, 400))
    line_rng = np.random.default_rng(0)
    u = _unit_rows(np, line_rng.standard_normal((1, 8)))[0]
    line_keys = line_rng.uniform(-1, 1, 50)[:, None] * u
    line = FactSet(
        line_keys, _unit_rows(np, line_rng.standard_normal((50, 8))), line_rng.permutation(50)
    )

    def rank2(n):
        r = np.random.default_rng(0)
        keys = r.standard_normal((n, 2)) @ r.standard_normal((2, 16))
        return FactSet(keys, _unit_rows(np, r.standard_normal((n, 16))), r.permutation(n))

    build = {
        "clean": lambda: clean,
        "near": lambda: _near(np, FactSet, clean, 1e-6),
        "near_tied": lambda: _near(np, FactSet, clean, 1e-6, tied=True),
        "near_1e-8": lambda: _near(np, FactSet, clean, 1e-8),
        "triple": lambda: _near(np, FactSet, clean, 1e-6, members=(100, 101)),
        "circle": lambda: circle,
        "line": lambda: line,
        "rank2": lambda: rank2(50),
        "rank2_200": lambda: rank2(200),
    }
    return {name: build[name]() for name in names}


def measure(name, fs) -> dict:
    from numerics.construction.pipeline import construct

    try:  # absent from trees before the module (--tree)
        from numerics.construction.near_duplicates import float32_shortfall, gadget_neurons
    except ImportError:
        float32_shortfall = gadget_neurons = None
    start = time.perf_counter()
    built = construct(fs)
    seconds = time.perf_counter() - start
    s = built.summary(fs.n_facts, fs.n_values)
    uncertified = s["float32_uncertified"]
    return {
        "case": name,
        "F": fs.n_facts,
        "d": fs.dim,
        "encoder": s["encoder"],
        "attempts": s["encoder_attempts"],
        "gadget_neurons": None if gadget_neurons is None else gadget_neurons(built.encoder),
        "hidden": s["hidden"],
        "code_dim": s["code_dim"],
        "params": s["params"],
        "params_per_fact": round(s["params_per_fact"], 2),
        "recall_f64": s["recall"],
        "f32_certified_fraction": round(s["float32_certified_fraction"], 4),
        "f32_uncertified": uncertified[:8] + (["…"] if len(uncertified) > 8 else []),
        "f32_recall_cast": round(s["float32_recall"], 4),
        "shortfall": None
        if float32_shortfall is None
        else float32_shortfall(built.encoder, built.float32_certificate, fs),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset")
    parser.add_argument("--tree", default=str(ROOT.parent), help="source tree to import")
    parser.add_argument("--label", default="this tree", help="what --tree is, for the summary")
    parser.add_argument("--name", default="bench_near_duplicates")
    args = parser.parse_args()
    sys.path.insert(0, args.tree)
    names = [n for n in args.cases.split(",") if n]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(CASES)}")
    rows = []
    for name, fs in factsets(names).items():
        rows.append(measure(name, fs))
        print(rows[-1], flush=True)
    clean = next((r for r in rows if r["case"] == "clean"), None)
    summary = {"tree": args.label}
    if clean is not None:
        for row in rows:
            if row["F"] == clean["F"] and row["d"] == clean["d"] and row is not clean:
                row["ratio_to_clean"] = round(row["params_per_fact"] / clean["params_per_fact"], 3)
        summary["target"] = "near-duplicate cases within 2× the clean set's params/fact"
        summary["within_2x"] = all(r.get("ratio_to_clean", 0) <= 2 for r in rows if r is not clean)
    command = "python benchmarks/bench_near_duplicates.py " + " ".join(sys.argv[1:])
    write_results(
        args.name,
        rows,
        summary=summary,
        command=command.strip(),
        title="Near-duplicate, circle, collinear and low-rank keys: what construct builds",
    )


if __name__ == "__main__":
    main()

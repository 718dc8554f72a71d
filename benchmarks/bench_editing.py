"""Benchmark: modular fact editing by MLP swap against ROME, MEMIT and AlphaEdit.

``python benchmarks/bench_editing.py [--quick] [--facts 512] [--threads 1]``

Real facts: ``--facts`` ISO 3166-2 subdivisions → countries (``pycountry``), 6 training and
6 held-out phrasings. One base model (fact MLP built by our construction, router, expert)
trained once; then, for each fraction of facts edited (0.5 is the main table; the sweep adds
0.02, 0.1, 0.25, 0.75), every method on the same model, each the best of its small grid by
score. Target (issue 5): swap score ≥ 0.95 with non-fact perplexity ratio ≤ 1.05.

Writes ``bench_editing[_quick].json/.md`` (main table first, then the sweep) and a PNG of the
sweep.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import RESULTS, write_results  # noqa: E402

_COLUMNS = (
    "fraction",
    "method",
    "efficacy",
    "paraphrase",
    "specificity",
    "score",
    "nonfact_ppl_ratio",
    "seconds",
    "note",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="64 facts, fractions 0.1 and 0.5")
    parser.add_argument("--facts", type=int, default=512)
    parser.add_argument("--steps", type=int, default=1500, help="base-model training steps")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    from numerics.editing import (
        BaseTrainConfig,
        EditingConfig,
        build_base_model,
        edit_all,
        make_edit_request,
    )
    from numerics.editing.plots import plot_edit_sweep

    torch.set_num_threads(args.threads)
    n_facts = 64 if args.quick else args.facts
    fractions = (0.1, 0.5) if args.quick else (0.5, 0.02, 0.1, 0.25, 0.75)
    load_start = os.getloadavg()
    start = time.perf_counter()
    base = build_base_model(EditingConfig(n_facts=n_facts, train=BaseTrainConfig(steps=args.steps)))
    print(base.summary(), flush=True)
    sweep, rows = {}, []
    for fraction in fractions:
        request = make_edit_request(base.corpus, fraction, seed=0)
        results = edit_all(base, request)
        sweep[fraction] = results
        for r in results:
            row = {"fraction": fraction, "n_edited": int(request.facts.size), **r}
            rows.append(row)
            print({k: row.get(k) for k in _COLUMNS}, flush=True)
    main_rows = {r["method"]: r for r in sweep[0.5]}
    swap = main_rows["swap"]
    summary = {
        "target": "swap score ≥ 0.95 with non-fact perplexity ratio ≤ 1.05 (fraction 0.5)",
        "target_met": swap["score"] >= 0.95 and swap["nonfact_ppl_ratio"] <= 1.05,
        **{f"score {m} (fraction 0.5)": r["score"] for m, r in main_rows.items()},
        **{
            f"score ratio swap/{m}": swap["score"] / r["score"] if r["score"] > 0 else None
            for m, r in main_rows.items()
            if m not in ("swap", "none")
        },
        **{
            k: v
            for k, v in base.summary().items()
            if k not in ("train_templates", "heldout_templates")
        },
        "seconds": time.perf_counter() - start,
        "torch_threads": args.threads,
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
    }
    name = "bench_editing" + ("_quick" if args.quick else "")
    table = [{k: r.get(k, "") for k in _COLUMNS} for r in rows]
    write_results(
        name,
        table,
        summary=summary,
        title="Fact editing: MLP swap vs ROME, MEMIT, AlphaEdit",
        command=" ".join(["python benchmarks/bench_editing.py", *sys.argv[1:]]),
    )
    import json

    payload = json.loads((RESULTS / f"{name}.json").read_text())
    payload.update(
        full_rows=rows,
        templates={
            "train": list(base.corpus.train_templates),
            "heldout": list(base.corpus.heldout_templates),
        },
    )
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    plot_edit_sweep(sweep, RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()

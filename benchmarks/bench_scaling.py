"""Benchmark: the scaling laws of fact storage, from the sweeps in benchmarks/sweeps/.

``python benchmarks/bench_scaling.py run CONFIG --db DB [--workers N]``
    runs one sweep (``numerics.sweep.run_sweep``, a Dask LocalCluster) and appends what it did
    (command, load average at start and end, wall time, the summary) to
    ``benchmarks/results/scaling_runs.json``. Interrupting it is safe: rerun to resume.

``python benchmarks/bench_scaling.py report``
    reads only the sweep databases and writes ``benchmarks/results/scaling.json``,
    ``scaling.md`` and the plots in ``benchmarks/results/scaling_plots/``:

- params/fact at 100% recall per method, family, d and F (mean over seeds, min–max), with
  bits per parameter (:func:`numerics.sweep.cost_table`);
- NTK's (and raw Hebbian's) ceiling in F per d (:func:`numerics.sweep.reach_ceilings`);
- our construction's ratio to GD on the same fact sets (:func:`numerics.sweep.method_ratios`;
  the paper: 20–30×);
- slopes of log W against log F (:func:`numerics.sweep.scaling_fits`) and the fit
  ``log W = a + b log F + c log ρ`` per method over every family, against the F-only fit
  (:func:`numerics.sweep.rho_fits`): does ρ predict the cost?
- ρ and cost before and after whitening, per family.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import RESULTS, machine  # noqa: E402

DATABASES = ("scaling_tied_spherical.sqlite", "scaling_families.sqlite")
RUNS = RESULTS / "scaling_runs.json"


def _run(args) -> None:
    from numerics.sweep import load_sweep_config, run_sweep

    def stop(signum, frame):  # `kill PID` ends the run like ^C: the record is still written
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    config = load_sweep_config(args.config)
    load_start, start, started = os.getloadavg(), time.perf_counter(), time.strftime("%H:%M:%S")
    summary, interrupted = None, False
    try:
        summary = run_sweep(config, args.db, workers=args.workers, progress=sys.stderr.isatty())
    except KeyboardInterrupt:
        interrupted = True
    record = {
        "command": " ".join(["python", *sys.argv]),
        "config": str(args.config),
        "db": str(args.db),
        "workers": args.workers,
        "machine": machine(),
        "started": started,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "wall_s": time.perf_counter() - start,
        "interrupted": interrupted,
        "summary": summary.to_dict() if summary is not None else None,
    }
    runs = json.loads(RUNS.read_text()) if RUNS.is_file() else []
    # Write beside and rename: a run killed mid-write (or two runs ending together) must
    # not leave the record file truncated.
    partial = RUNS.with_name(f"{RUNS.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(runs + [record], indent=2) + "\n")
    os.replace(partial, RUNS)
    print(json.dumps(record["summary"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="run one sweep and record the run")
    run.add_argument("config")
    run.add_argument("--db", required=True)
    run.add_argument("--workers", type=int, default=2)
    verbs.add_parser("report", help="tables, fits and plots from the sweep databases")
    args = parser.parse_args()
    if args.verb == "run":
        _run(args)
    else:
        from _scaling_report import report

        report(RESULTS, [RESULTS / name for name in DATABASES], runs=RUNS)


if __name__ == "__main__":
    main()

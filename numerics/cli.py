"""The ``factmlp`` command line: ``factmlp VERB … [--json]``.

A thin layer: each verb parses its arguments and calls one library function. With
``--json``, stdout is one JSON object and nothing else. Malformed input exits with status 2
and one line on stderr naming what is wrong and where; no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable

import numpy as np

from theory.errors import FactMLPError

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (and exit status 2)."""

    def error(self, message):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def _plain(obj):
    """Make ``obj`` JSON-safe: numpy scalars to Python, non-finite floats to null."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def emit(result: dict, *, as_json: bool, render: Callable[[dict], None]) -> None:
    if as_json:
        print(json.dumps(_plain(result), allow_nan=False))
    else:
        render(result)


def _print_mapping(result: dict, *, skip: tuple[str, ...] = ()) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    for key, value in result.items():
        if key in skip:
            continue
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, (list, tuple)) and len(value) > 12:
            value = f"{list(value[:12])} … ({len(value)} in all)"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in value.items())
        table.add_row(f"[bold]{key}[/]", str(value))
    Console().print(table)


def _progress() -> bool:
    return sys.stderr.isatty()


# ---- verbs -------------------------------------------------------------------------------

def _cmd_factset(args) -> int:
    from numerics.generators import FactSetSpec

    spec = FactSetSpec(family=args.family, n_facts=args.facts,
                       n_values=args.values if args.values is not None else args.facts,
                       dim=args.dim, seed=args.seed, fact_map=args.map, tied=args.tied,
                       beta=args.beta, kappa=args.kappa, rank=args.rank)
    factset = spec.build()
    path = factset.save(args.out)
    result = {"path": str(path), "n_facts": factset.n_facts, "n_values": factset.n_values,
              "dim": factset.dim, "used_values": int(factset.used_values.size),
              "spec": factset.meta["generator"]}
    emit(result, as_json=args.json, render=lambda r: _print_mapping(r))
    return EXIT_OK


def _cmd_check(args) -> int:
    from numerics.analysis import check_factset
    from numerics.factset import FactSet

    result = check_factset(FactSet.load(args.file), bits_per_param=args.bits, method=args.method,
                           progress=_progress() and not args.json)
    emit(result, as_json=args.json, render=lambda r: _print_mapping(r))
    return EXIT_OK


def _cmd_rho(args) -> int:
    from numerics.analysis import factset_rho
    from numerics.factset import FactSet

    result = factset_rho(FactSet.load(args.file), method=args.method,
                         progress=_progress() and not args.json)
    emit(result, as_json=args.json, render=lambda r: _print_mapping(r))
    return EXIT_OK


def _cmd_bound(args) -> int:
    from theory.bounds import bound_report

    values = args.values if args.values is not None else args.facts
    result = bound_report(args.facts, values, args.bits, bijective=args.bijective).to_dict()
    emit(result, as_json=args.json, render=lambda r: _print_mapping(r))
    return EXIT_OK


def _cmd_construct(args) -> int:
    from numerics.construct import ConstructionConfig, construct
    from numerics.factset import FactSet
    from numerics.mlp import save_mlp

    factset = FactSet.load(args.file)
    config = ConstructionConfig(code_dim=args.code_dim, projection=args.projection,
                                activation=args.activation, slack=args.slack,
                                encoder=args.encoder, seed=args.seed, device=args.device)
    built = construct(factset, config, progress=_progress() and not args.json)
    save_mlp(args.out, built.weights, built.metadata())
    result = {**built.summary(factset.n_facts, factset.n_values), "out": str(args.out)}
    emit(result, as_json=args.json, render=lambda r: _print_mapping(r))
    return EXIT_OK


def _cmd_verify(args) -> int:
    import torch

    from numerics.factset import FactSet
    from numerics.mlp import GatedMLP, load_mlp
    from numerics.recall import recall

    factset = FactSet.load(args.file)
    dtype = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    weights, _ = load_mlp(args.mlp, device=args.device, dtype=dtype)
    if weights.dim != factset.dim:
        from theory.errors import InvalidInputError
        raise InvalidInputError(f"{args.mlp}: the MLP has dimension {weights.dim} but the fact "
                                f"set has dimension {factset.dim}")
    result = recall(GatedMLP(weights), factset, device=args.device, dtype=dtype,
                    progress=_progress() and not args.json)
    summary = {"recall": result.accuracy, "min_margin": result.min_margin,
               "failed": list(result.failed), "dtype": args.dtype,
               "params": weights.n_params, "params_per_fact": weights.n_params / factset.n_facts}
    emit(summary, as_json=args.json, render=lambda r: _print_mapping(r))
    return EXIT_OK if result.accuracy == 1.0 else EXIT_FAILED


def _cmd_capacity(args) -> int:
    import dataclasses

    import torch

    from numerics.capacity import capacity
    from numerics.factset import FactSet
    from numerics.methods import get_method
    from theory.errors import InvalidInputError

    factset = FactSet.load(args.file)
    method = get_method(args.method)
    if args.allow_large_cpu:
        if not any(f.name == "allow_large_cpu" for f in dataclasses.fields(method)):
            raise InvalidInputError(f"--allow-large-cpu applies to gd only, not {args.method}")
        method = dataclasses.replace(method, allow_large_cpu=True)
    dtype = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    result = capacity(factset, method, max_hidden=args.max_hidden, seed=args.seed,
                      rel_precision=args.rel_precision, dtype=dtype, device=args.device,
                      progress=_progress() and not args.json)
    summary = result.to_dict()
    if args.out is not None:
        if result.build is None:
            raise InvalidInputError(f"{args.method} reached no width with recall 1 up to "
                                    f"{result.max_hidden}: nothing written to {args.out}")
        result.build.save(args.out)
        summary["out"] = str(args.out)
    emit(summary, as_json=args.json,
         render=lambda r: _print_mapping(r, skip=("info", "verify_trials")))
    return EXIT_OK


def _cmd_demo(args) -> int:
    from numerics.demo import DemoConfig, run_demo

    result = run_demo(DemoConfig(dim=args.dim, n_facts=args.facts, seed=args.seed,
                                 out_dir=args.out_dir), progress=_progress() and not args.json)
    emit(result, as_json=args.json, render=lambda r: _print_mapping(r))
    return EXIT_OK


def _cmd_sweep(args) -> int:
    from pathlib import Path

    from numerics.sweep import load_sweep_config, run_sweep

    config = load_sweep_config(args.config)
    if args.show:
        emit(config.describe(), as_json=args.json, render=lambda r: _print_mapping(r))
        return EXIT_OK
    db = args.db if args.db is not None else str(Path(args.config).with_suffix(".sqlite"))
    summary = run_sweep(config, db, scheduler=args.scheduler, workers=args.workers,
                        threads=args.threads, serial=args.serial,
                        retry_errors=args.retry_errors, max_points=args.max_points,
                        progress=_progress() and not args.json)
    emit(summary.to_dict(), as_json=args.json, render=lambda r: _print_mapping(r))
    return EXIT_OK if summary.failed == 0 else EXIT_FAILED


def _render_plot(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="cost against F: slope of log W vs log F (pooled over d)")
    for column in ("family", "method", "n", "slope W", "slope W/F", "mean W/F"):
        table.add_column(column)
    for fit in result["fits"]:
        if fit["dim"] == "all":
            table.add_row(fit["family"], fit["method"], str(fit["n"]), f"{fit['slope_params']:.3f}",
                          f"{fit['slope_params_per_fact']:.3f}", f"{fit['mean_params_per_fact']:.1f}")
    console = Console()
    console.print(table)
    rho = Table(title="log W = a + b log F + c log ρ")
    for column in ("method", "ρ", "n", "b (F)", "c (ρ)", "R²", "R² without ρ"):
        rho.add_column(column)
    for fit in result["rho_fits"]:
        rho.add_row(fit["method"], fit["rho_stat"], str(fit["n"]), f"{fit['exponent_facts']:.3f}",
                    f"{fit['exponent_rho']:.3f}", f"{fit['r2']:.3f}", f"{fit['r2_facts_only']:.3f}")
    console.print(rho)
    console.print(f"plots in {result['out']}: {len(result['plots'])} PNG file(s)")


def _cmd_plot(args) -> int:
    from numerics.sweep import plot_sweep

    emit(plot_sweep(args.db, args.out), as_json=args.json, render=_render_plot)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from numerics.generators import FACT_MAPS, FAMILIES

    parser = _Parser(prog="factmlp", description="Fact-storing MLPs: fact sets, decodability, "
                     "bounds and constructions (arXiv 2512.00207).")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    def verb(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        sub.set_defaults(handler=handler)
        return sub

    sub = verb("factset", "write a synthetic fact set (.npz)", _cmd_factset)
    sub.add_argument("--family", choices=FAMILIES, default="spherical")
    sub.add_argument("--facts", type=int, required=True, help="number of keys F")
    sub.add_argument("--values", type=int, help="number of values M (default F)")
    sub.add_argument("--dim", type=int, required=True, help="embedding dimension d")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--map", choices=FACT_MAPS, default="bijection")
    sub.add_argument("--tied", action="store_true", help="keys = values (needs M = F)")
    sub.add_argument("--beta", type=float, default=4.0, help="spike strength (spiked)")
    sub.add_argument("--kappa", type=float, default=10.0, help="condition number (conditioned)")
    sub.add_argument("--rank", type=int, help="subspace dimension (lowrank; default d // 4)")
    sub.add_argument("--out", required=True, help="output .npz path")

    for name, help_text, handler in (
        ("check", "validate a fact set and summarise it: sizes, ρ, feasibility, bound", _cmd_check),
        ("rho", "decodability ρ_i of every value, undecodable values, infeasible facts", _cmd_rho),
    ):
        sub = verb(name, help_text, handler)
        sub.add_argument("file", help="fact-set .npz (keys, values, fact_map)")
        sub.add_argument("--method", choices=("mnp", "cvxpy"), default="mnp",
                         help="ρ solver: min-norm point (fast, exact) or one SOCP per value")
        if name == "check":
            sub.add_argument("--bits", type=float, default=2.0,
                             help="bits per parameter for the counting bound (default 2)")

    sub = verb("bound", "information-theoretic minimum number of parameters", _cmd_bound)
    sub.add_argument("--facts", type=int, required=True, help="number of facts F")
    sub.add_argument("--values", type=int, help="number of values M (default F)")
    sub.add_argument("--bits", type=float, required=True, help="bits per parameter b")
    sub.add_argument("--bijective", action="store_true", help="count bijections (M = F): log2 F!")

    sub = verb("construct", "build a gated MLP that stores every fact (safetensors)", _cmd_construct)
    sub.add_argument("file", help="fact-set .npz (keys, values, fact_map)")
    sub.add_argument("--out", required=True, help="output MLP .safetensors path")
    sub.add_argument("--code-dim", type=int, help="code dimension m (default: the smallest safe m)")
    sub.add_argument("--projection", choices=("gaussian", "pca", "whitened"), default="gaussian")
    sub.add_argument("--activation", choices=("silu", "gelu", "relu", "identity"), default="silu")
    sub.add_argument("--slack", type=float, default=0.05, help="extra encoder unknowns (default 0.05)")
    sub.add_argument("--encoder", choices=("auto", "dense", "sparse", "spline"), default="auto",
                     help="encoder solve: dense kernel, sparse caps (large F), spline (fallback)")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, …")

    sub = verb("verify", "check that an MLP file stores a fact set (exit 1 if recall < 1)", _cmd_verify)
    sub.add_argument("file", help="fact-set .npz")
    sub.add_argument("--mlp", required=True, help="MLP .safetensors file")
    sub.add_argument("--dtype", choices=("float64", "float32", "bfloat16"), default="float64")
    sub.add_argument("--device", default="cpu")

    sub = verb("capacity", "smallest hidden width at which a method stores every fact",
               _cmd_capacity)
    sub.add_argument("file", help="fact-set .npz")
    sub.add_argument("--method", required=True,
                     help="encdec, gd, ntk, hebbian, hebbian_ridge or lookup")
    sub.add_argument("--max-hidden", type=int, help="largest width tried (default: per method)")
    sub.add_argument("--seed", type=int, default=0, help="seed of every build (re-check: seed + 1)")
    sub.add_argument("--rel-precision", type=float, default=0.05,
                     help="relative precision of the width (default 0.05)")
    sub.add_argument("--dtype", choices=("float32", "float64", "bfloat16"), default="float32",
                     help="recall dtype (default float32)")
    sub.add_argument("--device", default="cpu")
    sub.add_argument("--allow-large-cpu", action="store_true",
                     help="gd: train above d = 64 or F = 4096 on a CPU anyway")
    sub.add_argument("--out", help="write the MLP found (safetensors)")

    sub = verb("demo", "the main job on a built-in default fact set", _cmd_demo)
    sub.add_argument("--dim", type=int, default=64)
    sub.add_argument("--facts", type=int, default=1024)
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--out-dir", default="factmlp-demo", help="where the plot and files go")
    sub = verb("sweep", "run a sweep config (methods × families × d × F × seeds) into SQLite",
               _cmd_sweep)
    sub.add_argument("config", help="sweep config (.toml or .json)")
    sub.add_argument("--db", help="SQLite database (default: CONFIG with suffix .sqlite)")
    sub.add_argument("--scheduler", help="address of a Dask scheduler (default: a LocalCluster)")
    sub.add_argument("--workers", type=int, help="LocalCluster workers (default: CPU count)")
    sub.add_argument("--threads", type=int, default=1, help="torch threads per point (default 1)")
    sub.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    sub.add_argument("--max-points", type=int, help="run at most this many remaining points")
    sub.add_argument("--retry-errors", action="store_true", help="rerun points stored as errors")
    sub.add_argument("--show", action="store_true", help="print the resolved grid and stop")

    sub = verb("plot", "plot a sweep database: cost against F (fitted slopes) and against ρ",
               _cmd_plot)
    sub.add_argument("db", help="sweep database (.sqlite) written by factmlp sweep")
    sub.add_argument("--out", help="folder for the PNG files (default: DB stem + _plots)")

    from numerics.cli_experiments import add_experiment_verbs

    add_experiment_verbs(verb)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except FactMLPError as exc:
        print(f"factmlp {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:  # unwritable output path and the like: one line, no traceback
        print(f"factmlp {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())

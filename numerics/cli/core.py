"""The core verbs of ``factmlp``: fact sets, decodability, bounds, construction, recall,
capacity, the demo, sweeps and their plots. Each verb parses into a library config and calls
one library function; :func:`add_core_verbs` registers them and takes every choice from the
library's constants and every default from its config dataclasses."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from numerics.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    LazyChoices,
    emit,
    print_mapping,
    show_progress,
)
from numerics.dtypes import DTYPE_NAMES, torch_dtype

__all__ = ["add_core_verbs", "construction_config"]


def _given(args, *names: str) -> dict:
    """The options the user gave (not ``None``), so that every other one takes the library's
    own default instead of a copy of it here."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _defaults(config_class) -> dict:
    """The field defaults of a (torch-free) config dataclass, for argparse ``default=``."""
    import dataclasses

    return {
        f.name: f.default
        for f in dataclasses.fields(config_class)
        if f.default is not dataclasses.MISSING
    }


def _method_names() -> tuple[str, ...]:
    from numerics.methods import METHODS

    return tuple(METHODS)


def _encoder_names() -> tuple[str, ...]:
    from numerics.construction.pipeline import ENCODERS

    return ENCODERS


def _code_dim_rules() -> tuple[str, ...]:
    from numerics.construction.pipeline import CODE_DIM_RULES

    return CODE_DIM_RULES


def _cmd_factset(args) -> int:
    from numerics.embeddings.generators import FactSetSpec

    spec = FactSetSpec(
        family=args.family,
        n_facts=args.facts,
        n_values=args.values if args.values is not None else args.facts,
        dim=args.dim,
        seed=args.seed,
        fact_map=args.map,
        tied=args.tied,
        beta=args.beta,
        kappa=args.kappa,
        rank=args.rank,
    )
    factset = spec.build()
    path = factset.save(args.out)
    result = {
        "path": str(path),
        "n_facts": factset.n_facts,
        "n_values": factset.n_values,
        "dim": factset.dim,
        "used_values": int(factset.used_values.size),
        "spec": factset.meta["generator"],
    }
    emit(result, as_json=args.json, render=print_mapping)
    return EXIT_OK


def _cmd_check(args) -> int:
    from numerics.cli.summaries import check_factset
    from numerics.factset import FactSet

    result = check_factset(
        FactSet.load(args.file),
        bits_per_param=args.bits,
        method=args.method,
        progress=show_progress(args),
    )
    emit(result, as_json=args.json, render=print_mapping)
    return EXIT_OK


def _cmd_rho(args) -> int:
    from numerics.cli.summaries import factset_rho
    from numerics.factset import FactSet

    result = factset_rho(FactSet.load(args.file), method=args.method, progress=show_progress(args))
    emit(result, as_json=args.json, render=print_mapping)
    return EXIT_OK


def _cmd_bound(args) -> int:
    from theory.bounds import bound_report

    values = args.values if args.values is not None else args.facts
    result = bound_report(args.facts, values, args.bits, bijective=args.bijective).to_dict()
    emit(result, as_json=args.json, render=print_mapping)
    return EXIT_OK


def construction_config(args):
    """The :class:`~numerics.construction.ConstructionConfig` of parsed ``construct`` args:
    what the user gave, the dataclass's defaults for the rest."""
    from numerics.construction.pipeline import ConstructionConfig

    return ConstructionConfig(
        **_given(
            args,
            "code_dim",
            "code_dim_rule",
            "robust_fraction",
            "projection",
            "activation",
            "slack",
            "encoder",
            "seed",
            "device",
        )
    )


def _cmd_construct(args) -> int:
    from numerics.construction.pipeline import construct
    from numerics.factset import FactSet
    from numerics.mlp import save_mlp

    factset = FactSet.load(args.file)
    built = construct(factset, construction_config(args), progress=show_progress(args))
    save_mlp(args.out, built.weights, built.metadata())
    result = {**built.summary(factset.n_facts, factset.n_values), "out": str(args.out)}
    emit(result, as_json=args.json, render=print_mapping)
    return EXIT_OK


def _cmd_verify(args) -> int:
    from numerics.factset import FactSet
    from numerics.mlp import load_mlp
    from numerics.shared_gates import evaluator
    from numerics.strict_recall import recall

    factset = FactSet.load(args.file)
    dtype = torch_dtype(args.dtype)
    weights, _ = load_mlp(args.mlp, device=args.device, dtype=dtype)
    if weights.dim != factset.dim:
        from theory.errors import InvalidInputError

        raise InvalidInputError(
            f"{args.mlp}: the MLP has dimension {weights.dim} but the fact "
            f"set has dimension {factset.dim}"
        )
    result = recall(
        evaluator(weights), factset, device=args.device, dtype=dtype, progress=show_progress(args)
    )
    summary = {
        "recall": result.accuracy,
        "min_margin": result.min_margin,
        "failed": list(result.failed),
        "dtype": args.dtype,
        "params": weights.n_params,
        "params_per_fact": weights.n_params / factset.n_facts,
    }
    emit(summary, as_json=args.json, render=print_mapping)
    return EXIT_OK if result.accuracy == 1.0 else EXIT_FAILED


def _cmd_capacity(args) -> int:
    import dataclasses

    from numerics.factset import FactSet
    from numerics.methods import get_method
    from numerics.methods.capacity_search import capacity
    from theory.errors import InvalidInputError

    factset = FactSet.load(args.file)
    method = get_method(args.method)
    if args.allow_large_cpu:
        if not any(f.name == "allow_large_cpu" for f in dataclasses.fields(method)):
            raise InvalidInputError(f"--allow-large-cpu applies to gd only, not {args.method}")
        method = dataclasses.replace(method, allow_large_cpu=True)
    dtype = torch_dtype(args.dtype)
    result = capacity(
        factset,
        method,
        dtype=dtype,
        progress=show_progress(args),
        **_given(args, "max_hidden", "seed", "rel_precision", "device"),
    )
    summary = result.to_dict()
    if args.out is not None:
        if result.build is None:
            raise InvalidInputError(
                f"{args.method} reached no width with recall 1 up to "
                f"{result.max_hidden}: nothing written to {args.out}"
            )
        result.build.save(args.out)
        summary["out"] = str(args.out)
    emit(
        summary,
        as_json=args.json,
        render=lambda r: print_mapping(r, skip=("info", "verify_trials")),
    )
    return EXIT_OK


def _cmd_demo(args) -> int:
    from numerics.cli.demo import DemoConfig, run_demo

    config = DemoConfig(dim=args.dim, n_facts=args.facts, seed=args.seed, out_dir=args.out_dir)
    result = run_demo(config, progress=show_progress(args))
    emit(result, as_json=args.json, render=print_mapping)
    return EXIT_OK


def _cmd_sweep(args) -> int:
    from pathlib import Path

    from numerics.sweep import load_sweep_config, run_sweep

    config = load_sweep_config(args.config)
    if args.show:
        emit(config.describe(), as_json=args.json, render=print_mapping)
        return EXIT_OK
    db = args.db if args.db is not None else str(Path(args.config).with_suffix(".sqlite"))
    summary = run_sweep(
        config,
        db,
        serial=args.serial,
        retry_errors=args.retry_errors,
        progress=show_progress(args),
        **_given(args, "scheduler", "workers", "threads", "max_points"),
    )
    emit(summary.to_dict(), as_json=args.json, render=print_mapping)
    return EXIT_OK if summary.failed == 0 else EXIT_FAILED


def _render_plot(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="cost against F: slope of log W vs log F (pooled over d)")
    for column in ("family", "method", "n", "slope W", "slope W/F", "mean W/F"):
        table.add_column(column)
    for fit in result["fits"]:
        if fit["dim"] == "all":
            table.add_row(
                fit["family"],
                fit["method"],
                str(fit["n"]),
                f"{fit['slope_params']:.3f}",
                f"{fit['slope_params_per_fact']:.3f}",
                f"{fit['mean_params_per_fact']:.1f}",
            )
    console = Console()
    console.print(table)
    rho = Table(title="log W = a + b log F + c log ρ")
    for column in ("method", "ρ", "n", "b (F)", "c (ρ)", "R²", "R² without ρ"):
        rho.add_column(column)
    for fit in result["rho_fits"]:
        rho.add_row(
            fit["method"],
            fit["rho_stat"],
            str(fit["n"]),
            f"{fit['exponent_facts']:.3f}",
            f"{fit['exponent_rho']:.3f}",
            f"{fit['r2']:.3f}",
            f"{fit['r2_facts_only']:.3f}",
        )
    console.print(rho)
    console.print(f"plots in {result['out']}: {len(result['plots'])} PNG file(s)")


def _cmd_plot(args) -> int:
    from numerics.sweep import plot_sweep

    emit(plot_sweep(args.db, args.out), as_json=args.json, render=_render_plot)
    return EXIT_OK


def add_core_verbs(verb: Callable[[str, str, Callable], argparse.ArgumentParser]) -> None:
    """Register the core verbs with the CLI's ``verb`` factory (see :mod:`numerics.cli.app`)."""
    from numerics.cli.demo import DemoConfig
    from numerics.embeddings.generators import FACT_MAPS, FAMILIES, FactSetSpec
    from theory.decoder import PROJECTIONS
    from theory.failure_sets import GATE_ACTIVATIONS
    from theory.rho import METHODS as RHO_SOLVERS

    spec = _defaults(FactSetSpec)
    sub = verb("factset", "write a synthetic fact set (.npz)", _cmd_factset)
    sub.add_argument("--family", choices=FAMILIES, default=spec["family"])
    sub.add_argument("--facts", type=int, required=True, help="number of keys F")
    sub.add_argument("--values", type=int, help="number of values M (default F)")
    sub.add_argument("--dim", type=int, required=True, help="embedding dimension d")
    sub.add_argument("--seed", type=int, default=spec["seed"])
    sub.add_argument("--map", choices=FACT_MAPS, default=spec["fact_map"])
    sub.add_argument("--tied", action="store_true", help="keys = values (needs M = F)")
    sub.add_argument("--beta", type=float, default=spec["beta"], help="spike strength (spiked)")
    sub.add_argument(
        "--kappa", type=float, default=spec["kappa"], help="condition number (conditioned)"
    )
    sub.add_argument("--rank", type=int, help="subspace dimension (lowrank; default d // 4)")
    sub.add_argument("--out", required=True, help="output .npz path")

    for name, help_text, handler in (
        ("check", "validate a fact set and summarise it: sizes, ρ, feasibility, bound", _cmd_check),
        ("rho", "decodability ρ_i of every value, undecodable values, infeasible facts", _cmd_rho),
    ):
        sub = verb(name, help_text, handler)
        sub.add_argument("file", help="fact-set .npz (keys, values, fact_map)")
        sub.add_argument(
            "--method",
            choices=RHO_SOLVERS,
            default=RHO_SOLVERS[0],
            help="ρ solver: min-norm point (fast, exact) or one SOCP per value",
        )
        if name == "check":
            bits = DemoConfig.bits_per_param
            sub.add_argument(
                "--bits",
                type=float,
                default=bits,
                help=f"bits per parameter for the counting bound (default {bits:g})",
            )

    sub = verb("bound", "information-theoretic minimum number of parameters", _cmd_bound)
    sub.add_argument("--facts", type=int, required=True, help="number of facts F")
    sub.add_argument("--values", type=int, help="number of values M (default F)")
    sub.add_argument("--bits", type=float, required=True, help="bits per parameter b")
    sub.add_argument("--bijective", action="store_true", help="count bijections (M = F): log2 F!")

    sub = verb(
        "construct", "build a gated MLP that stores every fact (safetensors)", _cmd_construct
    )
    sub.add_argument("file", help="fact-set .npz (keys, values, fact_map)")
    sub.add_argument("--out", required=True, help="output MLP .safetensors path")
    sub.add_argument("--code-dim", type=int, help="code dimension m (default: the smallest safe m)")
    sub.add_argument(
        "--code-dim-rule",
        choices=LazyChoices(_code_dim_rules),
        metavar="RULE",
        help="how m is chosen, one of %(choices)s: smallest m with ρ(W) above the float32 "
        "estimate (default), or also ρ(W) ≥ c·ρ(V) (costs M exact ρ solves)",
    )
    sub.add_argument(
        "--robust-fraction",
        type=float,
        metavar="C",
        help="c in (0, 1] for --code-dim-rule robust (default 0.5)",
    )
    sub.add_argument("--projection", choices=PROJECTIONS, help=f"default {PROJECTIONS[0]}")
    sub.add_argument("--activation", choices=GATE_ACTIVATIONS, help="gate σ (default silu)")
    sub.add_argument("--slack", type=float, help="extra encoder unknowns (default 0.05)")
    sub.add_argument(
        "--encoder",
        choices=LazyChoices(_encoder_names),
        metavar="ENCODER",
        help="encoder solve, one of %(choices)s: dense kernel, sparse caps "
        "(large F), spline (fallback); default auto",
    )
    sub.add_argument("--seed", type=int)
    sub.add_argument("--device", help="cpu (default), cuda, cuda:1, …")

    sub = verb(
        "verify", "check that an MLP file stores a fact set (exit 1 if recall < 1)", _cmd_verify
    )
    sub.add_argument("file", help="fact-set .npz")
    sub.add_argument("--mlp", required=True, help="MLP .safetensors file")
    sub.add_argument("--dtype", choices=DTYPE_NAMES, default="float64")
    sub.add_argument("--device", default="cpu")

    sub = verb(
        "capacity", "smallest hidden width at which a method stores every fact", _cmd_capacity
    )
    sub.add_argument("file", help="fact-set .npz")
    sub.add_argument(
        "--method",
        required=True,
        choices=LazyChoices(_method_names),
        metavar="METHOD",
        help="a registered method: %(choices)s",
    )
    sub.add_argument("--max-hidden", type=int, help="largest width tried (default: per method)")
    sub.add_argument("--seed", type=int, help="seed of every build (re-check: seed + 1; default 0)")
    sub.add_argument(
        "--rel-precision", type=float, help="relative precision of the width (default 0.05)"
    )
    sub.add_argument(
        "--dtype", choices=DTYPE_NAMES, default="float32", help="recall dtype (default float32)"
    )
    sub.add_argument("--device", help="cpu (default), cuda, …")
    sub.add_argument(
        "--allow-large-cpu",
        action="store_true",
        help="gd: train above d = 64 or F = 4096 on a CPU anyway",
    )
    sub.add_argument("--out", help="write the MLP found (safetensors)")

    demo = _defaults(DemoConfig)
    sub = verb("demo", "the main job on a built-in default fact set", _cmd_demo)
    sub.add_argument("--dim", type=int, default=demo["dim"])
    sub.add_argument("--facts", type=int, default=demo["n_facts"])
    sub.add_argument("--seed", type=int, default=demo["seed"])
    sub.add_argument("--out-dir", default=demo["out_dir"], help="where the plot and files go")

    sub = verb(
        "sweep", "run a sweep config (methods × families × d × F × seeds) into SQLite", _cmd_sweep
    )
    sub.add_argument("config", help="sweep config (.toml or .json)")
    sub.add_argument("--db", help="SQLite database (default: CONFIG with suffix .sqlite)")
    sub.add_argument("--scheduler", help="address of a Dask scheduler (default: a LocalCluster)")
    sub.add_argument("--workers", type=int, help="LocalCluster workers (default: CPU count)")
    sub.add_argument("--threads", type=int, help="torch threads per point (default 1)")
    sub.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    sub.add_argument("--max-points", type=int, help="run at most this many remaining points")
    sub.add_argument("--retry-errors", action="store_true", help="rerun points stored as errors")
    sub.add_argument("--show", action="store_true", help="print the resolved grid and stop")

    sub = verb(
        "plot", "plot a sweep database: cost against F (fitted slopes) and against ρ", _cmd_plot
    )
    sub.add_argument("db", help="sweep database (.sqlite) written by factmlp sweep")
    sub.add_argument("--out", help="folder for the PNG files (default: DB stem + _plots)")

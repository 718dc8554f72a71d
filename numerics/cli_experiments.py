"""The ``factmlp transformer`` and ``factmlp edit`` verbs (registered by
:func:`numerics.cli.build_parser`): thin layers over :func:`numerics.transformer.run_transformer`
and :func:`numerics.editing.run_editing`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["add_experiment_verbs"]

_THREADS_HELP = ("torch CPU threads (default 1: on a shared 2-core machine at load ≈ 14, one "
                 "training step took 64 ms with 1 thread and 2 s with 2)")


def _set_threads(threads: int) -> None:
    import torch

    from theory.errors import InvalidInputError

    if threads < 1:
        raise InvalidInputError(f"--threads must be ≥ 1, got {threads}")
    torch.set_num_threads(threads)


def _cmd_transformer(args) -> int:
    from numerics.cli import EXIT_OK, _print_mapping, _progress, emit
    from numerics.transformer.experiment import TransformerRunConfig, run_transformer
    from numerics.transformer.train import TrainConfig

    _set_threads(args.threads)
    train = TrainConfig(lr=args.lr, weight_decay=args.weight_decay, batch=args.batch,
                        max_steps=args.max_steps, target=args.target, time_limit=args.time_limit,
                        seed=args.seed)
    config = TransformerRunConfig(n_facts=args.facts, n_junk=args.junk, dim=args.dim,
                                  family=args.family, method=args.method, hidden=args.hidden,
                                  code_dim=args.code_dim, projection=args.projection, train=train,
                                  eval_per_fact=args.eval_per_fact, seed=args.seed,
                                  device=args.device)
    run = run_transformer(config, progress=_progress() and not args.json)
    emit(run.summary(), as_json=args.json,
         render=lambda r: _print_mapping(r, skip=("mlp_info", "train_config")))
    return EXIT_OK


def _render_edit(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"editing {result['n_edited']} of {result['n_facts']} facts "
                        f"(fraction {result['fraction']:g})")
    for column in ("method", "efficacy", "paraphrase", "specificity", "score", "non-fact ppl ratio"):
        table.add_column(column)
    for row in result["results"]:
        table.add_row(row["method"], *(f"{row[k]:.4f}" for k in (
            "efficacy", "paraphrase", "specificity", "score", "nonfact_ppl_ratio")))
    console = Console()
    console.print(table)
    for row in result["results"]:
        if "note" in row:
            console.print(f"{row['method']}: {row['note']}")


def _cmd_edit(args) -> int:
    from numerics.cli import EXIT_OK, _progress, emit
    from numerics.editing.run import EditingConfig, run_editing
    from numerics.editing.train import BaseTrainConfig

    _set_threads(args.threads)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    config = EditingConfig(n_facts=args.facts, fraction=args.fraction, methods=methods,
                           mlp_method=args.mlp_method,
                           train=BaseTrainConfig(steps=args.steps, seed=args.seed),
                           seed=args.seed, device=args.device)
    report = run_editing(config, progress=_progress() and not args.json)
    emit(report.summary(), as_json=args.json, render=_render_edit)
    return EXIT_OK


def add_experiment_verbs(verb: Callable[[str, str, Callable], argparse.ArgumentParser]) -> None:
    """Register ``transformer`` and ``edit`` with the CLI's ``verb`` factory."""
    from numerics.generators import FAMILIES

    sub = verb("transformer", "train a one-layer Transformer to use a frozen fact MLP "
               "(<junk…> K <junk…> Q V)", _cmd_transformer)
    sub.add_argument("--facts", type=int, required=True, help="number of facts F")
    sub.add_argument("--method", default="construct",
                     help="construct (default) or a registered method: encdec, gd, ntk, hebbian, "
                          "hebbian_ridge, lookup")
    sub.add_argument("--hidden", type=int, help="width for a registered method (default: its capacity)")
    sub.add_argument("--code-dim", type=int, help="construct: code dimension m (default: chosen)")
    sub.add_argument("--projection", choices=("gaussian", "pca", "whitened"), default="gaussian")
    sub.add_argument("--junk", type=int, default=16, help="junk tokens J (default 16)")
    sub.add_argument("--dim", type=int, default=64, help="d_model (default 64)")
    sub.add_argument("--family", choices=FAMILIES, default="spherical", help="embedding family")
    sub.add_argument("--lr", type=float, default=1e-3)
    sub.add_argument("--weight-decay", type=float, default=0.1)
    sub.add_argument("--batch", type=int, default=1280)
    sub.add_argument("--max-steps", type=int, default=6000)
    sub.add_argument("--target", type=float, default=0.995, help="early stop at this validation accuracy")
    sub.add_argument("--time-limit", type=float, help="stop training after this many seconds")
    sub.add_argument("--eval-per-fact", type=int, default=8, help="fresh test sequences per fact")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--device", default="cpu")
    sub.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)

    sub = verb("edit", "edit a fraction of real facts (ISO subdivisions → countries) by MLP swap, "
               "ROME, MEMIT and AlphaEdit", _cmd_edit)
    sub.add_argument("--facts", type=int, default=512, help="subdivisions sampled (default 512)")
    sub.add_argument("--fraction", type=float, default=0.5, help="fraction of facts edited (default 0.5)")
    sub.add_argument("--methods", default="swap,rome,memit,alphaedit", help="comma-separated")
    sub.add_argument("--mlp-method", default="construct", help="how the fact MLP is built")
    sub.add_argument("--steps", type=int, default=1500, help="base-model training steps")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--device", default="cpu")
    sub.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)

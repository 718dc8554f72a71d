"""The ``factmlp transformer`` and ``factmlp edit`` verbs (registered by
:func:`numerics.cli.app.build_parser`): thin layers over
:func:`numerics.transformer.run_transformer` and :func:`numerics.editing.run_editing`. Options
left out take the defaults of the config dataclasses (``TrainConfig``,
``TransformerRunConfig``, ``EditingConfig``, ``BaseTrainConfig``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from numerics.cli.core import _given
from numerics.cli.output import EXIT_OK, emit, print_mapping, show_progress

__all__ = ["add_experiment_verbs", "transformer_config", "editing_config"]

_THREADS_HELP = (
    "torch CPU threads (default 1: on a shared 2-core machine at load ≈ 14, one "
    "training step took 64 ms with 1 thread and 2 s with 2)"
)


def _set_threads(threads: int) -> None:
    import torch

    from theory.errors import InvalidInputError

    if threads < 1:
        raise InvalidInputError(f"--threads must be ≥ 1, got {threads}")
    torch.set_num_threads(threads)


def transformer_config(args):
    """The :class:`~numerics.transformer.TransformerRunConfig` of parsed ``transformer`` args:
    what the user gave, the dataclasses' defaults for the rest."""
    from numerics.transformer.experiment import TransformerRunConfig
    from numerics.transformer.train import TrainConfig

    train = TrainConfig(
        **_given(args, "lr", "weight_decay", "batch", "max_steps", "target", "time_limit", "seed")
    )
    options = _given(
        args,
        "method",
        "hidden",
        "code_dim",
        "projection",
        "eval_per_fact",
        "seed",
        "device",
        "dim",
        "family",
    )
    if args.junk is not None:
        options["n_junk"] = args.junk
    return TransformerRunConfig(n_facts=args.facts, train=train, **options)


def _cmd_transformer(args) -> int:
    from numerics.transformer.experiment import run_transformer

    _set_threads(args.threads)
    run = run_transformer(transformer_config(args), progress=show_progress(args))
    emit(
        run.summary(),
        as_json=args.json,
        render=lambda r: print_mapping(r, skip=("mlp_info", "train_config")),
    )
    return EXIT_OK


def _render_edit(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"editing {result['n_edited']} of {result['n_facts']} facts "
        f"(fraction {result['fraction']:g})"
    )
    for column in (
        "method",
        "efficacy",
        "paraphrase",
        "specificity",
        "score",
        "non-fact ppl ratio",
    ):
        table.add_column(column)
    for row in result["results"]:
        table.add_row(
            row["method"],
            *(
                f"{row[k]:.4f}"
                for k in ("efficacy", "paraphrase", "specificity", "score", "nonfact_ppl_ratio")
            ),
        )
    console = Console()
    console.print(table)
    for row in result["results"]:
        if "note" in row:
            console.print(f"{row['method']}: {row['note']}")


def editing_config(args):
    """The :class:`~numerics.editing.EditingConfig` of parsed ``edit`` args."""
    from numerics.editing.run import EditingConfig
    from numerics.editing.train import BaseTrainConfig

    options = _given(args, "fraction", "mlp_method", "seed", "device")
    if args.methods is not None:
        options["methods"] = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if args.facts is not None:
        options["n_facts"] = args.facts
    return EditingConfig(train=BaseTrainConfig(**_given(args, "steps", "seed")), **options)


def _cmd_edit(args) -> int:
    from numerics.editing.run import run_editing

    _set_threads(args.threads)
    report = run_editing(editing_config(args), progress=show_progress(args))
    emit(report.summary(), as_json=args.json, render=_render_edit)
    return EXIT_OK


def add_experiment_verbs(verb: Callable[[str, str, Callable], argparse.ArgumentParser]) -> None:
    """Register ``transformer`` and ``edit`` with the CLI's ``verb`` factory."""
    from numerics.embeddings.generators import FAMILIES
    from theory.decoder import PROJECTIONS

    sub = verb(
        "transformer",
        "train a one-layer Transformer to use a frozen fact MLP "
        "(<junk…> K <junk…> Q V); options left out take TransformerRunConfig's and "
        "TrainConfig's defaults",
        _cmd_transformer,
    )
    sub.add_argument("--facts", type=int, required=True, help="number of facts F")
    sub.add_argument("--method", help="construct (default) or a registered method")
    sub.add_argument(
        "--hidden", type=int, help="width for a registered method (default: its capacity)"
    )
    sub.add_argument("--code-dim", type=int, help="construct: code dimension m (default: chosen)")
    sub.add_argument("--projection", choices=PROJECTIONS)
    sub.add_argument("--junk", type=int, help="junk tokens J (default 16)")
    sub.add_argument("--dim", type=int, help="d_model (default 64)")
    sub.add_argument("--family", choices=FAMILIES, help="embedding family (default spherical)")
    sub.add_argument("--lr", type=float)
    sub.add_argument("--weight-decay", type=float)
    sub.add_argument("--batch", type=int)
    sub.add_argument("--max-steps", type=int)
    sub.add_argument("--target", type=float, help="early stop at this validation accuracy")
    sub.add_argument("--time-limit", type=float, help="stop training after this many seconds")
    sub.add_argument("--eval-per-fact", type=int, help="fresh test sequences per fact")
    sub.add_argument("--seed", type=int)
    sub.add_argument("--device")
    sub.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)

    sub = verb(
        "edit",
        "edit a fraction of real facts (ISO subdivisions → countries) by MLP swap, "
        "ROME, MEMIT and AlphaEdit; options left out take EditingConfig's defaults",
        _cmd_edit,
    )
    sub.add_argument("--facts", type=int, help="subdivisions sampled (default 512)")
    sub.add_argument("--fraction", type=float, help="fraction of facts edited (default 0.5)")
    sub.add_argument("--methods", help="comma-separated (default swap,rome,memit,alphaedit)")
    sub.add_argument("--mlp-method", help="how the fact MLP is built (default construct)")
    sub.add_argument("--steps", type=int, help="base-model training steps (default 1500)")
    sub.add_argument("--seed", type=int)
    sub.add_argument("--device")
    sub.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)

"""The precision verbs of ``factmlp``: ``certify`` (rigorous finite-precision recall, key by
key) and ``bits`` (the bits frontier of an MLP file on a fact set). Thin layers over
:mod:`numerics.precision`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from numerics.cli.output import EXIT_FAILED, EXIT_OK, emit, print_mapping

__all__ = ["add_precision_verbs"]


def _load(args):
    """The fact set and the MLP file's weights (float64), checked to have one dimension."""
    import torch

    from numerics.dtypes import resolve_device
    from numerics.factset import FactSet
    from numerics.mlp import load_mlp
    from theory.errors import InvalidInputError

    factset = FactSet.load(args.file)
    resolve_device(args.device)  # a bad --device is an input error, not a traceback
    weights, _ = load_mlp(args.mlp, dtype=torch.float64)
    if weights.dim != factset.dim:
        raise InvalidInputError(
            f"{args.mlp}: the MLP has dimension {weights.dim} but the fact set has "
            f"dimension {factset.dim}"
        )
    return factset, weights


def _cmd_certify(args) -> int:
    from numerics.precision.certificate import certify_recall

    factset, weights = _load(args)
    certificate = certify_recall(weights, factset, args.dtype, device=args.device)
    emit(
        certificate.to_dict(),
        as_json=args.json,
        render=lambda r: print_mapping(r, skip=("model", "bound_over_observed_statistic")),
    )
    return EXIT_OK if certificate.certified_fraction == 1.0 else EXIT_FAILED


def _cmd_bits(args) -> int:
    from numerics.precision.bits import bits_frontier

    factset, weights = _load(args)
    result = bits_frontier(weights, factset, device=args.device).to_dict()
    emit(result, as_json=args.json, render=lambda r: print_mapping(r, skip=("int_recall",)))
    return EXIT_OK


def add_precision_verbs(verb: Callable[[str, str, Callable], argparse.ArgumentParser]) -> None:
    """Register the precision verbs with the CLI's ``verb`` factory."""
    from theory.rounding import CERTIFIABLE_FORMATS

    sub = verb(
        "certify",
        "certify, key by key, that an MLP file decodes a fact set in a float format under "
        "the arithmetic model of theory.rounding (rounding-error bounds; exit 1 if some key "
        "is not certified)",
        _cmd_certify,
    )
    sub.add_argument("file", help="fact-set .npz")
    sub.add_argument("--mlp", required=True, help="MLP .safetensors file")
    sub.add_argument("--dtype", choices=CERTIFIABLE_FORMATS, default=CERTIFIABLE_FORMATS[0])
    sub.add_argument("--device", default="cpu", help="where the bounds run (cpu, cuda, …)")

    sub = verb(
        "bits",
        "smallest weight precision (b-bit integers with row scales; float formats) at which an "
        "MLP still stores every fact, against the counting bound",
        _cmd_bits,
    )
    sub.add_argument("file", help="fact-set .npz")
    sub.add_argument("--mlp", required=True, help="MLP .safetensors file")
    sub.add_argument("--device", default="cpu")

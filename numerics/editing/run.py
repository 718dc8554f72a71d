"""The editing experiment: train a base model on real facts, edit a fraction of them with
every method, score each (what ``factmlp edit`` calls).

Hyperparameter grids (best by score; ties keep the first):

- δ optimisation (``rome``, ``memit``, ``alphaedit``): Adam steps × lr in
  :data:`DELTA_GRID`;
- ``rome``: ridge on C in ``{1e-4, 1e-2}`` (× tr(C)/h);
- ``memit``: λ in ``{1, 10, 100, 1000}``;
- ``alphaedit``: null-space tolerance in ``{1e-8, 1e-4, 1e-2}`` (× λ_max of K₀K₀ᵀ) and
  α in ``{0.01, 1}`` (× mean ‖k‖²). The row reports the dimension of the null space used
  and of the exact one (tolerance 1e-8); when the exact one is empty (hidden width ≤ number
  of preserved keys) the row's ``note`` says so: with it AlphaEdit changes nothing, and any
  effect comes from the approximate null space of small eigenvalues.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from numerics.editing.corpus import FactCorpus, make_corpus
from numerics.editing.evaluate import EditScores, fact_accuracy, nonfact_nll, score_edit
from numerics.editing.facts import load_subdivision_facts
from numerics.editing.methods import (
    EditRequest,
    alphaedit_edit,
    edit_keys,
    make_edit_request,
    memit_edit,
    null_space,
    optimise_deltas,
    rome_edit,
    swap_edit,
)
from numerics.editing.model import EditableLM
from numerics.editing.train import BaseTrainConfig, BaseTrainResult, train_base_model
from numerics.transformer.fact_mlp import DEFAULT_METHOD, FactMLP, build_fact_mlp
from theory.errors import InvalidInputError

__all__ = [
    "EDIT_METHODS",
    "DELTA_GRID",
    "EditingConfig",
    "BaseModel",
    "EditingReport",
    "build_base_model",
    "edit_all",
    "run_editing",
]

EDIT_METHODS = ("swap", "rome", "memit", "alphaedit")
DELTA_GRID = ((50, 0.1), (200, 0.1), (200, 0.5))
_ROME_GRID = (1e-4, 1e-2)
_MEMIT_GRID = (1.0, 10.0, 100.0, 1000.0)
_ALPHA_GRID = tuple(itertools.product((1e-8, 1e-4, 1e-2), (0.01, 1.0)))


@dataclass(frozen=True)
class EditingConfig:
    """n_facts (sampled subdivisions), fraction edited, methods, the fact-MLP method, model
    and training settings, seed, device."""

    n_facts: int = 512
    fraction: float = 0.5
    methods: tuple[str, ...] = EDIT_METHODS
    mlp_method: str = DEFAULT_METHOD
    dim: int = 64
    expert_hidden: int = 64
    train: BaseTrainConfig = field(default_factory=BaseTrainConfig)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in EDIT_METHODS]
        if unknown or not self.methods:
            raise InvalidInputError(
                f"methods {unknown or '()'} unknown; choose from {', '.join(EDIT_METHODS)}"
            )
        if (
            isinstance(self.fraction, bool)
            or not isinstance(self.fraction, (int, float))
            or not 0 < self.fraction <= 1
        ):
            raise InvalidInputError(f"fraction must lie in (0, 1], got {self.fraction!r}")


@dataclass(frozen=True)
class BaseModel:
    """A trained base model with its corpus, fact MLP and base accuracies."""

    corpus: FactCorpus
    model: EditableLM
    fact_mlp: FactMLP
    training: BaseTrainResult
    train_accuracy: float
    heldout_accuracy: float
    nonfact_ppl: float

    def summary(self) -> dict:
        return {
            "n_facts": self.corpus.n_facts,
            "n_objects": len(self.corpus.facts.objects),
            "vocab_size": self.corpus.vocab_size,
            "source": self.corpus.facts.source,
            "train_templates": list(self.corpus.train_templates),
            "heldout_templates": list(self.corpus.heldout_templates),
            "base_train_accuracy": self.train_accuracy,
            "base_heldout_accuracy": self.heldout_accuracy,
            "base_nonfact_ppl": self.nonfact_ppl,
            "base_train_seconds": self.training.seconds,
            **{f"fact_mlp_{k}": v for k, v in self.fact_mlp.summary(self.corpus.factset()).items()},
        }


@dataclass(frozen=True)
class EditingReport:
    base: BaseModel
    request: EditRequest
    results: tuple[dict, ...]
    seconds: float

    def summary(self) -> dict:
        """The ``factmlp edit --json`` object."""
        return {
            "results": list(self.results),
            "fraction": self.request.fraction,
            "n_edited": int(self.request.facts.size),
            **self.base.summary(),
            "seconds": self.seconds,
        }


def build_base_model(
    config: EditingConfig = EditingConfig(), *, progress: bool = False
) -> BaseModel:
    """Facts → corpus → fact MLP → trained base model, with its base accuracies."""
    facts = load_subdivision_facts(config.n_facts, seed=config.seed)
    corpus = make_corpus(facts, dim=config.dim, seed=config.seed)
    fact_mlp = build_fact_mlp(
        corpus.factset(), config.mlp_method, seed=config.seed, device=config.device
    )
    model = EditableLM(
        torch.from_numpy(corpus.embeddings.copy()),
        fact_mlp.weights,
        rms_gain=corpus.rms_gain,
        expert_hidden=config.expert_hidden,
        seed=config.seed,
    ).to(config.device)
    training = train_base_model(model, corpus, config.train, progress=progress)
    every = np.arange(corpus.n_facts)
    return BaseModel(
        corpus=corpus,
        model=model,
        fact_mlp=fact_mlp,
        training=training,
        train_accuracy=fact_accuracy(
            model, corpus, corpus.train_templates, every, corpus.true_objects
        ),
        heldout_accuracy=fact_accuracy(
            model, corpus, corpus.heldout_templates, every, corpus.true_objects
        ),
        nonfact_ppl=math.exp(nonfact_nll(model, corpus)),
    )


def _row(scores: EditScores, **extra) -> dict:
    return {**scores.to_dict(), **extra}


def edit_all(
    base: BaseModel,
    request: EditRequest,
    methods=EDIT_METHODS,
    *,
    mlp_method: str = DEFAULT_METHOD,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> list[dict]:
    """One result row per method (best of its grid by score), plus ``none`` (no edit).
    ``progress`` prints one line per finished method on stderr."""
    model, corpus = base.model, base.corpus
    console = None
    if progress:
        from rich.console import Console

        console = Console(stderr=True)

    def report(row: dict) -> None:
        if console is not None:
            console.print(
                f"edit {row['method']}: score {row['score']:.4f} ({row['seconds']:.1f} s)"
            )

    objects = corpus.true_objects.copy()
    objects[request.facts] = request.new_objects
    nll_before = nonfact_nll(model, corpus, objects)

    def scored(name, edited):
        return score_edit(
            name, edited, corpus, request.facts, request.new_objects, nll_before=nll_before
        )

    rows = [_row(scored("none", model), seconds=0.0)]
    if "swap" in methods:
        start = time.perf_counter()
        rows.append(
            _row(
                scored(
                    "swap",
                    swap_edit(
                        model, corpus, request, method=mlp_method, seed=seed + 1, device=device
                    ),
                ),
                seconds=time.perf_counter() - start,
            )
        )
        report(rows[-1])
    closed = [m for m in methods if m != "swap"]
    if not closed:
        return rows
    start = time.perf_counter()
    keys = edit_keys(model, corpus, request)
    deltas = {
        (steps, lr): optimise_deltas(model, corpus, request, steps=steps, lr=lr)
        for steps, lr in DELTA_GRID
    }
    shared_seconds = time.perf_counter() - start
    for name in closed:
        start, best = time.perf_counter(), None
        for (steps, lr), delta in deltas.items():
            if name == "rome":
                trials = (
                    (lambda r=r, delta=delta: rome_edit(model, keys, delta, ridge=r), {"ridge": r})
                    for r in _ROME_GRID
                )
            elif name == "memit":
                trials = (
                    (
                        lambda lam=lam, delta=delta: memit_edit(model, keys, delta, lam=lam),
                        {"lam": lam},
                    )
                    for lam in _MEMIT_GRID
                )
            else:
                trials = (
                    (
                        lambda t=tol, a=alpha, delta=delta: alphaedit_edit(
                            model, keys, delta, rel_tol=t, alpha=a
                        )[0],
                        {
                            "rel_tol": tol,
                            "alpha": alpha,
                            "null_space_dim": null_space(keys, tol)[1],
                        },
                    )
                    for tol, alpha in _ALPHA_GRID
                )
            for make, params in trials:
                s = scored(name, make())
                if best is None or s.score > best[0].score:
                    best = (s, {"delta_steps": steps, "delta_lr": lr, **params})
        extra = dict(best[1])
        if name == "alphaedit":
            exact = null_space(keys, _ALPHA_GRID[0][0])[1]
            extra.update(
                hidden=keys.hidden,
                preserved_keys=int(keys.preserved.shape[1]),
                exact_null_space_dim=exact,
            )
            if exact == 0:
                extra["note"] = (
                    f"exact null space empty (h = {keys.hidden} ≤ "
                    f"{keys.preserved.shape[1]} preserved keys); the best run uses "
                    f"eigenvalues ≤ {best[1]['rel_tol']:g}·λ_max "
                    f"(dimension {best[1]['null_space_dim']})"
                )
        rows.append(_row(best[0], seconds=time.perf_counter() - start + shared_seconds, **extra))
        report(rows[-1])
    return rows


def run_editing(
    config: EditingConfig = EditingConfig(),
    *,
    base: BaseModel | None = None,
    progress: bool = False,
) -> EditingReport:
    """Build (or reuse) the base model, make the edit request, run every method."""
    start = time.perf_counter()
    if base is None:
        base = build_base_model(config, progress=progress)
    request = make_edit_request(base.corpus, config.fraction, seed=config.seed)
    rows = edit_all(
        base,
        request,
        config.methods,
        mlp_method=config.mlp_method,
        seed=config.seed,
        device=config.device,
        progress=progress,
    )
    return EditingReport(
        base=base, request=request, results=tuple(rows), seconds=time.perf_counter() - start
    )

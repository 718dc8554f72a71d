"""One Transformer run: task → fact MLP → model → train attention → recall on fresh sequences.

This is what ``factmlp transformer`` calls. The result records both recalls:
``mlp_recall`` (the MLP alone on exact keys, over the full vocabulary) and ``recall`` (the
whole model on freshly sampled sequences), with the training cost.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

import torch

from numerics.transformer.fact_mlp import DEFAULT_METHOD, FactMLP, build_fact_mlp
from numerics.transformer.model import FactTransformer, TransformerConfig
from numerics.transformer.task import KeyQueryTask, make_task
from numerics.transformer.train import (
    TaskRecall,
    TrainConfig,
    TrainResult,
    task_recall,
    train_transformer,
)
from theory.errors import InvalidInputError
from theory.validation import require_int

__all__ = ["TransformerRunConfig", "TransformerRun", "run_transformer"]


@dataclass(frozen=True)
class TransformerRunConfig:
    """Everything one run depends on (the same config and seed give the same numbers on
    the same machine and thread count).

    n_facts, n_junk, dim, family : the task (:func:`numerics.transformer.task.make_task`)
    method, hidden, code_dim, projection : the fact MLP (:func:`build_fact_mlp`)
    train : optimiser and stopping rule
    model : architecture
    eval_per_fact : fresh evaluation sequences per fact
    seed : seeds the task, the MLP and the attention initialisation
    device : where everything runs
    """

    n_facts: int = 256
    n_junk: int = 16
    dim: int = 64
    family: str = "spherical"
    method: str = DEFAULT_METHOD
    hidden: int | None = None
    code_dim: int | None = None
    projection: str = "gaussian"
    train: TrainConfig = field(default_factory=TrainConfig)
    model: TransformerConfig = field(default_factory=TransformerConfig)
    eval_per_fact: int = 8
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        require_int("eval_per_fact", self.eval_per_fact, 1)


@dataclass(frozen=True)
class TransformerRun:
    """The outcome of :func:`run_transformer` (``model`` and ``task`` kept for inspection)."""

    config: TransformerRunConfig
    fact_mlp: FactMLP
    training: TrainResult
    evaluation: TaskRecall
    build_seconds: float
    task: KeyQueryTask = field(repr=False)
    model: FactTransformer = field(repr=False)

    def summary(self) -> dict:
        """The ``factmlp transformer --json`` object."""
        factset = self.task.factset()
        return {
            "recall": self.evaluation.recall,
            "mlp_recall": self.fact_mlp.mlp_recall.accuracy,
            "train_seconds": self.training.seconds,
            "steps": self.training.steps,
            "reached_target": self.training.reached_target,
            "val_accuracy": self.training.val_accuracy,
            "attention_on_key": self.evaluation.attention_on_key,
            "facts_below_half": int((self.evaluation.per_fact < 0.5).sum()),
            "eval_sequences": self.evaluation.n_sequences,
            "n_facts": self.config.n_facts,
            "n_junk": self.config.n_junk,
            "vocab_size": self.task.vocab_size,
            "dim": self.config.dim,
            **self.fact_mlp.summary(factset),
            "mlp_info": self.fact_mlp.info,
            "build_seconds": self.build_seconds,
            "logit_scale": self.model.final_norm.gain,
            "torch_threads": torch.get_num_threads(),
            "load_average": list(os.getloadavg()),
            "train_config": asdict(self.config.train),
            "seed": self.config.seed,
        }


def run_transformer(
    config: TransformerRunConfig = TransformerRunConfig(),
    *,
    fact_mlp: FactMLP | None = None,
    progress: bool = False,
) -> TransformerRun:
    """Build the task and the fact MLP (unless given), train the attention, measure recall.

    Raises
    ------
    InvalidInputError, InfeasibleFactSetError, SolverError
        From the task, the MLP build or the training configuration.
    """
    if not isinstance(config, TransformerRunConfig):
        raise InvalidInputError(
            f"config must be a TransformerRunConfig, got {type(config).__name__}"
        )
    task = make_task(
        config.n_facts, n_junk=config.n_junk, dim=config.dim, family=config.family, seed=config.seed
    )
    start = time.perf_counter()
    if fact_mlp is None:
        fact_mlp = build_fact_mlp(
            task.factset(),
            config.method,
            hidden=config.hidden,
            code_dim=config.code_dim,
            projection=config.projection,
            seed=config.seed,
            device=config.device,
        )
    elif fact_mlp.weights.dim != task.dim:
        raise InvalidInputError(
            f"fact_mlp has dimension {fact_mlp.weights.dim}, the task {task.dim}"
        )
    build_seconds = time.perf_counter() - start
    model = FactTransformer(
        torch.from_numpy(task.embeddings.copy()),
        fact_mlp.weights,
        rms_gain=task.rms_gain,
        config=config.model,
        seed=config.seed,
    ).to(config.device)
    training = train_transformer(model, task, config.train, progress=progress)
    evaluation = task_recall(
        model, task, per_fact=config.eval_per_fact, seed=config.seed + 7_777_777
    )
    return TransformerRun(
        config=config,
        fact_mlp=fact_mlp,
        training=training,
        evaluation=evaluation,
        build_seconds=build_seconds,
        task=task,
        model=model,
    )

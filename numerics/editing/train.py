"""Training the base model on fact sentences: next-token cross-entropy plus a routing loss.

For a sentence ``[BOS] w_1 … w_T`` (object last) the loss is

.. math::

    \\mathcal L = \\frac{1}{T}\\sum_{t<T} -\\log p(w_{t+1} \\mid w_{\\le t})
      \\;+\\; λ_r \\frac{1}{T}\\sum_{t<T} \\operatorname{BCE}(ℓ_t, [\\,t = T-1\\,]),

with ``ℓ_t`` the router logit and the label "the next token is the object". During training
the route is the label (the fact MLP answers exactly at fact positions, the expert
elsewhere); the router learns to reproduce it. Only the attention (W_q, W_k, QK-norm gains),
the fact path's output gain, the expert and the router train; embeddings, the pre-MLP norm
and the fact MLP are buffers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from numerics.editing.corpus import FactCorpus
from numerics.editing.model import EditableLM
from theory.errors import InvalidInputError
from theory.progress import progress_bar
from theory.validation import require_int

__all__ = ["BaseTrainConfig", "BaseTrainResult", "train_base_model", "routing_labels"]


@dataclass(frozen=True)
class BaseTrainConfig:
    """lr, weight decay (AdamW), steps, sentences per step, routing-loss weight λ_r, seed."""

    lr: float = 3e-3
    weight_decay: float = 0.0
    steps: int = 1500
    batch: int = 256
    router_weight: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidInputError(f"lr must be finite and > 0, got {self.lr!r}")
        if not (self.weight_decay >= 0 and self.router_weight >= 0):
            raise InvalidInputError("weight_decay and router_weight must be ≥ 0")
        for name in ("steps", "batch"):
            value = getattr(self, name)
            require_int(name, value, 1)


@dataclass(frozen=True)
class BaseTrainResult:
    steps: int
    seconds: float
    final_loss: float
    history: tuple[tuple[int, float], ...] = field(default_factory=tuple)


def routing_labels(tokens: torch.Tensor) -> torch.Tensor:
    """B×(T−1) bool: True at the trigger (index T−2, whose next token is the object)."""
    labels = torch.zeros(tokens.shape[0], tokens.shape[1] - 1, dtype=torch.bool)
    labels[:, -1] = True
    return labels


def train_base_model(
    model: EditableLM,
    corpus: FactCorpus,
    config: BaseTrainConfig = BaseTrainConfig(),
    *,
    progress: bool = False,
) -> BaseTrainResult:
    """Train ``model`` in place on every fact in every training template (module docstring)."""
    if model.embeddings.shape[0] != corpus.vocab_size:
        raise InvalidInputError(
            f"model vocabulary {model.embeddings.shape[0]} ≠ corpus vocabulary {corpus.vocab_size}"
        )
    device = model.embeddings.device
    data = [torch.from_numpy(corpus.sentences(t)) for t in corpus.train_templates]
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.AdamW(
        model.trainable_parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    history, start, loss = [], time.perf_counter(), torch.tensor(float("nan"))
    model.train()
    with progress_bar(
        "train base model", config.steps, show=progress, detail="{task.completed} steps"
    ) as advance:
        for step in range(1, config.steps + 1):
            sentences = data[(step - 1) % len(data)]
            pick = torch.randint(
                0, sentences.shape[0], (min(config.batch, sentences.shape[0]),), generator=generator
            )
            tokens = sentences[pick].to(device)
            inputs, targets = tokens[:, :-1], tokens[:, 1:]
            labels = routing_labels(tokens).to(device)
            out = model.run(inputs, route=labels)
            loss = F.cross_entropy(
                out.logits.reshape(-1, out.logits.shape[-1]), targets.reshape(-1)
            )
            loss = loss + config.router_weight * F.binary_cross_entropy_with_logits(
                out.router_logit, labels.to(out.router_logit.dtype)
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if step % 100 == 0 or step == config.steps:
                history.append((step, float(loss.detach())))
                advance(completed=step)
    model.eval()
    return BaseTrainResult(
        steps=config.steps,
        seconds=time.perf_counter() - start,
        final_loss=float(loss.detach()),
        history=tuple(history),
    )

"""Scores of an edited model: efficacy, paraphrase, specificity, their harmonic mean, and
the non-fact perplexity ratio.

- **efficacy**: accuracy on the edited facts (new objects), training phrasings;
- **paraphrase**: the same, held-out phrasings;
- **specificity**: accuracy on the untouched facts (their original objects), training
  phrasings;
- **score** = harmonic mean of the three, ``3 / (1/e + 1/p + 1/s)`` (0 if any is 0);
- **non-fact perplexity ratio** = ``exp(NLL_after − NLL_before)``, NLL the mean negative
  log-likelihood of every predicted token that is not an object (template words and
  subjects), over every fact in every training phrasing. The edited facts' sentences use
  their new objects, so the tokens scored are the same before and after.

Accuracy is the argmax over the whole vocabulary at the trigger, with the model's own
(hard) routing. References: paper.md §7 (the follow-up's protocol).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from numerics.editing.corpus import FactCorpus
from numerics.editing.model import EditableLM

__all__ = ["EditScores", "fact_accuracy", "nonfact_nll", "harmonic_mean", "score_edit"]


def harmonic_mean(*values: float) -> float:
    """``n / Σ 1/x_i``; 0 if any value is 0.

    Examples
    --------
    >>> harmonic_mean(1.0, 1.0, 0.5)
    0.75
    >>> harmonic_mean(1.0, 0.0)
    0.0
    """
    if any(v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1.0 / v for v in values)


def fact_accuracy(model: EditableLM, corpus: FactCorpus, templates, facts, objects) -> float:
    """Fraction of (fact, template) pairs whose prediction at the trigger is ``objects``."""
    facts = np.asarray(facts, dtype=np.int64)
    if facts.size == 0:
        return float("nan")
    device = model.embeddings.device
    hits = 0
    with torch.no_grad():
        for template in templates:
            tokens = torch.from_numpy(corpus.sentences(template, facts, objects)).to(device)
            logits = model.run(tokens[:, :-1]).logits[:, -1]
            hits += int((logits.argmax(-1) == tokens[:, -1]).sum())
    return hits / (facts.size * len(templates))


def nonfact_nll(model: EditableLM, corpus: FactCorpus, objects=None) -> float:
    """Mean NLL of the non-object tokens of every training sentence (module docstring)."""
    device = model.embeddings.device
    total, count = 0.0, 0
    with torch.no_grad():
        for template in corpus.train_templates:
            tokens = torch.from_numpy(corpus.sentences(template, None, objects)).to(device)
            logits = model.run(tokens[:, :-1]).logits[:, :-1]  # drop the trigger position
            targets = tokens[:, 1:-1]
            nll = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
            )
            total += float(nll)
            count += targets.numel()
    return total / count


@dataclass(frozen=True)
class EditScores:
    method: str
    efficacy: float
    paraphrase: float
    specificity: float
    score: float
    nonfact_ppl_ratio: float

    def to_dict(self) -> dict:
        return asdict(self)


def score_edit(
    method: str,
    edited: EditableLM,
    corpus: FactCorpus,
    edited_facts,
    new_objects,
    *,
    nll_before: float,
) -> EditScores:
    """All scores of ``edited`` (module docstring); ``nll_before`` from :func:`nonfact_nll` of
    the unedited model on the edited objects."""
    edited_facts = np.asarray(edited_facts, dtype=np.int64)
    new_objects = np.asarray(new_objects, dtype=np.int64)
    untouched = np.setdiff1d(np.arange(corpus.n_facts), edited_facts)
    efficacy = fact_accuracy(edited, corpus, corpus.train_templates, edited_facts, new_objects)
    paraphrase = fact_accuracy(edited, corpus, corpus.heldout_templates, edited_facts, new_objects)
    specificity = (
        fact_accuracy(
            edited, corpus, corpus.train_templates, untouched, corpus.true_objects[untouched]
        )
        if untouched.size
        else 1.0
    )
    objects = corpus.true_objects.copy()
    objects[edited_facts] = new_objects
    ratio = math.exp(nonfact_nll(edited, corpus, objects) - nll_before)
    return EditScores(
        method=method,
        efficacy=efficacy,
        paraphrase=paraphrase,
        specificity=specificity,
        score=harmonic_mean(efficacy, paraphrase, specificity),
        nonfact_ppl_ratio=ratio,
    )

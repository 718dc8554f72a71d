"""Modular fact editing (paper §7): real facts as template sentences, a base model whose fact
MLP is one of ours behind a router, and four editors on the same model: ``swap`` (a newly
constructed fact MLP), ROME, MEMIT and AlphaEdit (closed forms in :mod:`theory.editing`).

================  =====================================================================
``facts``         ISO 3166-2 subdivision → country facts from ``pycountry``
``corpus``        templates (training / held-out), vocabulary, embeddings, fact sets
``model``         :class:`EditableLM`: attention, hard router, fact MLP, expert
``train``         :func:`train_base_model`
``methods``       edit requests, keys, δ targets and the four editors
``evaluate``      efficacy, paraphrase, specificity, score, non-fact perplexity ratio
``run``           :func:`run_editing` (the ``factmlp edit`` verb)
================  =====================================================================
"""

from numerics.editing.corpus import BOS, HELDOUT_TEMPLATES, TRAIN_TEMPLATES, FactCorpus, make_corpus
from numerics.editing.evaluate import (
    EditScores,
    fact_accuracy,
    harmonic_mean,
    nonfact_nll,
    score_edit,
)
from numerics.editing.facts import RelationFacts, load_subdivision_facts
from numerics.editing.methods import (
    EditKeys,
    EditRequest,
    alphaedit_edit,
    edit_keys,
    fact_keys,
    make_edit_request,
    memit_edit,
    null_space,
    optimise_deltas,
    rome_edit,
    swap_edit,
    trigger_outputs,
    with_down,
)
from numerics.editing.model import EditableLM, ForwardPass
from numerics.editing.run import (
    DELTA_GRID,
    EDIT_METHODS,
    BaseModel,
    EditingConfig,
    EditingReport,
    build_base_model,
    edit_all,
    run_editing,
)
from numerics.editing.train import (
    BaseTrainConfig,
    BaseTrainResult,
    routing_labels,
    train_base_model,
)

__all__ = [
    "BOS",
    "HELDOUT_TEMPLATES",
    "TRAIN_TEMPLATES",
    "FactCorpus",
    "make_corpus",
    "EditScores",
    "fact_accuracy",
    "harmonic_mean",
    "nonfact_nll",
    "score_edit",
    "RelationFacts",
    "load_subdivision_facts",
    "EditKeys",
    "EditRequest",
    "alphaedit_edit",
    "edit_keys",
    "fact_keys",
    "make_edit_request",
    "memit_edit",
    "null_space",
    "optimise_deltas",
    "rome_edit",
    "swap_edit",
    "trigger_outputs",
    "with_down",
    "EditableLM",
    "ForwardPass",
    "DELTA_GRID",
    "EDIT_METHODS",
    "BaseModel",
    "EditingConfig",
    "EditingReport",
    "build_base_model",
    "edit_all",
    "run_editing",
    "BaseTrainConfig",
    "BaseTrainResult",
    "routing_labels",
    "train_base_model",
]

"""A one-layer Transformer that reads a frozen fact MLP (paper §6): RoPE attention with
QK-norm, frozen tied embeddings, a frozen scalar pre-MLP RMSNorm, no residuals; the synthetic
``<junk…> K <junk…> Q V`` task, its training loop and recall on fresh sequences.

======================  ==================================================================
``rope``                rotary position embedding (relative-position property)
``model``               :class:`FactTransformer`, :class:`RotaryAttention`, :class:`ScalarRMSNorm`
``task``                :class:`KeyQueryTask`, :func:`make_task`
``fact_mlp``            :func:`build_fact_mlp`: our construction or a registered method
``train``               :func:`train_transformer`, :func:`task_recall`
``experiment``          :func:`run_transformer` (the ``factmlp transformer`` verb)
======================  ==================================================================
"""

from numerics.transformer.experiment import TransformerRun, TransformerRunConfig, run_transformer
from numerics.transformer.fact_mlp import DEFAULT_METHOD, FactMLP, build_fact_mlp, fact_mlp_methods
from numerics.transformer.model import (
    FactTransformer,
    RotaryAttention,
    ScalarRMSNorm,
    TransformerConfig,
)
from numerics.transformer.rope import DEFAULT_ROPE_BASE, apply_rope, rope_angles
from numerics.transformer.task import KeyQueryTask, make_task
from numerics.transformer.train import (
    TaskRecall,
    TrainConfig,
    TrainResult,
    task_recall,
    train_transformer,
)

__all__ = [
    "TransformerRun",
    "TransformerRunConfig",
    "run_transformer",
    "DEFAULT_METHOD",
    "FactMLP",
    "build_fact_mlp",
    "fact_mlp_methods",
    "FactTransformer",
    "RotaryAttention",
    "ScalarRMSNorm",
    "TransformerConfig",
    "DEFAULT_ROPE_BASE",
    "apply_rope",
    "rope_angles",
    "KeyQueryTask",
    "make_task",
    "TaskRecall",
    "TrainConfig",
    "TrainResult",
    "task_recall",
    "train_transformer",
]

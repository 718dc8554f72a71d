"""factmlp.numerics: weights, recall at scale, experiments and the ``factmlp`` CLI (PyTorch).

May import ``theory``; never the other way round. Public names are re-exported lazily
(PEP 562) so that the CLI does not import torch for verbs that need none.
"""

from importlib import import_module

_EXPORTS = {
    # fact sets
    "FactSet": "factset", "validate_fact_arrays": "factset",
    "FAMILIES": "generators", "FACT_MAPS": "generators", "FactSetSpec": "generators",
    "make_factset": "generators", "sample_embeddings": "generators",
    # real embeddings
    "MINILM_PACKAGE": "embeddings", "MINILM_DIM": "embeddings",
    "minilm_token_embeddings": "embeddings", "sample_rows": "embeddings",
    # MLP weights and files
    "ACTIVATIONS": "mlp", "GatedMLPWeights": "mlp", "GatedMLP": "mlp", "save_mlp": "mlp",
    "load_mlp": "mlp", "fold_readout": "mlp", "TENSOR_NAMES": "mlp",
    # recall
    "RecallResult": "recall", "default_chunks": "recall",
    # analyses behind the CLI
    "check_factset": "analysis", "factset_rho": "analysis",
    "DemoConfig": "demo", "run_demo": "demo",
}
#: Functions named like their own submodule (e.g. ``decodability.decodability``) are not
#: re-exported: Python binds the submodule to that package attribute on import.
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"numerics.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'numerics' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))

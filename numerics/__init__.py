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
    "MiniLM": "minilm", "MLPActivations": "minilm", "minilm_mlp_activations": "minilm",
    "stdlib_docstrings": "stdlib_text",
    # embedding families for sweeps, whitening
    "EMBEDDING_FAMILIES": "families", "FamilyOption": "families", "EmbeddingFamily": "families",
    "family_factset": "families",
    "WHITEN_MODES": "whitening", "WhitenedFactSet": "whitening", "whitening_map": "whitening",
    "whiten_factset": "whitening", "unwhiten_mlp": "whitening",
    # sweeps: config grid, SQLite store, Dask runner, fits and plots
    "FamilyVariant": "sweep", "Point": "sweep", "SweepConfig": "sweep", "configured_method": "sweep",
    "load_sweep_config": "sweep", "parse_sweep_config": "sweep", "SweepSummary": "sweep",
    "evaluate_point": "sweep", "point_rho": "sweep", "run_sweep": "sweep", "versions": "sweep",
    "POINT_COLUMNS": "sweep", "STATUSES": "sweep", "SweepStore": "sweep", "LinearFit": "sweep",
    "least_squares": "sweep", "reached_rows": "sweep", "rho_fits": "sweep",
    "scaling_fits": "sweep", "plot_sweep": "sweep", "cost_table": "sweep",
    "method_ratios": "sweep", "reach_ceilings": "sweep", "method_label": "sweep",
    # MLP weights and files
    "ACTIVATIONS": "mlp", "GatedMLPWeights": "mlp", "GatedMLP": "mlp", "save_mlp": "mlp",
    "load_mlp": "mlp", "fold_readout": "mlp", "TENSOR_NAMES": "mlp",
    # recall
    "RecallResult": "recall", "default_chunks": "recall",
    # methods behind one interface, and the capacity search over hidden width
    "BuildResult": "methods", "Method": "methods", "WidthTooSmallError": "methods",
    "NeedsAcceleratorError": "methods", "METHODS": "methods", "get_method": "methods",
    "EncDecMethod": "methods", "GDMethod": "methods", "NTKMethod": "methods",
    "HebbianMethod": "methods", "LookupMethod": "methods", "CapacityResult": "capacity",
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

"""factmlp.numerics: weights, recall at scale, experiments and the ``factmlp`` CLI (PyTorch).

May import ``theory``; never the other way round. Public names are re-exported lazily
(PEP 562, :func:`theory.lazy.lazy_exports`) so that the CLI does not import torch for verbs
that need none.

=================  ==========================================================================
``factset``        :class:`FactSet`: validated keys, values and fact map; ``.npz`` files
``mlp``            gated-MLP weights, the module, safetensors files with LLaMA names
``strict_recall``  :func:`recall`: strict argmax recall (a tie is a failure), chunked
``dtypes``         the floating-point formats a user may name
``plotting``       a headless pyplot and one way to save a PNG
``construction/``  the paper's §4 pipeline: code dimension, dense/sparse/spline encoders
``embeddings/``    synthetic generators, MiniLM tokens and MLP I/O, whitening, families
``methods/``       the method registry, every method, the capacity search
``usability/``     Lipschitz metrics, the capacity–usability study and its plots
``transformer/``   the one-layer Transformer that reads a frozen fact MLP
``editing/``       modular fact editing: swap, ROME, MEMIT, AlphaEdit
``sweep/``         config grids, the SQLite store, the Dask runner, fits and plots
``precision/``     (room) certified finite-precision recall and the bits frontier
``testing/``       (room) public hypothesis strategies and the fuzzer
``cli/``           the ``factmlp`` command line
=================  ==========================================================================
"""

from theory.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # shared primitives: fact sets, MLP files, strict recall, dtype names
        "FactSet": "factset",
        "validate_fact_arrays": "factset",
        "ACTIVATIONS": "mlp",
        "GatedMLPWeights": "mlp",
        "GatedMLP": "mlp",
        "save_mlp": "mlp",
        "load_mlp": "mlp",
        "fold_readout": "mlp",
        "TENSOR_NAMES": "mlp",
        "RecallResult": "strict_recall",
        "recall": "strict_recall",
        "default_chunks": "strict_recall",
        "DTYPE_NAMES": "dtypes",
        "torch_dtype": "dtypes",
        # the paper's construction
        "ConstructionConfig": "construction",
        "Construction": "construction",
        "construct": "construction",
        # where keys and values come from
        "FactSetSpec": "embeddings",
        "make_factset": "embeddings",
        "minilm_token_embeddings": "embeddings",
        "family_factset": "embeddings",
        "whiten_factset": "embeddings",
        "unwhiten_mlp": "embeddings",
        # methods behind one interface, and the capacity search over hidden width
        "BuildResult": "methods",
        "Method": "methods",
        "METHODS": "methods",
        "get_method": "methods",
        "CapacityResult": "methods",
        "capacity": "methods",
        # usability, the Transformer, editing, sweeps
        "usability_report": "usability",
        "TransformerRunConfig": "transformer",
        "run_transformer": "transformer",
        "EditingConfig": "editing",
        "run_editing": "editing",
        "SweepConfig": "sweep",
        "load_sweep_config": "sweep",
        "run_sweep": "sweep",
        "plot_sweep": "sweep",
        # the demo
        "DemoConfig": "cli.demo",
        "run_demo": "cli.demo",
    },
)

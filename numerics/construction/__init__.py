"""The paper's §4 construction: decoder codes, an encoder that hits them, one folded gated MLP.

===================  ======================================================================
``pipeline``         :func:`construct` (the ``factmlp construct`` verb) and its config
``code_dim``         the code dimension m: the smallest safe one, by a risk-ordered search
``encoder_dense``    the dense kernel solve (SiLU gates on whitened keys, one Cholesky)
``encoder_sparse``   threshold-ReLU caps solved by Jacobi-CG, for F > 2^13
``encoder_spline``   the spline fallback along one direction (e.g. d = 2)
===================  ======================================================================
"""

from theory.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ConstructionConfig": "pipeline",
        "Construction": "pipeline",
        "construct": "pipeline",
        "cast_recall": "pipeline",
        "ENCODERS": "pipeline",
        "choose_code_dim": "code_dim",
        "nested_projection": "code_dim",
        "full_dimension_decoder": "code_dim",
        "EncoderSolution": "encoder_dense",
        "solve_encoder": "encoder_dense",
        "solve_encoder_sparse": "encoder_sparse",
        "solve_encoder_spline": "encoder_spline",
    },
)

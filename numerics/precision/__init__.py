"""Finite precision: what survives float32, bfloat16, float16 and integer weights.

===============  ========================================================================
``certificate``  :func:`certify_recall`: per-key proof that decoding survives a format
                 (rigorous rounding-error bounds against a rigorous margin lower bound)
``propagation``  the componentwise error bounds through the gated MLP that it uses
``bits``         :func:`bits_frontier`: the smallest weight precision (b-bit row-scaled
                 integers, float formats) that still stores every fact — checked, in float64
===============  ========================================================================

The formulas and the arithmetic model are in :mod:`theory.rounding`.
"""

from theory.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PrecisionCertificate": "certificate",
        "certify_recall": "certificate",
        "logit_error_bounds": "certificate",
        "BitsFrontier": "bits",
        "bits_frontier": "bits",
        "quantize_rows": "bits",
        "FLOAT_FORMATS": "bits",
        "INT_BITS": "bits",
    },
)

"""Imports every check module so that its checks register. Add new modules here."""

from proofs_check import (  # noqa: F401
    counting_bound,
    decoder_correctness,
    measure_zero,
    minimax_rho,
    param_count,
    readout_folding,
    rho_invariances,
    spline_interpolation,
    stirling,
)

"""Imports every check module so that its checks register. Add new modules here."""

from proofs_check import (  # noqa: F401
    counting_bound,
    minimax_rho,
    readout_folding,
    rho_invariances,
    stirling,
)

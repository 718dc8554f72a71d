"""Every check module, imported so that its checks register (add new modules here), and
:func:`registered_checks`, the list they make."""

from proofs_check import (  # noqa: F401  (each module registers its checks on import)
    counting_bound,
    decoder_correctness,
    measure_zero,
    measure_zero_shapes,
    minimax_rho,
    param_count,
    readout_folding,
    registry,
    rho_invariances,
    spline_interpolation,
    stirling,
)

__all__ = ["registered_checks"]


def registered_checks() -> list:
    """Every registered check (:class:`proofs_check.registry.Check`), in registration order."""
    return list(registry._REGISTRY.values())

"""factmlp.theory: the mathematics of fact-storing MLPs, on numpy arrays and sympy objects.

Glossary (used in every name): F facts (``n_facts``), M values (``n_values``), d embedding
dimension (``dim``), h hidden width, m code dimension, K (F×d) keys, V (M×d) values,
f : [F] → [M] the fact map, ρ_i / ρ decodability (``rho``), u*_i optimal separator
(``u_star``). Never imports ``numerics`` or torch.

Public names are re-exported lazily (PEP 562), so importing one module does not import the
solvers of the others.
"""

from importlib import import_module

_EXPORTS = {
    # errors
    "FactMLPError": "errors", "InvalidInputError": "errors", "InfeasibleFactSetError": "errors",
    "SolverError": "errors", "MissingDependencyError": "errors",
    # validation
    "as_matrix": "validation", "as_index_vector": "validation", "preview_indices": "validation",
    "require_int": "validation",
    # decodability
    "UNDECODABLE_TOL": "decodability", "METHODS": "decodability",
    "ValueDecodability": "decodability", "Decodability": "decodability",
    "separation_margin": "decodability", "value_decodability": "decodability",
    "verify_certificate": "decodability",
    # key side
    "DIRECTION_TOL": "key_side", "zero_keys": "key_side", "collinear_conflicts": "key_side",
    # feasibility
    "FeasibilityReport": "feasibility",
    "require_feasible": "feasibility",
    # bounds
    "CountingBound": "bounds", "StirlingBounds": "bounds", "ReferenceRate": "bounds",
    "BoundReport": "bounds", "REFERENCE_RATES": "bounds", "counting_bound": "bounds",
    "stirling_bounds": "bounds", "log2_factorial_bounds": "bounds", "bits_required": "bounds",
    "min_params": "bounds", "bits_per_param": "bounds", "facts_per_param_ceiling": "bounds",
    "min_params_at_reference_rates": "bounds", "bound_report": "bounds",
}
#: Functions named like their own submodule (e.g. ``decodability.decodability``) are not
#: re-exported: Python binds the submodule to that package attribute on import.
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"theory.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))

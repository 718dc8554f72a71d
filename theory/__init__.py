"""factmlp.theory: the mathematics of fact-storing MLPs, on numpy arrays and sympy objects.

Glossary (used in every name): F facts (``n_facts``), M values (``n_values``), d embedding
dimension (``dim``), h hidden width, m code dimension, K (F×d) keys, V (M×d) values,
f : [F] → [M] the fact map, ρ_i / ρ decodability (``rho``), u*_i optimal separator
(``u_star``). Never imports ``numerics`` or torch.

==================  =========================================================================
``rho``             decodability ρ_i(V), ρ(V), the separators u*_i and their certificates
``min_norm_point``  the exact min-norm-point (Wolfe) solver behind ``rho``
``feasibility``     which facts no MLP can store (a value with ρ_i = 0)
``hull_exact``      exact hull membership: convex weights or a separator, in Fractions
``asymptotics``     the parameter count against the bound as F → ∞, in a regime that exists
``rounding``        the floating-point arithmetic model of the precision certifier
``convex_certificates``  re-checks of the convex solves behind ``maxmargin``
``key_side``        what the architecture rules out on the key side (zero keys, ReLU rays)
``bounds``          the counting bound, log2 F! and its Stirling bounds
``decoder``         projections and codes of the construction's decoder
``param_count``     the construction's parameter count as a sympy formula
``failure_sets/``   where the encoder's linear system is singular: a null set (SiLU), or not
``kernel_certificate``  a rigorous lower bound on λ_min of the dense encoder's kernel
``lipschitz``       Lipschitz bounds of a gated MLP
``editing``         closed forms of ROME, MEMIT and AlphaEdit
``errors``          the typed exceptions every package raises
``validation``      argument checks shared by every package
``progress``        the one progress bar (theory may not import numerics)
``lazy``            the lazy re-exports of every package ``__init__``
==================  =========================================================================

Public names are re-exported lazily (PEP 562), so importing one module does not import the
solvers of the others.
"""

from theory.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        # errors
        "FactMLPError": "errors",
        "InvalidInputError": "errors",
        "InfeasibleFactSetError": "errors",
        "SolverError": "errors",
        "MissingDependencyError": "errors",
        # validation
        "as_matrix": "validation",
        "as_index_vector": "validation",
        "preview_indices": "validation",
        "require_int": "validation",
        "decimal_fraction": "validation",
        "require_bool": "validation",
        # decodability
        "decodability": "rho",
        "UNDECODABLE_TOL": "rho",
        "METHODS": "rho",
        "ValueDecodability": "rho",
        "Decodability": "rho",
        "separation_margin": "rho",
        "value_decodability": "rho",
        "verify_certificate": "rho",
        # key side
        "DIRECTION_TOL": "key_side",
        "zero_keys": "key_side",
        "collinear_conflicts": "key_side",
        # feasibility
        "FeasibilityReport": "feasibility",
        "require_feasible": "feasibility",
        "infeasibility_error": "feasibility",
        # exact hull membership (the certificates behind "infeasible")
        "CONVEX_WEIGHTS": "hull_exact",
        "SEPARATING_DIRECTION": "hull_exact",
        "HullCertificate": "hull_exact",
        "SeparatorCertificate": "hull_exact",
        "RationalValues": "hull_exact",
        "decide_hull": "hull_exact",
        "exact_hull_weights": "hull_exact",
        "verify_exact_certificate": "hull_exact",
        "margin_phrase": "hull_exact",
        # bounds
        "CountingBound": "bounds",
        "StirlingBounds": "bounds",
        "ReferenceRate": "bounds",
        "BoundReport": "bounds",
        "REFERENCE_RATES": "bounds",
        "counting_bound": "bounds",
        "stirling_bounds": "bounds",
        "log2_factorial_bounds": "bounds",
        "bits_required": "bounds",
        "min_params": "bounds",
        "bits_per_param": "bounds",
        "is_bijection": "bounds",
        "facts_per_param_ceiling": "bounds",
        "min_params_at_reference_rates": "bounds",
        "bound_report": "bounds",
        # progress
        "progress_bar": "progress",
    },
)

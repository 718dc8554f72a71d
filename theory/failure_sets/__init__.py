"""Where the encoder's linear system fails: a null set for SiLU, a positive-probability set for ReLU.

The system Φ vec(A_t) = T_{:,t} (Φ_i = σ(G₀kᵢ) ⊗ kᵢ) is solvable for every target iff
det(ΦΦᵀ) ≠ 0. The modules, by what they need:

- :mod:`~theory.failure_sets.features` (numpy): the system, the failure condition and the ±
  pair analysis; Φ and ΦΦᵀ in floats (:func:`khatri_rao_features`, :func:`khatri_rao_kernel`),
  :func:`select_minor_columns`, the gate designs (:func:`active_gate_counts`,
  :func:`pm_gate_pairs`, :func:`feature_rank_ceiling`), :data:`GATE_ACTIVATIONS` and
  :data:`RATIONAL_ACTIVATIONS`;
- :mod:`~theory.failure_sets.minors` (sympy, fractions): Φ and det(ΦΦᵀ) exactly over ℚ for
  ReLU and identity gates (:func:`exact_khatri_rao_features`, :func:`exact_gram_determinant`);
- :mod:`~theory.failure_sets.interval` (mpmath): the measure-zero argument for analytic gates
  and its rigorous certificate (:class:`MinorCertificate`, :func:`certify_nonsingular_minor`);
- :mod:`~theory.failure_sets.relu`: the ReLU counterexample (:func:`all_gates_off_probability`,
  :func:`expected_all_off_keys`, :class:`SingularFraction`, :func:`singular_fraction`).

Every public name is re-exported here.
"""

from theory.failure_sets.features import (
    GATE_ACTIVATIONS,
    RATIONAL_ACTIVATIONS,
    active_gate_counts,
    feature_rank_ceiling,
    khatri_rao_features,
    khatri_rao_kernel,
    pm_gate_pairs,
    select_minor_columns,
)
from theory.failure_sets.interval import MinorCertificate, certify_nonsingular_minor
from theory.failure_sets.minors import exact_gram_determinant, exact_khatri_rao_features
from theory.failure_sets.relu import (
    SingularFraction,
    all_gates_off_probability,
    expected_all_off_keys,
    singular_fraction,
)

__all__ = [
    "GATE_ACTIVATIONS",
    "RATIONAL_ACTIVATIONS",
    "MinorCertificate",
    "SingularFraction",
    "khatri_rao_features",
    "khatri_rao_kernel",
    "select_minor_columns",
    "certify_nonsingular_minor",
    "exact_khatri_rao_features",
    "exact_gram_determinant",
    "all_gates_off_probability",
    "expected_all_off_keys",
    "active_gate_counts",
    "pm_gate_pairs",
    "feature_rank_ceiling",
    "singular_fraction",
]

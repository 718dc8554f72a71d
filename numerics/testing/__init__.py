"""Fuzzing as a product: public hypothesis strategies for edge-case fact sets and the fuzzer.

==============  ===========================================================================
``strategies``  hypothesis strategies for fact sets with planted edge cases, each also a
                deterministic seeded generator (:func:`draw_factset`); :data:`STRATEGIES`
``drawing``     the machinery: one recipe drawn through hypothesis or a seeded generator
``checking``    one fact set through a method: build, independent numpy recall of the MLP
                file, independent infeasibility certificate for refusals
``shrinking``   delta debugging of a failing fact set
``fuzzer``      :func:`fuzz`: all of it over many fact sets, failures saved with scripts
==============  ===========================================================================
"""

from theory.lazy import lazy_exports

_STRATEGY_NAMES = (
    "SCALES",
    "STRATEGIES",
    "embedding_matrices",
    "fact_arrays",
    "near_duplicate_keys",
    "duplicate_keys",
    "collinear_keys",
    "low_rank_keys",
    "zero_keys",
    "near_hull_values",
    "inside_hull_values",
    "clustered_values",
    "spiked_values",
    "conditioned_values",
    "antipodal_values",
    "extreme_scales",
    "low_dimension",
    "many_to_one",
    "single_fact",
    "single_value",
    "mixed",
)
_MODULES = {
    "drawing": ("Draws", "HypothesisDraws", "RngDraws", "draw_factset"),
    "checking": (
        "FUZZ_DTYPES",
        "HULL_TOLERANCE",
        "Outcome",
        "check_factset",
        "file_margins",
        "infeasibility_certificate",
        "hull_weights",
    ),
    "shrinking": ("shrink", "subset_factset"),
    "fuzzer": ("FuzzFailure", "StrategyCounts", "FuzzReport", "fuzz"),
}

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **{name: "strategies" for name in _STRATEGY_NAMES},
        **{name: module for module, names in _MODULES.items() for name in names},
    },
)

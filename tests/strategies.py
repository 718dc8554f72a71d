"""The suite's shared hypothesis strategies now live in :mod:`numerics.testing.strategies`
(public, with the edge-case recipes and the fuzzer's registry); this module re-exports the
names older tests import from here."""

from numerics.testing.strategies import SCALES, embedding_matrices, fact_arrays

__all__ = ["SCALES", "embedding_matrices", "fact_arrays"]

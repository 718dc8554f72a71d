"""Fake methods for the fuzzer's tests: one that always breaks, one that refuses, one that
crashes, and one with a planted failure on two given keys."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from numerics.factset import FactSet
from numerics.methods import BuildResult, LookupMethod
from numerics.mlp import GatedMLPWeights
from theory.errors import InfeasibleFactSetError


def zero_mlp(dim: int, hidden: int = 2) -> GatedMLPWeights:
    """g ≡ 0: every logit ties, so nothing with a competitor is stored."""
    z = torch.zeros(hidden, dim, dtype=torch.float64)
    return GatedMLPWeights(z, z.clone(), z.T.clone(), activation="relu")


@dataclass(frozen=True)
class BrokenMethod:
    """Builds g ≡ 0 whatever the fact set."""

    name: str = "broken"

    def initial_hidden(self, factset: FactSet) -> int:
        return 2

    def default_max_hidden(self, factset: FactSet) -> int:
        return 2

    def build(self, factset, hidden, *, seed=0, device="cpu") -> BuildResult:
        weights = zero_mlp(factset.dim, hidden)
        return BuildResult(weights=weights, method=self.name, hidden=hidden)


@dataclass(frozen=True)
class RefusingMethod(BrokenMethod):
    """Refuses every fact set with the library's typed refusal."""

    name: str = "refusing"

    def build(self, factset, hidden, *, seed=0, device="cpu") -> BuildResult:
        raise InfeasibleFactSetError("refused on principle", values=[0], keys=[0])


@dataclass(frozen=True)
class CrashingMethod(BrokenMethod):
    """Raises an untyped exception (a crash, not a refusal)."""

    name: str = "crashing"

    def build(self, factset, hidden, *, seed=0, device="cpu") -> BuildResult:
        raise ZeroDivisionError("planted crash")


@dataclass(frozen=True)
class PlantedMethod:
    """``lookup``, except that g ≡ 0 when both planted keys are among the keys."""

    planted: tuple[np.ndarray, ...] = field(default=())
    name: str = "planted"

    def initial_hidden(self, factset: FactSet) -> int:
        return LookupMethod().initial_hidden(factset)

    def default_max_hidden(self, factset: FactSet) -> int:
        return LookupMethod().default_max_hidden(factset)

    def build(self, factset, hidden, *, seed=0, device="cpu") -> BuildResult:
        present = all((factset.keys == key).all(axis=1).any() for key in self.planted)
        if present:
            return BuildResult(
                weights=zero_mlp(factset.dim, hidden), method=self.name, hidden=hidden
            )
        built = LookupMethod().build(factset, hidden, seed=seed)
        return BuildResult(weights=built.weights, method=self.name, hidden=built.hidden)

"""Seeded synthetic fact sets: embedding families and fact maps.

Families (rows of keys and of values are drawn independently from the same family, unless
``tied``):

==============  ============================================================================
``spherical``   z ~ N(0, I_d), normalised: uniform on the unit sphere S^{d-1}.
``gaussian``    x ~ N(0, I_d / d): norms concentrate near 1 but vary.
``spiked``      x spherical, y = (I + β u uᵀ) x with one random unit u, renormalised:
                a rank-1 spike of strength β crowds the rows towards ±u.
``conditioned`` y = Q diag(s) z with z ~ N(0, I_d), Q random orthogonal, s log-spaced from
                1 down to 1/κ (the map has condition number κ), renormalised.
``lowrank``     y = B z with B (d×r) orthonormal, z ~ N(0, I_r), normalised: unit rows in a
                random r-dimensional subspace (r defaults to max(1, d // 4)).
==============  ============================================================================

Fact maps: ``bijection`` (a uniform random permutation; needs M = F) and ``random``
(many-to-one: when F ≥ M every value is used at least once and the remaining keys draw
values uniformly; when F < M each key draws a value uniformly, so some values go unused).
``tied`` sets keys = values (needs M = F), the paper's tied-embedding setting.

The same spec and seed always give bit-identical arrays (numpy's PCG64 streams, one
independent stream each for keys, values and the map, spawned from the seed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from numerics.factset import FactSet
from theory.errors import InvalidInputError

__all__ = ["FAMILIES", "FACT_MAPS", "FactSetSpec", "make_factset", "sample_embeddings"]

FAMILIES = ("spherical", "gaussian", "spiked", "conditioned", "lowrank")
FACT_MAPS = ("bijection", "random")


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _random_orthonormal(rng: np.random.Generator, d: int, r: int) -> np.ndarray:
    # QR of a Gaussian matrix, with the sign fix that makes Q Haar-distributed.
    q, r_ = np.linalg.qr(rng.standard_normal((d, r)))
    return q * np.sign(np.diag(r_))


def sample_embeddings(
    family: str,
    n: int,
    dim: int,
    rng: np.random.Generator,
    *,
    beta: float = 4.0,
    kappa: float = 10.0,
    rank: int | None = None,
) -> np.ndarray:
    """Draw ``n`` rows of dimension ``dim`` from ``family`` (see the module table)."""
    if family == "spherical":
        return _normalise(rng.standard_normal((n, dim)))
    if family == "gaussian":
        return rng.standard_normal((n, dim)) / np.sqrt(dim)
    if family == "spiked":
        u = _normalise(rng.standard_normal((1, dim)))[0]
        x = _normalise(rng.standard_normal((n, dim)))
        return _normalise(x + beta * np.outer(x @ u, u))
    if family == "conditioned":
        q = _random_orthonormal(rng, dim, dim)
        scales = np.geomspace(1.0, 1.0 / kappa, dim)
        return _normalise(rng.standard_normal((n, dim)) @ (q * scales).T)
    if family == "lowrank":
        r = rank if rank is not None else max(1, dim // 4)
        basis = _random_orthonormal(rng, dim, r)
        return _normalise(rng.standard_normal((n, r)) @ basis.T)
    raise InvalidInputError(f"family {family!r} is unknown; choose one of {list(FAMILIES)}")


def _fact_map(kind: str, n_facts: int, n_values: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "bijection":
        return rng.permutation(n_facts)
    if n_facts >= n_values:  # "random": surjective so that every value carries a fact
        fact_map = np.concatenate(
            [np.arange(n_values), rng.integers(0, n_values, n_facts - n_values)]
        )
        return rng.permutation(fact_map)
    return rng.integers(0, n_values, n_facts)


@dataclass(frozen=True)
class FactSetSpec:
    """Everything that determines a synthetic fact set; ``build()`` makes it.

    Parameters
    ----------
    family : one of :data:`FAMILIES`
    n_facts, n_values, dim : F, M, d (all ≥ 1)
    seed : the seed; the same spec gives the same arrays
    fact_map : ``bijection`` (needs M = F) or ``random``
    tied : keys = values (needs M = F)
    beta : spike strength for ``spiked`` (≥ 0)
    kappa : condition number for ``conditioned`` (≥ 1)
    rank : subspace dimension for ``lowrank`` (1..d; default d // 4)
    """

    family: str = "spherical"
    n_facts: int = 256
    n_values: int = 256
    dim: int = 32
    seed: int = 0
    fact_map: str = "bijection"
    tied: bool = False
    beta: float = 4.0
    kappa: float = 10.0
    rank: int | None = None

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise InvalidInputError(
                f"family {self.family!r} is unknown; choose one of {list(FAMILIES)}"
            )
        if self.fact_map not in FACT_MAPS:
            raise InvalidInputError(
                f"fact_map {self.fact_map!r} is unknown; choose one of {list(FACT_MAPS)}"
            )
        for name in ("n_facts", "n_values", "dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidInputError(f"{name} must be an integer ≥ 1, got {value!r}")
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, (int, np.integer))
            or self.seed < 0
        ):
            raise InvalidInputError(f"seed must be an integer ≥ 0, got {self.seed!r}")
        if (self.fact_map == "bijection" or self.tied) and self.n_values != self.n_facts:
            why = "tied keys = values" if self.tied else "a bijection"
            raise InvalidInputError(
                f"{why} needs n_values = n_facts, got n_values = {self.n_values}, n_facts = {self.n_facts}"
            )
        if not (np.isfinite(self.beta) and self.beta >= 0):
            raise InvalidInputError(f"beta must be finite and ≥ 0, got {self.beta!r}")
        if not (np.isfinite(self.kappa) and self.kappa >= 1):
            raise InvalidInputError(f"kappa must be finite and ≥ 1, got {self.kappa!r}")
        if self.rank is not None and not (1 <= self.rank <= self.dim):
            raise InvalidInputError(f"rank must lie in [1, dim = {self.dim}], got {self.rank!r}")

    def build(self) -> FactSet:
        key_rng, value_rng, map_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(3)
        )
        options = {"beta": self.beta, "kappa": self.kappa, "rank": self.rank}
        values = sample_embeddings(self.family, self.n_values, self.dim, value_rng, **options)
        keys = (
            values.copy()
            if self.tied
            else sample_embeddings(self.family, self.n_facts, self.dim, key_rng, **options)
        )
        fact_map = _fact_map(self.fact_map, self.n_facts, self.n_values, map_rng)
        try:
            return FactSet(keys, values, fact_map, meta={"generator": asdict(self)})
        except InvalidInputError as exc:
            # Continuous families never repeat a row, except unit-norm rows in a 1-dim
            # space, which are ±u: only two distinct keys exist there.
            span = (self.rank or max(1, self.dim // 4)) if self.family == "lowrank" else self.dim
            raise InvalidInputError(
                f"the {self.family} family spanning {span} dimension(s) drew a malformed fact "
                f"set ({exc}); unit-norm rows in one dimension take only two values, so use a "
                "larger dim (or rank), or the gaussian family"
            ) from None


def make_factset(
    family: str = "spherical",
    n_facts: int = 256,
    n_values: int | None = None,
    dim: int = 32,
    seed: int = 0,
    **options,
) -> FactSet:
    """Shorthand for ``FactSetSpec(...).build()``; ``n_values`` defaults to ``n_facts``.

    Examples
    --------
    >>> fs = make_factset("spherical", n_facts=8, dim=4, seed=1)
    >>> fs.keys.shape, fs.values.shape, sorted(fs.fact_map.tolist()) == list(range(8))
    ((8, 4), (8, 4), True)
    """
    n_values = n_facts if n_values is None else n_values
    return FactSetSpec(
        family=family, n_facts=n_facts, n_values=n_values, dim=dim, seed=seed, **options
    ).build()

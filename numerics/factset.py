"""The fact set: keys, values and the fact map, validated, with its ``.npz`` file format.

A fact set holds keys ``K`` (F×d), values ``V`` (M×d) and a fact map ``f : [F] → [M]``; an
MLP ``g`` stores it iff ``<g(k_i), v_{f(i)} − v_j> > 0`` for every key ``i`` and every
``j ≠ f(i)`` (paper §1).

File format (``.npz``): arrays ``keys`` (F×d), ``values`` (M×d), ``fact_map`` (F, integer);
an optional ``meta`` string (JSON) records how the set was generated. Extra arrays are ignored.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from theory.errors import InvalidInputError
from theory.validation import as_index_vector, as_matrix

__all__ = ["FactSet", "validate_fact_arrays"]

_REQUIRED = ("keys", "values", "fact_map")


def validate_fact_arrays(keys, values, fact_map) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and normalise the three arrays of a fact set.

    Returns float64 ``keys`` (F×d), float64 ``values`` (M×d) and int64 ``fact_map`` (F,).

    Raises
    ------
    InvalidInputError
        For a NaN/inf entry, a shape or dimension mismatch, an empty set, a map entry out of
        range, or identical keys mapped to different values; the message names the index.
    """
    keys = as_matrix("keys", keys)
    values = as_matrix("values", values, cols=keys.shape[1])
    fact_map = as_index_vector("fact_map", fact_map, length=keys.shape[0], upper=values.shape[0])
    _reject_conflicting_duplicate_keys(keys, fact_map)
    return keys, values, fact_map


def _reject_conflicting_duplicate_keys(keys: np.ndarray, fact_map: np.ndarray) -> None:
    # Identical keys produce identical MLP outputs, so they cannot decode to two different
    # values under any MLP: that is malformed input, not a hard instance. "+ 0.0" folds -0.0
    # into +0.0 so that bitwise-different but equal keys are grouped together.
    _, first, group = np.unique(keys + 0.0, axis=0, return_index=True, return_inverse=True)
    group = group.reshape(-1)
    representative = first[group]
    clash = np.flatnonzero(fact_map != fact_map[representative])
    if clash.size:
        b = int(clash[0])
        a = int(representative[b])
        raise InvalidInputError(
            f"keys[{a}] and keys[{b}] are identical but map to different values "
            f"(fact_map[{a}] = {fact_map[a]}, fact_map[{b}] = {fact_map[b]})"
        )


@dataclass(frozen=True, eq=False)
class FactSet:
    """A validated fact set ``(K, V, f)``.

    Attributes
    ----------
    keys : ndarray, shape (F, d), float64
    values : ndarray, shape (M, d), float64
    fact_map : ndarray, shape (F,), int64, entries in [0, M)
    meta : dict
        Provenance (generator spec and seed), saved with the file.

    Examples
    --------
    >>> fs = FactSet([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], [1, 0])
    >>> fs.n_facts, fs.n_values, fs.dim
    (2, 2, 2)
    >>> FactSet([[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], [0, 1])
    Traceback (most recent call last):
    ...
    theory.errors.InvalidInputError: keys[0] and keys[1] are identical but map to different values (fact_map[0] = 0, fact_map[1] = 1)
    """

    keys: np.ndarray
    values: np.ndarray
    fact_map: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        keys, values, fact_map = validate_fact_arrays(self.keys, self.values, self.fact_map)
        for array in (keys, values, fact_map):
            array.setflags(write=False)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "fact_map", fact_map)
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def n_facts(self) -> int:
        return self.keys.shape[0]

    @property
    def n_values(self) -> int:
        return self.values.shape[0]

    @property
    def dim(self) -> int:
        return self.keys.shape[1]

    @property
    def used_values(self) -> np.ndarray:
        """Sorted indices of the values the fact map uses."""
        return np.unique(self.fact_map)

    def __repr__(self) -> str:
        return (
            f"FactSet(n_facts={self.n_facts}, n_values={self.n_values}, dim={self.dim}, "
            f"meta={self.meta!r})"
        )

    def save(self, path) -> Path:
        """Write the ``.npz`` file (uncompressed, loadable with ``numpy.load`` alone)."""
        path = Path(path)
        with path.open("wb") as handle:
            np.savez(
                handle,
                keys=self.keys,
                values=self.values,
                fact_map=self.fact_map,
                meta=np.array(json.dumps(self.meta, sort_keys=True)),
            )
        return path

    @classmethod
    def load(cls, path) -> FactSet:
        """Read and validate a fact-set ``.npz`` file.

        Raises
        ------
        InvalidInputError
            If the file cannot be read, lacks one of ``keys``, ``values``, ``fact_map``, or
            holds malformed arrays (the message names the array and index).
        """
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                missing = [name for name in _REQUIRED if name not in data.files]
                if missing:
                    raise InvalidInputError(
                        f"{path}: missing array(s) {missing}; a fact set needs {list(_REQUIRED)}"
                    )
                arrays = {name: data[name] for name in _REQUIRED}
                meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
        except InvalidInputError:
            raise
        except FileNotFoundError:
            raise InvalidInputError(f"{path}: no such file") from None
        except (OSError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"{path}: not a readable fact-set .npz file ({exc})") from None
        try:
            return cls(arrays["keys"], arrays["values"], arrays["fact_map"], meta=meta)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}: {exc}") from None

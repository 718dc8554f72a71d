"""The common interface of every fact-storing method: build a gated MLP at a hidden width.

A *method* turns a fact set ``(K, V, f)`` and a hidden width ``h`` into the weights of one
gated MLP

.. math::

    g(x) = D(σ(Gx + b_G) ⊙ (Ax + b_A)) + b_D

(paper §1), written in the common safetensors format. Whether the MLP stores the fact set is
not the method's verdict: :func:`numerics.strict_recall.recall` decides, and
:func:`numerics.methods.capacity_search.capacity` searches the smallest width at which it does.

Contract of :meth:`Method.build`:

- the returned MLP has at most ``hidden`` neurons (``BuildResult.hidden`` is the width it
  actually has; a method whose layout quantises the width, such as ``encdec`` with ``m``
  groups of ``r``, or ``lookup`` with one neuron per key, may use fewer);
- the same fact set, width and seed give bit-identical weights on the CPU;
- a width at which the method cannot build anything raises :class:`WidthTooSmallError`
  (an :class:`~theory.errors.InvalidInputError`); a width at which it builds an MLP that
  does not store every fact is *not* an error (recall says so);
- a point too expensive for the device raises :class:`NeedsAcceleratorError`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from numerics.dtypes import resolve_device  # methods import it from here with the rest
from numerics.factset import FactSet
from numerics.mlp import GatedMLPWeights, save_mlp
from theory.errors import FactMLPError, InvalidInputError

__all__ = [
    "BuildResult",
    "Method",
    "WidthTooSmallError",
    "NeedsAcceleratorError",
    "check_build_args",
    "resolve_device",
    "distinct_keys",
    "method_config",
]


class WidthTooSmallError(InvalidInputError):
    """The method cannot build any MLP at the requested hidden width (e.g. ``lookup`` below
    one neuron per distinct key). :func:`numerics.methods.capacity_search.capacity` records such a width as
    "not reached" (recall 0.0) and searches on."""


class NeedsAcceleratorError(FactMLPError):
    """The requested point is too expensive for the device (gradient descent at large d or
    F on a CPU). The message names the limits and the two ways out: a GPU
    (``device="cuda"``) or the method's explicit override flag."""


@dataclass(frozen=True)
class BuildResult:
    """One built MLP and how it was built.

    Attributes
    ----------
    weights : GatedMLPWeights
        On the CPU; float64, except for methods that train (``gd``: float32, the training
        dtype; ``info["dtype"]`` says which).
    method : str
        Registry name of the method.
    hidden : int
        Width of the built MLP (``weights.hidden``), at most the requested width.
    info : Mapping[str, Any]
        JSON-safe details (requested width, seed, the method's configuration and what it
        chose: ``code_dim``, ``lr``, ``epochs``, ...).
    """

    weights: GatedMLPWeights
    method: str
    hidden: int
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.hidden == self.weights.hidden, (self.hidden, self.weights.hidden)
        json.dumps(dict(self.info))  # internal invariant: info is JSON-safe

    @property
    def params(self) -> int:
        """Every stored scalar of the MLP (biases included)."""
        return self.weights.n_params

    def metadata(self) -> dict[str, str]:
        """String metadata of the MLP file: ``activation``, ``method``, ``construction``
        (the same name, the key ``factmlp construct`` writes), ``hidden``, ``config`` (the
        method's settings, JSON) and ``info`` (everything in :attr:`info`, JSON)."""
        return {
            "activation": self.weights.activation,
            "method": self.method,
            "construction": self.method,
            "hidden": str(self.hidden),
            "config": json.dumps(self.info.get("config", {}), sort_keys=True),
            "info": json.dumps(dict(self.info), sort_keys=True),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the MLP in the common safetensors format with :meth:`metadata`."""
        save_mlp(path, self.weights, self.metadata())


@runtime_checkable
class Method(Protocol):
    """A fact-storing method (see the module docstring for the contract of ``build``)."""

    name: str

    def build(
        self, factset: FactSet, hidden: int, *, seed: int, device: str = "cpu"
    ) -> BuildResult: ...

    def initial_hidden(self, factset: FactSet) -> int:
        """First width the capacity search tries."""
        ...

    def default_max_hidden(self, factset: FactSet) -> int:
        """Largest width the capacity search tries when the caller gives none."""
        ...


def check_build_args(method: str, factset: Any, hidden: Any, seed: Any) -> None:
    """Validate the arguments every ``build`` takes; raise :class:`InvalidInputError`."""
    if not isinstance(factset, FactSet):
        raise InvalidInputError(
            f"{method}: factset must be a FactSet, got {type(factset).__name__}"
        )
    if isinstance(hidden, bool) or not isinstance(hidden, (int, np.integer)) or hidden < 1:
        raise InvalidInputError(f"{method}: hidden must be an integer ≥ 1, got {hidden!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"{method}: seed must be an integer ≥ 0, got {seed!r}")


def distinct_keys(factset: FactSet) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (rows, in first-occurrence order) and, per fact, its row there.

    Identical keys map to one value (:class:`FactSet` refuses anything else), so methods
    that spend a neuron or a row per key spend it per distinct key.
    """
    _, first, inverse = np.unique(
        factset.keys + 0.0, axis=0, return_index=True, return_inverse=True
    )
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return np.sort(first), rank[inverse.reshape(-1)]


def method_config(method: Any) -> dict[str, Any]:
    """A dataclass method's fields as a JSON-safe dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(method)))

"""Fact-storing methods behind one interface (:class:`Method`), and their registry.

=================  =========================================================================
``encdec``         ours: the encoder–decoder construction (paper §4) at a given width
``gd``             a gated MLP trained by full-batch Adam on cross-entropy (paper §5)
``ntk``            the one-shot gated "NTK" superposition construction (paper §5)
``hebbian``        the bilinear ``(A₀x) ⊙ (A₁x)/√h`` construction, raw Hebbian read-out
``hebbian_ridge``  the same features with the ridge-whitened read-out
``lookup``         one thresholded neuron per distinct key
``hebbian_dd``     the bilinear features refitted to the facts (data-dependent), ridge read-out
``maxmargin``      alternating certified convex margin solves for the up, down and gate blocks
=================  =========================================================================

Every method builds a gated MLP at a requested hidden width and seed
(:meth:`Method.build` → :class:`BuildResult`); :func:`numerics.methods.capacity_search.capacity` searches
the smallest width that stores a fact set.
"""

from __future__ import annotations

from numerics.methods.base import BuildResult, Method, NeedsAcceleratorError, WidthTooSmallError
from numerics.methods.capacity_search import CapacityResult, capacity
from numerics.methods.encdec import EncDecMethod
from numerics.methods.gd import GDMethod
from numerics.methods.hebbian import HebbianMethod
from numerics.methods.hebbian_dd import HebbianDDMethod
from numerics.methods.lookup import LookupMethod
from numerics.methods.maxmargin import MaxMarginMethod
from numerics.methods.ntk import NTKMethod
from numerics.methods.registry import METHODS, get_method

__all__ = [
    "BuildResult",
    "Method",
    "WidthTooSmallError",
    "NeedsAcceleratorError",
    "METHODS",
    "get_method",
    "EncDecMethod",
    "GDMethod",
    "NTKMethod",
    "HebbianMethod",
    "HebbianDDMethod",
    "LookupMethod",
    "MaxMarginMethod",
    "CapacityResult",
    "capacity",
]

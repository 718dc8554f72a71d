"""The exception hierarchy shared by every factmlp package.

Every error a user can cause is a :class:`FactMLPError`; its message is one line that names
what is wrong and where (the argument, the row index), so the CLI can print it as it is and
exit with status 2. Internal invariants use ``assert`` instead.
"""

from __future__ import annotations

__all__ = [
    "FactMLPError",
    "InvalidInputError",
    "InfeasibleFactSetError",
    "SolverError",
    "MissingDependencyError",
]


class FactMLPError(Exception):
    """Base class of every error factmlp raises on purpose."""


class InvalidInputError(FactMLPError, ValueError):
    """Malformed input: a non-finite entry, a wrong shape, an index out of range, identical
    keys mapped to different values, an argument outside its domain.

    The message names the argument and the first offending index, e.g.
    ``keys[3, 7] is nan``.
    """


class InfeasibleFactSetError(FactMLPError):
    """A well-formed fact set that no MLP of the requested kind can store.

    Attributes
    ----------
    values : tuple[int, ...]
        Indices of the values that cannot be decoded (ρ_i = 0: they lie in the convex hull
        of the other values), or that the keys cannot reach.
    keys : tuple[int, ...]
        Indices of the keys whose facts are impossible.
    """

    def __init__(self, message: str, *, values=(), keys=()):
        super().__init__(message)
        self.values = tuple(int(v) for v in values)
        self.keys = tuple(int(k) for k in keys)


class SolverError(FactMLPError):
    """A numerical solver did not reach a certified optimum (status not optimal, or a
    duality gap above tolerance). Never silently replaced by a default value."""


class MissingDependencyError(FactMLPError):
    """An optional package (e.g. the packaged MiniLM weights) is not installed; the message
    gives the install line."""

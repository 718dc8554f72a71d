"""Real facts for editing: ISO 3166-2 subdivisions and the country each belongs to.

Source: the PyPI package ``pycountry`` (its copy of the ISO 3166-2 database: about 5000
subdivisions of 200 countries). A fact is ``(subdivision, "located in", country)``.

Subdivision **names repeat across countries** (e.g. several "Central" regions), so a subject
token is the name together with its unique ISO code, ``"Canillo [AD-02]"``: every subject is
one atomic token, and no two facts share a subject. Objects are country names (one token
each, e.g. ``"United Kingdom"``).

:func:`load_subdivision_facts` draws a seeded sample of ``n_facts`` subdivisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.errors import InvalidInputError, MissingDependencyError

__all__ = ["RelationFacts", "load_subdivision_facts"]


@dataclass(frozen=True, eq=False)
class RelationFacts:
    """Facts of one relation between atomic subjects and objects.

    Attributes
    ----------
    relation : str
    subjects : tuple[str, ...]
        Unique subject tokens (``"Name [CODE]"``).
    objects : tuple[str, ...]
        The distinct objects (sorted), one token each.
    object_of : ndarray (F,), int64
        Index into ``objects`` of each subject's object.
    source : str
        Where the facts come from (package and version).
    """

    relation: str
    subjects: tuple[str, ...]
    objects: tuple[str, ...]
    object_of: np.ndarray
    source: str

    def __post_init__(self):
        if len(set(self.subjects)) != len(self.subjects):
            raise InvalidInputError("subject tokens must be unique")
        if self.object_of.shape != (len(self.subjects),):
            raise InvalidInputError(
                f"object_of has shape {self.object_of.shape}, expected ({len(self.subjects)},)"
            )
        if self.object_of.size and not (
            0 <= self.object_of.min() and self.object_of.max() < len(self.objects)
        ):
            raise InvalidInputError("object_of has an entry outside [0, number of objects)")

    @property
    def n_facts(self) -> int:
        return len(self.subjects)


def _pycountry():
    try:
        import pycountry
    except ImportError:  # pragma: no cover - the package is a dependency
        raise MissingDependencyError(
            "the editing facts need pycountry: pip install pycountry"
        ) from None
    return pycountry


def load_subdivision_facts(n_facts: int | None = 512, *, seed: int = 0) -> RelationFacts:
    """A seeded sample of ``n_facts`` (subdivision → country) facts; ``None`` takes all.

    Raises
    ------
    InvalidInputError
        If ``n_facts`` is not an integer in [2, number of subdivisions].
    MissingDependencyError
        If ``pycountry`` is not installed.

    Examples
    --------
    >>> facts = load_subdivision_facts(5, seed=0)
    >>> facts.n_facts, len(set(facts.subjects))
    (5, 5)
    >>> all(s.endswith("]") and "[" in s for s in facts.subjects)
    True
    """
    pycountry = _pycountry()
    rows = sorted((s.code, s.name, s.country_code) for s in pycountry.subdivisions)
    if n_facts is None:
        n_facts = len(rows)
    if (
        isinstance(n_facts, bool)
        or not isinstance(n_facts, (int, np.integer))
        or not 2 <= n_facts <= len(rows)
    ):
        raise InvalidInputError(f"n_facts must be an integer in [2, {len(rows)}], got {n_facts!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be an integer ≥ 0, got {seed!r}")
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), int(n_facts), replace=False))
    chosen = [rows[i] for i in pick]
    country = {c.alpha_2: c.name for c in pycountry.countries}
    names = [country.get(cc, cc) for _, _, cc in chosen]
    objects = tuple(sorted(set(names)))
    index = {name: i for i, name in enumerate(objects)}
    version = getattr(pycountry, "__version__", None)
    if version is None:
        from importlib.metadata import version as _version

        version = _version("pycountry")
    return RelationFacts(
        relation="located_in_country",
        subjects=tuple(f"{name} [{code}]" for code, name, _ in chosen),
        objects=objects,
        object_of=np.array([index[n] for n in names], dtype=np.int64),
        source=f"pycountry {version} (ISO 3166-2)",
    )

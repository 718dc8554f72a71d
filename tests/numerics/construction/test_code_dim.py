"""The search over the code dimension m (numerics.construction.code_dim)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import numerics.construction.code_dim as code_dim
from numerics.construction.code_dim import _Search, choose_code_dim, nested_projection
from numerics.embeddings.generators import make_factset
from theory.errors import InfeasibleFactSetError
from theory.rho import decodability


def _counting(monkeypatch) -> Counter:
    solved: Counter = Counter()
    real = code_dim.decodability

    def counted(W, **kwargs):
        result = real(W, **kwargs)
        solved.update((W.shape[1], c.index) for c in result.certificates)
        return result

    monkeypatch.setattr(code_dim, "decodability", counted)
    return solved


@pytest.mark.parametrize("n_values", [100, 600])
def test_chosen_decoder_meets_the_target_on_every_used_value_and_never_resolves(
    monkeypatch, n_values
):
    solved = _counting(monkeypatch)
    fs = make_factset("spherical", n_facts=n_values, dim=24, seed=1, tied=True)
    target = 0.02
    decoder = choose_code_dim(fs.values, fs.fact_map, seed=1, rho_target=target)
    used = fs.used_values
    exact = decodability(fs.values @ decoder.projection, indices=used)
    np.testing.assert_allclose(decoder.rho_projected[used], exact.rho_per_value[used], atol=1e-9)
    assert decoder.rho >= target
    assert max(solved.values()) == 1, "a value was solved twice at the same m"
    # with more values than the screen, the search must not solve every value at every m
    if n_values > code_dim.SCREEN_VALUES:
        per_m = Counter(m for m, _ in solved)
        assert min(per_m.values()) < n_values


@pytest.mark.parametrize("target", [0.05, 0.3, 0.6])
def test_the_batched_path_chooses_what_theory_chooses(monkeypatch, target):
    # From BATCHED_MIN_VALUES values on the search solves in torch batches
    # (separators_torch); lowered here so that a small set takes that path.
    import numerics.construction.separators_torch as separators_torch

    fs = make_factset("spherical", n_facts=600, dim=24, seed=2, tied=True)
    reference = choose_code_dim(fs.values, fs.fact_map, seed=2, rho_target=target)
    batched_calls = []
    real = separators_torch.batched_decodability

    def counted(W, **kwargs):
        batched_calls.append(W.shape)
        return real(W, **kwargs)

    monkeypatch.setattr(code_dim, "BATCHED_MIN_VALUES", 100)
    monkeypatch.setattr(separators_torch, "BATCHED_MIN_VALUES", 100)
    monkeypatch.setattr(code_dim, "batched_decodability", counted)
    batched = choose_code_dim(fs.values, fs.fact_map, seed=2, rho_target=target)
    assert batched_calls, "the batched path was not taken"
    assert batched.code_dim == reference.code_dim
    used = fs.used_values
    np.testing.assert_allclose(
        batched.rho_projected[used], reference.rho_projected[used], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(batched.codes, reference.codes, rtol=0, atol=1e-12)


def test_risk_order_puts_earlier_failures_first_then_central_values():
    fs = make_factset("spherical", n_facts=50, dim=8, seed=0, tied=True)
    values, used = np.asarray(fs.values), fs.used_values
    search = _Search(values, used, "gaussian", 0, rho_target=0.1)
    search.short.extend([7, 3])
    order = search.risk_order(5, used)
    assert order[:2].tolist() == [7, 3]
    assert sorted(order.tolist()) == used.tolist()
    W = values @ nested_projection(values, used, "gaussian", 0, 5)
    centred = np.linalg.norm(W[order[2:]] - W[used].mean(axis=0), axis=1)
    assert np.all(np.diff(centred) >= 0)


def test_an_interior_value_is_refused_naming_it():
    values = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [0.0, 0.0]])
    with pytest.raises(InfeasibleFactSetError, match=r"values \[4\]") as caught:
        choose_code_dim(values, np.arange(5), rho_target=1e-3)
    assert caught.value.values == (4,) and caught.value.keys == (4,)


def test_whitened_projection_with_few_used_values_falls_back_to_the_identity():
    # Whitening can build at most as many directions as the used values span (2 here); the
    # search must stop there and fall back to P = I instead of failing (a reviewer's case).
    values = np.random.default_rng(0).standard_normal((40, 12))
    decoder = choose_code_dim(values, [0, 1, 2], projection="whitened", rho_target=0.05)
    assert decoder.rho >= 0.05
    single = choose_code_dim(values, [5, 5], projection="whitened", rho_target=0.05)
    assert single.code_dim == 12 and single.rho > 0

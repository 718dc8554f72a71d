"""numerics.usability.lipschitz: Jacobians, the spectral bound against empirical estimates, normalised
margins, certified radii and noisy recall."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.embeddings.generators import make_factset
from numerics.factset import FactSet
from numerics.mlp import GatedMLP, GatedMLPWeights
from numerics.strict_recall import recall
from numerics.usability.lipschitz import (
    empirical_lipschitz,
    jacobians,
    noisy_recall,
    normalized_margins,
    spectral_bound,
    usability_report,
)
from theory.errors import InvalidInputError
from theory.lipschitz import noise_radius


def _random_mlp(seed, h=6, d=4, activation="silu", bias=False):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return GatedMLPWeights(
        r(h, d),
        r(h, d),
        r(d, h),
        activation=activation,
        gate_bias=r(h) if bias else None,
        up_bias=r(h) if bias else None,
    )


@pytest.fixture(scope="module")
def stored():
    """A constructed MLP that stores a small spherical fact set."""
    from numerics.construction.pipeline import ConstructionConfig, construct

    fs = make_factset("spherical", n_facts=48, dim=16, seed=2, tied=True)
    return construct(fs, ConstructionConfig(seed=0)).weights, fs


@pytest.mark.parametrize("activation", ["silu", "gelu", "relu", "identity"])
def test_jacobian_norms_match_autograd(activation):
    w = _random_mlp(1, activation=activation, bias=True)
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    expected = [
        torch.linalg.matrix_norm(torch.autograd.functional.jacobian(w.forward, xi), 2) for xi in x
    ]
    np.testing.assert_allclose(jacobians(w, x).numpy(), torch.stack(expected).numpy(), rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    activation=st.sampled_from(["silu", "gelu", "relu"]),
    bias=st.booleans(),
    radius=st.sampled_from([0.0, 0.05, 0.5, 2.0]),
)
def test_spectral_bound_dominates_both_empirical_estimates(seed, activation, bias, radius):
    w = _random_mlp(seed, activation=activation, bias=bias)
    centers = np.random.default_rng(seed).normal(size=(4, 4))
    bound = spectral_bound(w, centers, radius)
    jac, quotient = empirical_lipschitz(w, centers, radius, n_samples=8, seed=seed)
    assert np.all(jac <= bound * (1 + 1e-9))
    assert np.all(quotient <= bound * (1 + 1e-9))


def test_normalized_margins_against_brute_force(stored):
    w, fs = stored
    mu = normalized_margins(w, fs, value_chunk=7)  # several chunks
    y = w.forward(torch.from_numpy(np.array(fs.keys))).numpy()
    V = fs.values
    for i in range(fs.n_facts):
        f = fs.fact_map[i]
        others = [j for j in range(fs.n_values) if j != f]
        ratios = [(y[i] @ (V[f] - V[j])) / np.linalg.norm(V[f] - V[j]) for j in others]
        assert mu[i] == pytest.approx(min(ratios), rel=1e-9, abs=1e-12)
    assert (mu > 0).all() == (recall(GatedMLP(w), fs).accuracy == 1.0)


def test_noise_radius_is_a_real_guarantee(stored):
    w, fs = stored
    radius = 0.05
    bound = spectral_bound(w, fs.keys, radius)
    cert = noise_radius(normalized_margins(w, fs), bound, radius)
    rng = np.random.default_rng(0)
    V = torch.from_numpy(np.array(fs.values))
    for i in np.flatnonzero(cert > 0)[:16]:
        for _ in range(10):
            eps = rng.normal(size=fs.dim)
            x = fs.keys[i] + 0.999 * cert[i] * eps / np.linalg.norm(eps)
            logits = w.forward(torch.from_numpy(x[None])) @ V.T
            assert int(logits.argmax()) == fs.fact_map[i]


def test_noisy_recall_at_zero_noise_is_recall_and_large_noise_breaks_it(stored):
    w, fs = stored
    assert noisy_recall(w, fs, 0.0, n_samples=2) == recall(GatedMLP(w), fs).accuracy == 1.0
    assert noisy_recall(w, fs, 3.0, n_samples=2, seed=1) < 0.5
    assert noisy_recall(w, fs, 0.1, seed=4) == noisy_recall(w, fs, 0.1, seed=4)


def test_usability_report_fields(stored):
    w, fs = stored
    rep = usability_report(w, fs, noise_levels=(0.0, 0.2), n_samples=4, max_keys=16)
    d = rep.to_dict()
    assert (
        d["spectral_bound_median"]
        >= d["empirical_lipschitz_median"]
        >= d["jacobian_at_keys_median"] * 0.999
    )
    assert d["noisy_recall"]["0.0"] == 1.0 and 0 <= d["noisy_recall"]["0.2"] <= 1
    assert d["normalized_margin_min"] > 0


@pytest.mark.parametrize(
    "call",
    [
        lambda w, fs: spectral_bound(w, fs.keys, -1.0),
        lambda w, fs: empirical_lipschitz(w, fs.keys, 0.1, n_samples=0),
        lambda w, fs: empirical_lipschitz(w, np.zeros((2, 3)), 0.1),
        lambda w, fs: jacobians("not weights", fs.keys),
        lambda w, fs: jacobians(w, np.full((1, fs.dim), np.nan)),
        lambda w, fs: noisy_recall(w, fs, -0.1),
        lambda w, fs: normalized_margins(w, FactSet(np.eye(3), np.eye(3), [0, 1, 2])),
    ],
    ids=["radius", "samples", "dim", "weights", "nan", "noise", "factset-dim"],
)
def test_invalid_calls(stored, call):
    with pytest.raises(InvalidInputError):
        call(*stored)

"""Soundness of the precision certificate by brute force.

A numpy simulator evaluates the gated MLP and the logits in a format (float32, bfloat16,
float16 emulated by rounding exact float64 results to 24, 8 or 11 significand bits: double
rounding through float64 is innocuous for these widths) under many evaluations the
arithmetic model allows: inputs and weights rounded once, every dot product in a random
order (a random permutation per entry, summed sequentially, pairwise, in blocks, with FMA,
or exactly and rounded once), activations perturbed anywhere within their claimed error,
one rounding per product. Every simulated logit must lie within the certificate's bound of
the float64 reference, every margin within ``margin_error``, and every certified key must
decode. A bound computed with a smaller unit roundoff than the simulation's is violated,
which shows that the simulation reaches the bound's order.
"""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import torch
from scipy.special import erf

from numerics.mlp import GatedMLPWeights
from numerics.precision import certify_recall, logit_error_bounds
from numerics.precision.certificate import _certify
from theory.rounding import ACTIVATION_ERROR, FORMATS

BITS = {"float32": 24, "bfloat16": 8, "float16": 11}
MODES = ("sequential", "pairwise", "blocked", "fma", "wide")


def rounder(fmt: str):
    """Round float64 arrays to the format's significand (round half to even)."""
    p = BITS[fmt]

    def rnd(x):
        m, e = np.frexp(np.asarray(x, dtype=np.float64))
        return np.ldexp(np.rint(np.ldexp(m, p)), e - p)

    return rnd


def sim_dot(x, y, rnd, rng, mode):
    """Σ x_i y_i over the last axis, in the format, in a random order per entry."""
    x, y = np.broadcast_arrays(x, y)
    n = x.shape[-1]
    perm = rng.permuted(np.broadcast_to(np.arange(n), x.shape), axis=-1)
    x = np.take_along_axis(x, perm, -1)
    y = np.take_along_axis(y, perm, -1)
    if mode == "wide":  # a wide accumulator: (nearly) exact sum, one rounding
        return rnd(np.sum(x * y, axis=-1))
    if mode == "fma":  # fl(acc + x_i y_i), one rounding each
        acc = rnd(x[..., 0] * y[..., 0])
        for i in range(1, n):
            acc = rnd(acc + x[..., i] * y[..., i])
        return acc
    terms = rnd(x * y)
    if mode == "sequential":
        acc = terms[..., 0]
        for i in range(1, n):
            acc = rnd(acc + terms[..., i])
        return acc
    if mode == "pairwise":
        while terms.shape[-1] > 1:
            if terms.shape[-1] % 2:
                head = rnd(terms[..., :-1:2] + terms[..., 1::2])
                terms = np.concatenate([head, terms[..., -1:]], axis=-1)
            else:
                terms = rnd(terms[..., 0::2] + terms[..., 1::2])
        return terms[..., 0]
    block = int(rng.integers(2, 5))  # blocked: sequential blocks, then their sum
    sums = []
    for b in range(0, n, block):
        acc = terms[..., b]
        for i in range(b + 1, min(b + block, n)):
            acc = rnd(acc + terms[..., i])
        sums.append(acc)
    acc = sums[0]
    for s in sums[1:]:
        acc = rnd(acc + s)
    return acc


def sigma(name, x):
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "identity":
        return x
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def sim_activation(name, x, fmt, rnd, rng):
    """σ(x) in the format, perturbed anywhere within the claimed error (extremes included)."""
    k, kx = ACTIVATION_ERROR[name]
    exact = sigma(name, x)
    if k == 0 and kx == 0:
        return exact  # relu and identity are exact
    u = FORMATS[fmt].unit_roundoff
    # the final rounding takes ≤ u|σ|(1 + u): leave (k − 1.01) u |σ| for the perturbation
    allowance = (k - 1.01) * u * np.abs(exact) + kx * u * np.abs(x)
    t = rng.choice([-1.0, 1.0, 0.0], size=x.shape, p=[0.3, 0.3, 0.4])
    t = np.where(t == 0, rng.uniform(-1, 1, size=x.shape), t)
    return rnd(exact + t * allowance)


def simulate_logits(weights, keys, values, fmt, rng, mode):
    """Logits <g(k_i), v_j> computed in ``fmt`` under one random evaluation."""
    rnd = rounder(fmt)
    w = {k: None if v is None else rnd(v.numpy()) for k, v in weights._parts().items()}
    h = weights.hidden
    x = rnd(keys)
    one = np.ones((x.shape[0], 1))

    def linear(inp, mat, bias):
        if bias is None:
            return sim_dot(inp[:, None, :], mat[None], rnd, rng, mode)
        inp = np.concatenate([inp, one], axis=1)
        mat = np.concatenate([mat, bias[:, None]], axis=1)
        return sim_dot(inp[:, None, :], mat[None], rnd, rng, mode)

    z = linear(x, w["gate"], w["gate_bias"])
    a = linear(x, w["up"], w["up_bias"])
    assert z.shape == (x.shape[0], h)
    p = rnd(sim_activation(weights.activation, z, fmt, rnd, rng) * a)
    g = linear(p, w["down"], w["down_bias"])
    return sim_dot(g[:, None, :], rnd(values)[None], rnd, rng, mode)


def margins_of(logits, fact_map):
    rows = np.arange(len(fact_map))
    true = logits[rows, fact_map]
    other = logits.copy()
    other[rows, fact_map] = -np.inf
    return true - other.max(axis=1)


def random_problem(seed, activation, *, biases, n_facts=40, n_values=12, dim=4, hidden=6):
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)

    def t(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    weights = GatedMLPWeights(
        t(hidden, dim),
        t(hidden, dim),
        t(dim, hidden, scale=0.5),
        activation=activation,
        gate_bias=t(hidden) if biases else None,
        up_bias=t(hidden) if biases else None,
        down_bias=t(dim) if biases else None,
    )
    keys = rng.standard_normal((n_facts, dim))
    values = rng.standard_normal((n_values, dim))
    fact_map = rng.integers(0, n_values, n_facts)
    return weights, types.SimpleNamespace(keys=keys, values=values, fact_map=fact_map)


def stored_problem(seed, activation):
    """A small MLP that stores its facts with a margin: g(k) = 4 k on orthogonal-ish keys."""
    rng = np.random.default_rng(seed)
    dim, n = 4, 4
    values = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    keys = values + 0.05 * rng.standard_normal((n, dim))
    eye = torch.eye(dim, dtype=torch.float64)
    weights = GatedMLPWeights(
        eye * 0.0,
        2 * eye,
        2 * eye,
        activation=activation,
        gate_bias=torch.full((dim,), 3.0, dtype=torch.float64),
    )
    return weights, types.SimpleNamespace(keys=keys, values=values, fact_map=np.arange(n))


def check_sound(weights, facts, fmt, seed, trials=3):
    logits64, e64, e, overflow = logit_error_bounds(weights, facts, FORMATS[fmt])
    cert = certify_recall(weights, facts, fmt, observe=False)
    assert not overflow.any()
    rows = np.arange(len(facts.fact_map))
    tol64 = e64[rows, facts.fact_map] + e64.max(axis=1)
    worst = 0.0
    rng = np.random.default_rng(seed)
    for mode in MODES:
        for _ in range(trials):
            sim = simulate_logits(weights, facts.keys, facts.values, fmt, rng, mode)
            excess = np.abs(sim - logits64) / (e + e64)
            assert excess.max() <= 1.0, (mode, excess.max())
            worst = max(worst, float(excess.max()))
            m = margins_of(sim, facts.fact_map)
            assert (np.abs(m - cert.margins_float64) <= cert.margin_error + tol64).all(), mode
            assert (m[cert.certified] > 0).all(), mode
    return worst, cert


@pytest.mark.parametrize("activation", ["silu", "gelu", "relu", "identity"])
@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float16"])
def test_random_mlps_never_exceed_the_bound(activation, fmt):
    for seed, biases in ((0, False), (1, True)):
        weights, facts = random_problem(seed, activation, biases=biases)
        check_sound(weights, facts, fmt, seed)


@pytest.mark.parametrize("activation", ["silu", "gelu", "relu"])
@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float16"])
def test_certified_keys_decode_under_every_simulated_evaluation(activation, fmt):
    weights, facts = stored_problem(3, activation)
    _, cert = check_sound(weights, facts, fmt, 3, trials=6)
    assert cert.certified.all(), (fmt, activation, cert.ratio)


def adversarial_problem():
    """Positive data a hair below a rounding midpoint: every input rounds the same way by
    almost u, so the simulated errors add up coherently."""
    rng = np.random.default_rng(5)
    rnd = rounder("bfloat16")
    u = FORMATS["bfloat16"].unit_roundoff

    def near_midpoint(shape):
        base = rnd(rng.uniform(1.0, 2.0, size=shape))
        return base * (1 + 0.98 * u)  # rounds down to base, by ~u relative

    dim, hidden = 2, 2
    weights = GatedMLPWeights(
        *(torch.tensor(near_midpoint(s)) for s in ((hidden, dim), (hidden, dim), (dim, hidden))),
        activation="identity",
    )
    facts = types.SimpleNamespace(
        keys=near_midpoint((8, dim)), values=near_midpoint((3, dim)), fact_map=np.arange(8) % 3
    )
    return weights, facts


def test_the_simulation_reaches_the_order_of_the_bound():
    weights, facts = adversarial_problem()
    worst, _ = check_sound(weights, facts, "bfloat16", 5)
    assert worst > 0.15  # the bound is not vacuous slack: the simulation gets within 7×
    # ... and a bound for a 16× smaller unit roundoff is violated by the same simulations.
    fmt = dataclasses.replace(FORMATS["bfloat16"], unit_roundoff=2.0**-12, input_roundoff=2.0**-12)
    logits64, e64, e, _ = logit_error_bounds(weights, facts, fmt)
    rng = np.random.default_rng(0)
    sim = simulate_logits(weights, facts.keys, facts.values, "bfloat16", rng, "sequential")
    assert (np.abs(sim - logits64) > e + e64).any()


def test_a_smaller_unit_roundoff_gives_smaller_bounds_and_more_certificates():
    weights, facts = random_problem(2, "silu", biases=True)
    base = FORMATS["bfloat16"]
    certs = [
        _certify(
            weights,
            facts,
            dataclasses.replace(base, unit_roundoff=u, input_roundoff=u),
            "cpu",
            False,
            None,
            2**20,
        )
        for u in (2.0**-20, 2.0**-14, 2.0**-8)
    ]
    for small, large in zip(certs, certs[1:], strict=False):
        assert (small.margin_error <= large.margin_error).all()
        assert (large.certified <= small.certified).all()
        assert (small.margin_error >= 0).all()


def check_pairs_sound(weights, facts, fmt, seed, trials=2):
    """Simulated differences <ĝ, v̂_f(i)> − <ĝ, v̂_j> stay within the refined pair bound."""
    logits64, e64, pair, _ = logit_error_bounds(weights, facts, FORMATS[fmt], pairs=True)
    rows = np.arange(len(facts.fact_map))
    true64 = logits64[rows, facts.fact_map][:, None]
    tol = pair + e64 + e64[rows, facts.fact_map][:, None]
    assert (pair >= 0).all()
    rng = np.random.default_rng(seed)
    worst = 0.0
    for mode in MODES:
        for _ in range(trials):
            sim = simulate_logits(weights, facts.keys, facts.values, fmt, rng, mode)
            sim_diff = sim[rows, facts.fact_map][:, None] - sim
            excess = np.abs(sim_diff - (true64 - logits64)) / np.where(tol > 0, tol, np.inf)
            assert excess.max() <= 1.0, (mode, excess.max())
            worst = max(worst, float(excess.max()))
    return worst


@pytest.mark.parametrize("activation", ["silu", "gelu", "relu"])
@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float16"])
def test_the_refined_pair_bound_holds_on_random_mlps(activation, fmt):
    weights, facts = random_problem(4, activation, biases=True)
    assert check_pairs_sound(weights, facts, fmt, 4) > 0.01


@pytest.fixture(scope="module")
def float16_refined():
    """A constructed MLP whose float16 certificate needs the refinement for some keys."""
    from numerics.construction.pipeline import ConstructionConfig, construct
    from numerics.embeddings.generators import make_factset

    factset = make_factset("spherical", n_facts=16, dim=8, seed=0, tied=True)
    return construct(factset, ConstructionConfig(seed=0)).weights, factset


def test_refined_keys_decode_under_every_simulated_evaluation(float16_refined):
    weights, factset = float16_refined
    facts = types.SimpleNamespace(
        keys=factset.keys, values=factset.values, fact_map=factset.fact_map
    )
    _, cert = check_sound(weights, facts, "float16", 7, trials=4)
    assert cert.refined.any() and not cert.certified.all()
    assert (cert.refined_ratio[cert.refined] > 1).all()
    check_pairs_sound(weights, facts, "float16", 7)
    plain = certify_recall(weights, factset, "float16", observe=False, refine_pairs=0)
    assert np.array_equal(plain.certified, cert.certified & ~cert.refined)
    assert plain.worst_refined_ratio is None


def shared_problem(seed, activation):
    """A random MLP laid out as the construction's: each gate row (and bias) repeated for 3
    groups, each down column repeated 4 times (a code direction per group of neurons)."""
    weights, facts = random_problem(seed, activation, biases=True, hidden=12)
    gen = torch.Generator().manual_seed(seed)
    gate, gate_bias = torch.randn(4, 4, generator=gen, dtype=torch.float64), torch.randn(4)
    down = 0.5 * torch.randn(4, 3, generator=gen, dtype=torch.float64)
    shared = dataclasses.replace(
        weights,
        gate=gate.repeat(3, 1),
        gate_bias=gate_bias.to(torch.float64).repeat(3),
        down=down.repeat_interleave(4, dim=1),
    )
    return shared, facts


@pytest.mark.parametrize("activation", ["silu", "gelu", "relu"])
@pytest.mark.parametrize("fmt", ["float32", "bfloat16"])
def test_shared_gate_rows_and_down_columns_keep_the_bounds_sound(activation, fmt):
    weights, facts = shared_problem(6, activation)
    check_sound(weights, facts, fmt, 6)
    assert check_pairs_sound(weights, facts, fmt, 6) > 0.01


@pytest.mark.parametrize("pairs", [False, True])
def test_grouping_equal_rows_and_columns_gives_the_same_bounds(pairs):
    weights, facts = shared_problem(8, "silu")
    fmt = FORMATS["float32"]
    grouped = logit_error_bounds(weights, facts, fmt, pairs=pairs)
    plain = logit_error_bounds(weights, facts, fmt, pairs=pairs, group=False)
    for a, b in zip(grouped[:3], plain[:3], strict=True):
        # another float64 evaluation order: a logit near 0 differs by its rounding only
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14 * np.abs(b).max())
    assert np.array_equal(grouped[3], plain[3])
    # ... and grouping changes nothing for an MLP whose rows and columns are all distinct
    weights, facts = random_problem(8, "silu", biases=True)
    for a, b in zip(
        logit_error_bounds(weights, facts, fmt, pairs=pairs),
        logit_error_bounds(weights, facts, fmt, pairs=pairs, group=False),
        strict=True,
    ):
        assert np.array_equal(a, b)


def test_relu_neurons_that_are_provably_off_do_not_lengthen_the_sums():
    """A ReLU neuron whose gate input is provably negative contributes exact zeros. With
    three neurons always off and five always on, the bounds equal those of the five on
    neurons alone with the identity gate (the same function on these keys, computed without
    the zero count), up to the λ-level terms that keep every input; and the simulated
    evaluations stay within them."""
    weights, facts = random_problem(9, "relu", biases=True, hidden=8)
    reach = 1.5 * float(np.abs(facts.keys @ weights.gate.numpy().T).max())
    gate_bias = torch.full((8,), reach, dtype=torch.float64)
    gate_bias[:3] = -reach  # |gate·k| < reach: off for every key, the others on
    full = dataclasses.replace(weights, gate_bias=gate_bias)
    keep = slice(3, None)
    on_only = dataclasses.replace(
        full,
        gate=full.gate[keep],
        up=full.up[keep],
        down=full.down[:, keep],
        gate_bias=gate_bias[keep],
        up_bias=full.up_bias[keep],
        activation="identity",
    )
    fmt = FORMATS["float32"]
    for pairs in (False, True):
        with_off = logit_error_bounds(full, facts, fmt, pairs=pairs)
        without = logit_error_bounds(on_only, facts, fmt, pairs=pairs)
        for a, b in zip(with_off[:3], without[:3], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-30)
    check_sound(full, facts, "float32", 9)
    check_pairs_sound(full, facts, "float32", 9)

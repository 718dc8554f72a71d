"""Batched separators and ρ in torch (numerics.construction.separators_torch) against theory.rho."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
import torch

import numerics.construction.separators_torch as batched
import theory.min_norm_point as min_norm_point
import theory.rho as rho
from numerics.construction.separators_torch import (
    batched_decodability,
    build_decoder_batched,
    decoder_decodability,
)
from numerics.embeddings.generators import sample_embeddings
from theory.decoder import build_decoder
from theory.errors import InvalidInputError
from theory.hull_exact import HullCertificate
from theory.rho import decodability, separation_margin, verify_certificate
from theory.rounding import COMPARISON_SLACK


@pytest.fixture
def small_working_sets(monkeypatch):
    """Few first candidates and few added per round, so that small sets go through several
    cutting-plane rounds (with the defaults they would hold every competitor at once)."""
    monkeypatch.setattr(batched, "CANDIDATES", 4)
    monkeypatch.setattr(batched, "ADD_PER_ROUND", 2)


def _values(kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.standard_normal((80, 5))
    if kind == "spiked":
        return sample_embeddings("spiked", 80, 6, rng, beta=8.0)
    # near the hull: spherical points, a few pulled inwards until some are inside the hull
    # of the others and some are vertices with a small margin
    values = sample_embeddings("spherical", 60, 3, rng)
    values[:12] *= np.linspace(0.9, 0.999, 12)[:, None]
    return values


@pytest.mark.parametrize("kind", ["random", "spiked", "near_hull"])
@pytest.mark.parametrize("seed", [0, 1])
def test_bounds_agree_with_theory_and_reverify(small_working_sets, kind, seed):
    values = _values(kind, seed)
    ours = batched_decodability(values)
    exact = decodability(values)
    methods = [c.method for c in ours.certificates]
    assert methods.count("batched") >= len(methods) // 2, "the batched path barely ran"
    for mine, theirs in zip(ours.certificates, exact.certificates, strict=True):
        assert mine.index == theirs.index
        assert mine.undecodable == theirs.undecodable
        # both certificates bracket the same ρ_i
        assert mine.lower <= theirs.upper + 1e-12 and theirs.lower <= mine.upper + 1e-12
        lower, upper = verify_certificate(values, mine)
        assert abs(lower - mine.lower) <= 1e-12 and abs(upper - mine.upper) <= 1e-12
        if mine.method == "batched":
            assert mine.status == "optimal" and mine.gap <= 1e-9
            assert np.linalg.norm(mine.u_star) == pytest.approx(1.0, abs=1e-14)
    assert np.array_equal(ours.undecodable, exact.undecodable)
    np.testing.assert_allclose(ours.rho_per_value, exact.rho_per_value, atol=1e-9)


def test_the_margin_is_over_every_competitor_not_only_the_candidates(small_working_sets):
    """With 4 first candidates most binding competitors start outside the working set: the
    screen must bring them in, so the margin is the minimum over all M − 1 of them."""
    values = sample_embeddings("spherical", 400, 4, np.random.default_rng(3))
    result = batched_decodability(values, indices=np.arange(40))
    for cert in result.certificates:
        assert cert.method == "batched"
        assert cert.lower == pytest.approx(
            separation_margin(values, cert.index, cert.u_star), abs=1e-14
        )


def test_later_rounds_bound_the_unlisted_competitors_by_the_drift(monkeypatch):
    """After a full screen only the shortlist is re-checked: every other margin is bounded by
    its screened bound less ‖u − u_screened‖. Without that drift the rounds would certify
    margins that the competitors outside the shortlist do not have."""
    monkeypatch.setattr(batched, "CANDIDATES", 2)
    monkeypatch.setattr(batched, "ADD_PER_ROUND", 1)
    monkeypatch.setattr(batched, "SHORTLIST", 2)
    values = sample_embeddings("spherical", 300, 4, np.random.default_rng(3))

    def overshoot():
        result = batched_decodability(values, indices=np.arange(60))
        assert all(c.method == "batched" for c in result.certificates)
        return max(
            c.lower - separation_margin(values, c.index, c.u_star) for c in result.certificates
        )

    assert overshoot() <= 1e-14
    monkeypatch.setattr(batched, "_drift", lambda u, seen: torch.zeros(u.shape[0], dtype=u.dtype))
    assert overshoot() > 1e-3


def test_a_value_inside_the_hull_is_undecodable_with_exact_convex_weights():
    values = sample_embeddings("spherical", 30, 3, np.random.default_rng(4))  # all vertices
    values[7] = 0.25 * values[1] + 0.25 * values[2] + 0.5 * values[3]  # inside
    values[11] = values[12]  # a duplicate pair
    result = batched_decodability(values)
    assert result.undecodable.tolist() == [7, 11, 12]
    for i in (7, 11, 12):
        cert = result.certificates[i]
        assert cert.rho == 0.0 and isinstance(cert.exact, HullCertificate)
        assert all(w >= 0 for w in cert.exact.weights) and sum(cert.exact.weights) == Fraction(1)
        verify_certificate(values, cert)  # re-checks the exact weights in rationals
    assert all(
        c.method == "batched" for j, c in enumerate(result.certificates) if j not in (7, 11, 12)
    )


def test_same_seed_same_result(small_working_sets):
    values = _values("random", 5)
    first, second = batched_decodability(values), batched_decodability(values)
    assert np.array_equal(first.rho_per_value, second.rho_per_value)
    assert np.array_equal(first.u_star, second.u_star)
    for a, b in zip(first.certificates, second.certificates, strict=True):
        assert np.array_equal(a.support, b.support) and np.array_equal(a.weights, b.weights)


def _exact_margins(values, i, u):
    """``<v_i − v_j, u>/‖v_i − v_j‖`` in exact rationals, squared with its sign (no sqrt)."""
    out = []
    vi, uu = [Fraction(x) for x in values[i]], [Fraction(x) for x in u]
    for j in range(values.shape[0]):
        if j == i:
            out.append(None)
            continue
        diff = [a - Fraction(b) for a, b in zip(vi, values[j], strict=True)]
        num = sum(a * b for a, b in zip(diff, uu, strict=True))
        out.append((num, sum(a * a for a in diff)))
    return out


def _violations_of(bounds, exact):
    """Positive bounds above the exact margin (``b > num/√den``); a bound ≤ 0 only ranks."""
    bad = 0
    for b, pair in zip(bounds, exact, strict=True):
        if pair is None or not b > 0:
            continue
        if b == np.inf:
            bad += 1
            continue
        num, den = pair
        b = Fraction(float(b))
        bad += num <= 0 or b * b * den > num * num  # b > num/√den
    return bad


def _near_duplicates(seed: int):
    """Values in tight pairs (differences about 1e-9 of their norm), where the Gram form
    cancels: its rounding is of the order of the margins themselves."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((6, 4))
    values = np.repeat(base, 4, axis=0) + 1e-9 * rng.standard_normal((24, 4))
    u = rng.standard_normal(4)
    return values, u / np.linalg.norm(u)


def test_screen_bounds_are_below_the_exact_margins_and_need_their_allowance():
    values, u = _near_duplicates(6)
    screen = batched._Screen(torch.as_tensor(values))
    rows = torch.arange(values.shape[0])
    U = torch.as_tensor(np.tile(u, (values.shape[0], 1)))
    bounds = screen._lower_bounds(rows, U).numpy()
    assert all(_violations_of(bounds[i], _exact_margins(values, i, u)) == 0 for i in range(24))
    # the same products without the rounding allowance overshoot the exact margins
    screen.k, screen.tiny = 0.0, 0.0
    loose = screen._lower_bounds(rows, U).numpy()
    assert sum(_violations_of(loose[i], _exact_margins(values, i, u)) for i in range(24)) > 0


def test_acceptance_is_theory_min_norm_point_acceptance():
    assert batched.GAP_ACCEPT == rho._GAP_ACCEPT
    assert batched.GAP_FLOOR_ULPS == rho._GAP_FLOOR_ULPS
    assert batched.GAP_TARGET == min_norm_point._GAP_TARGET


def test_a_value_that_does_not_converge_falls_back_to_theory(monkeypatch):
    values = _values("random", 7)
    monkeypatch.setattr(batched, "MAX_ROUNDS", 0)  # no round completes: all to theory
    result = batched_decodability(values, indices=[3, 5])
    assert [c.method for c in result.certificates] == ["mnp", "mnp"]
    monkeypatch.setattr(batched, "MAX_ROUNDS", 16)
    monkeypatch.setattr(batched, "GAP_ACCEPT", -1.0)  # no gap is good enough
    monkeypatch.setattr(batched, "GAP_FLOOR_ULPS", 0)
    result = batched_decodability(values, indices=[3, 5])
    assert [c.method for c in result.certificates] == ["mnp", "mnp"]


@pytest.mark.parametrize("threads, reached", [(1, 32), (2, 32 + 64)])
def test_stop_below_stops_after_the_wave_holding_a_low_value(threads, reached):
    values = sample_embeddings("spherical", 120, 3, np.random.default_rng(8))
    values[:12] *= np.linspace(0.9, 0.999, 12)[:, None]  # some inside the hull, margins small
    full = decodability(values)
    low = int(np.argmin(full.rho_per_value))
    order = [low] + [i for i in range(values.shape[0]) if i != low]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)  # one batch per thread in a wave: 32, then 64 values
        result = batched_decodability(
            values, indices=order, stop_below=full.rho_per_value[low] + 1e-6
        )
    finally:
        torch.set_num_threads(before)
    assert len(result.certificates) == reached  # the first wave only
    assert np.isnan(result.rho_per_value).sum() == values.shape[0] - reached
    solved = np.isfinite(result.rho_per_value)
    np.testing.assert_allclose(result.rho_per_value[solved], full.rho_per_value[solved], atol=1e-9)


def test_decoder_matches_theory_decoder(monkeypatch):
    values = sample_embeddings("spherical", 300, 16, np.random.default_rng(9))
    fact_map = np.random.default_rng(10).permutation(300)[:200]
    projection = np.random.default_rng(11).standard_normal((16, 6)) / np.sqrt(6)
    monkeypatch.setattr(batched, "BATCHED_MIN_VALUES", 100)
    ours = build_decoder_batched(values, fact_map, projection)
    theirs = build_decoder(values, fact_map, projection)
    assert np.array_equal(ours.used, theirs.used)
    np.testing.assert_allclose(ours.rho_projected, theirs.rho_projected, atol=1e-10)
    np.testing.assert_allclose(ours.codes, theirs.codes, atol=1e-6)
    # below the threshold it is theory's decoder, bit for bit
    monkeypatch.setattr(batched, "BATCHED_MIN_VALUES", 301)
    small = build_decoder_batched(values, fact_map, projection)
    assert np.array_equal(small.codes, theirs.codes)
    assert decoder_decodability(values, [0, 1]).method == "mnp"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: batched_decodability(np.eye(3), device="no-such-device"), "device"),
        (lambda: batched_decodability(np.eye(3), tol=2.0), "tol must be"),
        (lambda: batched_decodability([[np.nan, 0.0]]), "finite"),
        (lambda: batched_decodability(np.eye(3), indices=[5]), "indices"),
    ],
)
def test_invalid_calls_raise(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    values = _values("spiked", 12)
    cpu = batched_decodability(values)
    gpu = batched_decodability(values, device="cuda")
    np.testing.assert_allclose(gpu.rho_per_value, cpu.rho_per_value, atol=1e-12)
    for cert in gpu.certificates:
        lower, upper = verify_certificate(values, cert)
        assert abs(lower - cert.lower) <= 1e-12 and abs(upper - cert.upper) <= 1e-12


def test_a_perturbed_certificate_is_refused_or_no_longer_reproduced():
    values = _values("random", 13)
    cert = batched_decodability(values, indices=[4], device="cpu").certificates[0]
    assert cert.method == "batched"
    low, high = verify_certificate(values, cert)
    assert low == pytest.approx(cert.lower, abs=1e-15) and 0 < low <= high
    longer = dataclasses.replace(cert, u_star=cert.u_star * (1 + 1e-6))
    with pytest.raises(InvalidInputError, match="norm"):
        verify_certificate(values, longer)  # ‖u*‖ > 1 proves nothing
    weights = cert.weights.copy()
    weights[0] += 1e-6
    with pytest.raises(InvalidInputError, match="convex"):
        verify_certificate(values, dataclasses.replace(cert, weights=weights))
    # a turned separator no longer reproduces the claimed lower bound
    turn = np.random.default_rng(14).standard_normal(cert.u_star.size)
    turned = cert.u_star + 1e-3 * turn
    turned = dataclasses.replace(cert, u_star=turned / np.linalg.norm(turned))
    assert verify_certificate(values, turned)[0] < cert.lower
    # and the weights moved to other points of the corral no longer reproduce the upper bound
    moved = dataclasses.replace(cert, support=np.roll(cert.support, 1))
    assert verify_certificate(values, moved)[1] != pytest.approx(cert.upper, abs=1e-12)


def test_cpu_device_keeps_the_caller_thread_count():
    threads = torch.get_num_threads()
    values = _values("spiked", 15)
    ours = batched_decodability(values, indices=range(10), device=torch.device("cpu"))
    theirs = decodability(values, indices=range(10))
    assert torch.get_num_threads() == threads
    np.testing.assert_allclose(ours.rho_per_value[:10], theirs.rho_per_value[:10], atol=1e-10)


def test_batches_in_parallel_give_the_result_of_one_at_a_time(monkeypatch):
    monkeypatch.setattr(batched, "MAX_BATCH", 16)  # 80 values: 5 batches
    values = _values("near_hull", 16)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = batched_decodability(values)
        torch.set_num_threads(2)
        pooled = batched_decodability(values)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(alone.rho_per_value, pooled.rho_per_value)
    for a, b in zip(alone.certificates, pooled.certificates, strict=True):
        assert a.index == b.index and np.array_equal(a.u_star, b.u_star)


@pytest.mark.parametrize("length", [199, 3])
def test_shortlist_rest_bounds_every_unlisted_margin(length):
    """The cut (every row's list fits: ``length`` 199) or the next bound (``length`` 3: the
    lists overflow) is below the exact margin of every competitor left off the list."""
    values = sample_embeddings("spherical", 200, 4, np.random.default_rng(5))
    screen = batched._Screen(torch.as_tensor(values))
    rows = torch.arange(12)
    U = torch.as_tensor(np.random.default_rng(6).standard_normal((12, 4)))
    U /= torch.linalg.vector_norm(U, dim=1, keepdim=True)
    none = torch.zeros((12, 1), dtype=torch.long)
    cut = torch.full((12,), 0.2, dtype=torch.float64)
    index, listed, rest = screen.shortlist(rows, U, none, none.bool(), length, cut)
    fits = 0
    for r in range(12):
        kept = set(index[r][listed[r]].tolist())
        assert len(kept) == int(listed[r].sum()) <= length
        fits += bool(rest[r] == 0.2 * (1 - COMPARISON_SLACK))
        if not rest[r] > -np.inf:  # a next bound ≤ 0 bounds nothing: every check is exact
            continue
        exact = _exact_margins(values, r, U[r].numpy())
        bound = Fraction(float(rest[r]))
        for j, pair in enumerate(exact):
            if pair is None or j in kept:
                continue
            num, den = pair
            assert num > 0 and num * num >= bound * bound * den  # margin ≥ rest > 0
    assert fits == 12 if length == 199 else fits < 12

"""``maxmargin``: certified alternating convex margin solves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.embeddings import make_factset
from numerics.factset import FactSet
from numerics.methods import capacity, get_method
from numerics.methods.maxmargin import MaxMarginMethod
from numerics.mlp import GatedMLP
from numerics.strict_recall import recall
from theory.errors import InvalidInputError


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # The block solves are many small L-BFGS steps: one thread is faster on a shared CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small():
    return make_factset("spherical", n_facts=64, dim=12, seed=0, tied=True)


@pytest.fixture(scope="module")
def small_build(small):
    return MaxMarginMethod().build(small, 10, seed=0)


def test_registered():
    assert isinstance(get_method("maxmargin"), MaxMarginMethod)


def test_same_seed_same_weights():
    fs = make_factset("spherical", n_facts=16, dim=8, seed=1, tied=True)
    method = MaxMarginMethod(rounds=1)
    a = method.build(fs, 4, seed=3).weights
    b = method.build(fs, 4, seed=3).weights
    for name in ("gate", "up", "down", "gate_bias", "up_bias"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    c = method.build(fs, 4, seed=4).weights
    assert not torch.equal(a.gate, c.gate)


def test_stores_every_fact_well_below_encdec(small, small_build):
    # encdec needs ≈ 46 params/fact on tied spherical sets (h ≈ 80 here); this is 10.
    built = small_build
    assert built.hidden == 10 and built.weights.dtype == torch.float64
    for dtype in (torch.float32, torch.float64):
        mlp = GatedMLP(built.weights.to(dtype=dtype))
        assert recall(mlp, small, dtype=dtype).accuracy == 1.0
    assert built.params / small.n_facts < 10


def test_every_logged_certificate_passes(small_build):
    solves = small_build.info["solves"]
    assert solves and small_build.info["certificates_passed"]
    for solve in solves:
        cert = solve["certificate"]
        assert cert["passed"] and cert["rel_gap_bound"] <= cert["rtol"]
        assert solve["block"] in {"ridge_down", "up", "down", "gate"}
    assert small_build.info["rounds_run"] <= MaxMarginMethod().rounds


def test_farkas_certificate_on_contradictory_facts():
    # Three unit values at 120° in the plane, each key mapped to its own value. With one
    # neuron and no down bias every output lies on the line through D: it meets at most two
    # Voronoi cells, so no up projection stores all three facts.
    angles = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
    values = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    fs = FactSet(keys=values.copy(), values=values, fact_map=np.array([0, 1, 2]))
    built = MaxMarginMethod(rounds=2).build(fs, 1, seed=0)
    assert built.info["recall_float32"] < 1.0
    farkas = built.info["farkas"]
    assert farkas["attempted"] and not farkas["lp_feasible"]
    assert farkas["certificate"]["passed"]
    assert min(farkas["y"]) >= 0 and farkas["certificate"]["sum_y"] > 0


def test_capacity_search_runs():
    fs = make_factset("spherical", n_facts=16, dim=8, seed=0, tied=True)
    result = capacity(fs, "maxmargin")
    assert result.reached and result.verified
    assert result.params_per_fact < 3 * 8 + 1  # below lookup (one neuron per key)
    assert result.build.info["certificates_passed"]


def test_an_affine_change_of_keys_and_a_scale_of_values_give_the_same_mlp(small):
    # Solves run on standardised keys and values, so a set whose keys share a large offset
    # and have norms ≫ 1 (as real embeddings do) is the same problem; the weights returned
    # act on the raw keys. One round: later rounds re-read ReLU patterns, where rounding
    # differences of the two inputs can flip a neuron at a key; within a round the inexact
    # Newton–CG solves (to ‖∇J‖²/(2λ) ≤ 1e-3·J) pass them on at about 1e-6 of the logits.
    rng = np.random.default_rng(3)
    offset = 20.0 * rng.normal(size=small.dim)
    moved = FactSet(7.0 * small.keys + offset, 0.05 * small.values, small.fact_map)
    method = MaxMarginMethod(rounds=1)
    built, reference = method.build(moved, 10, seed=0), method.build(small, 10, seed=0)
    want = GatedMLP(reference.weights)(torch.tensor(small.keys))
    got = GatedMLP(built.weights)(torch.tensor(moved.keys))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-4 * want.abs().max())
    # Raw coordinates would not do: without the fold the same weights miss the moved keys.
    assert not torch.allclose(GatedMLP(reference.weights)(torch.tensor(moved.keys)), want)


@given(
    start=st.floats(0.0, 0.9),
    rate=st.floats(0.0, 0.1),
    done=st.integers(0, 29),
)
def test_the_stall_rule_never_stops_a_build_on_course_to_store_every_fact(start, rate, done):
    # Recall rising linearly at `rate` reaches 1 by round 30 when start + rate·(30 − done')
    # ≥ 1 from any round on; the rule extrapolates at twice the rate, so it never stops such
    # a build, and it never looks before round stall_after.
    method = MaxMarginMethod()
    trajectory = [min(1.0, start + rate * r) for r in range(done + 1)]
    reason = method._stalled(trajectory)
    if done < method.stall_after:
        assert reason is None
    if trajectory[-1] + rate * (method.rounds - done) >= 1.0:
        assert reason is None


def test_the_stall_rule_stops_a_flat_build_and_says_why():
    method = MaxMarginMethod()
    assert method._stalled([0.2] * method.stall_after) is None  # round stall_after not done
    reason = method._stalled([0.2] * (method.stall_after + 1))
    assert reason is not None and "stalled" in reason and "0.2" in reason


def test_a_build_far_below_capacity_stops_at_the_stall_round(small):
    # 64 facts in d = 12 need ≈ 10 neurons; 3 cannot come near, and the build says so at
    # round stall_after instead of running all 30 rounds.
    method = MaxMarginMethod(patience=30)
    built = method.build(small, 3, seed=0)
    info = built.info
    assert info["recall_float32"] < 0.5
    assert info["rounds_run"] == method.stall_after
    assert info["stopped"].startswith("stalled")
    assert len(info["recall_by_round"]) == method.stall_after + 1  # rounds 0 … stall_after


def test_bad_configuration():
    with pytest.raises(InvalidInputError):
        MaxMarginMethod(activation="tanh")
    with pytest.raises(InvalidInputError):
        MaxMarginMethod(activation="silu", gate_solves=True)
    with pytest.raises(InvalidInputError):
        MaxMarginMethod(lam=0.0)
    for step in (1.0, 0.5, float("nan")):
        with pytest.raises(InvalidInputError, match="bracket_step"):
            MaxMarginMethod(bracket_step=step)

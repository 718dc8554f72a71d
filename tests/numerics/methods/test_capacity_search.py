"""The capacity search: bracketing, bisection to the relative precision, re-verification with
an independent draw and the walk up when it fails, "not reached", infeasible sets, invalid
calls.

The search logic is tested on a scripted method whose success at each (width, seed) is
chosen by the test: it returns an MLP that stores the fact set (g(x) = x on the standard
basis) or one that stores nothing (g = 0, every logit ties), so recall is exactly 1 or 0.
Real methods are then run on small sets.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.embeddings.generators import make_factset
from numerics.factset import FactSet
from numerics.methods import (
    BuildResult,
    GDMethod,
    NeedsAcceleratorError,
    WidthTooSmallError,
    get_method,
)
from numerics.methods.capacity_search import CapacityResult, capacity
from numerics.mlp import GatedMLP, GatedMLPWeights
from numerics.strict_recall import recall
from theory.errors import InfeasibleFactSetError, InvalidInputError, SolverError

BASIS = FactSet(np.eye(4), np.eye(4), np.arange(4))


@dataclass(frozen=True)
class Scripted:
    """Succeeds at (hidden, seed) iff ``works(hidden, seed)``; may raise below ``floor``."""

    works: Callable[[int, int], bool]
    start: int = 8
    top: int = 1000
    floor: int = 0
    floor_error: type = WidthTooSmallError
    name: str = "scripted"
    bracket_step: float = 2.0

    def initial_hidden(self, factset):
        return self.start

    def default_max_hidden(self, factset):
        return self.top

    def build(self, factset, hidden, *, seed=0, device="cpu"):
        if hidden < self.floor:
            raise self.floor_error(f"below floor {self.floor}")
        scale = 1.0 if self.works(hidden, seed) else 0.0
        eye = torch.eye(4, dtype=torch.float64)
        weights = GatedMLPWeights(
            eye,
            eye,
            scale * eye,
            activation="identity",
            gate_bias=torch.ones(4, dtype=torch.float64),
        )
        return BuildResult(
            weights=weights,
            method=self.name,
            hidden=4,
            info={"requested_hidden": hidden, "seed": seed},
        )


def _largest_failure_below(result: CapacityResult) -> int:
    """Largest width below the result that failed, for the seed or the re-check seed (a walk
    up after a failed re-check steps by at most the precision)."""
    tried = result.trials + result.verify_trials
    return max((h for h, r in tried if r < 1.0 and h < result.searched_hidden), default=0)


@settings(max_examples=60, deadline=None)
@given(
    threshold=st.integers(1, 600), start=st.integers(1, 700), rel=st.sampled_from([0.05, 0.1, 0.3])
)
def test_monotone_search_lands_within_the_precision(threshold, start, rel):
    result = capacity(BASIS, Scripted(lambda h, s: h >= threshold, start=start), rel_precision=rel)
    hi = result.searched_hidden
    assert result.reached and result.verified and result.recall == 1.0
    assert threshold <= hi < threshold + max(1.0, rel * hi)
    assert (hi, 1.0) in result.trials and (hi, 1.0) in result.verify_trials
    lo = _largest_failure_below(result)
    assert hi - lo <= max(1.0, rel * hi)  # a width below by more than that failed
    assert all(r == (1.0 if h >= threshold else 0.0) for h, r in result.trials)


@settings(max_examples=60, deadline=None)
@given(
    threshold=st.integers(1, 600),
    start=st.integers(1, 700),
    step=st.sampled_from([1.1, 1.25, 1.5, 3.0]),
)
def test_any_bracket_step_lands_within_the_precision(threshold, start, step):
    method = Scripted(lambda h, s: h >= threshold, start=start, bracket_step=step)
    result = capacity(BASIS, method)
    hi = result.searched_hidden
    assert result.reached and threshold <= hi < threshold + max(1.0, 0.05 * hi)
    # The bracket's probes move by the step (rounded outward, at least one width).
    bracket = []
    for h, r in result.trials:
        bracket.append(h)
        if (r == 1.0) != (result.trials[0][1] == 1.0):
            break
    for a, b in zip(bracket[:-1], bracket[1:], strict=True):
        if b < a:
            assert b == max(1, min(a - 1, math.floor(a / step)))
        else:
            assert b == min(1000, max(a + 1, math.ceil(a * step)))


def test_a_small_step_tries_fewer_widths_from_a_close_guess():
    # Capacity 26, first guess 29 (maxmargin's situation at d = 32, F = 512).
    def count(step):
        method = Scripted(lambda h, s: h >= 26, start=29, bracket_step=step)
        return len(capacity(BASIS, method).trials)

    assert count(1.25) < count(2.0)


def test_walks_up_when_the_independent_draw_fails():
    # seed 0 works from 100, the re-check seed 1 only from 130: the search must climb.
    def works(h, seed):
        return h >= (100 if seed == 0 else 130)

    result = capacity(BASIS, Scripted(works, start=64), seed=0)
    assert result.reached and result.verified
    assert result.searched_hidden >= 130
    assert all(h >= 130 for h, r in result.verify_trials if r == 1.0)
    assert [r for _, r in result.verify_trials][-1] == 1.0


def test_unverified_when_no_width_passes_the_recheck():
    result = capacity(BASIS, Scripted(lambda h, s: s == 0 and h >= 50, top=60))
    assert result.reached and not result.verified
    assert 50 <= result.searched_hidden < 50 + max(1, 0.05 * 60)
    assert all(r == 0.0 for _, r in result.verify_trials)


def test_not_reached_reports_best_recall():
    result = capacity(make_factset("spherical", n_facts=12, dim=4, seed=0), "lookup", max_hidden=8)
    assert not result.reached and result.hidden is None and result.params is None
    assert result.recall == 0.0 and result.trials[-1][0] == 8
    d = result.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["reached"] is False and d["hidden"] is None and d["info"] is None


def test_build_errors_count_as_failures():
    for error in (WidthTooSmallError, SolverError):
        result = capacity(BASIS, Scripted(lambda h, s: True, start=3, floor=20, floor_error=error))
        assert result.searched_hidden == 20
        assert all(r == 0.0 for h, r in result.trials if h < 20)


def test_non_monotone_recall_never_returns_a_failing_width():
    # Works at 40..59 and from 90 on: the search may find either window, never a gap width.
    def works(h, seed):
        return 40 <= h < 60 or h >= 90

    result = capacity(BASIS, Scripted(works, start=64))
    assert result.reached and works(result.searched_hidden, 0) and works(result.searched_hidden, 1)


def test_lookup_capacity_is_one_neuron_per_distinct_key():
    base = make_factset("spherical", n_facts=16, n_values=4, dim=6, seed=2, fact_map="random")
    fs = FactSet(
        np.vstack([base.keys, base.keys[:4]]),
        base.values,
        np.concatenate([base.fact_map, base.fact_map[:4]]),
    )
    result = capacity(fs, "lookup")
    assert result.reached and result.hidden == 16 and result.params == 3 * 16 * 6 + 16
    assert result.params_per_fact == pytest.approx(result.params / 20)
    assert result.build is not None and result.build.hidden == 16


@pytest.fixture(scope="module")
def encdec_result():
    fs = make_factset("spherical", n_facts=64, dim=8, seed=0, tied=True)
    return fs, capacity(fs, "encdec")


def test_encdec_capacity_reverifies(encdec_result):
    fs, result = encdec_result
    assert result.reached and result.verified and result.dtype == "float32"
    rebuilt = get_method("encdec").build(fs, result.searched_hidden, seed=0)
    assert torch.equal(rebuilt.weights.up, result.build.weights.up)
    mlp = GatedMLP(rebuilt.weights.to(dtype=torch.float32))
    assert recall(mlp, fs, dtype=torch.float32).accuracy == 1.0
    assert result.searched_hidden - _largest_failure_below(result) <= max(
        1, 0.05 * result.searched_hidden
    )
    assert result.hidden <= result.searched_hidden
    assert result.params == 3 * result.hidden * fs.dim


def test_encdec_capacity_dict_is_json(encdec_result):
    _, result = encdec_result
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert {
        "method",
        "reached",
        "hidden",
        "params",
        "params_per_fact",
        "bits_per_param",
        "recall",
        "seconds",
        "trials",
    } <= set(d)
    assert d["info"]["code_dim"] * d["info"]["group_size"] == d["hidden"]


def test_gd_capacity_on_a_tiny_set():
    fs = make_factset("spherical", n_facts=32, dim=8, seed=0, tied=True)
    method = GDMethod(lrs=(1e-2,), epochs=600, patience=150)
    result = capacity(fs, method)
    h = result.hidden
    assert result.reached and result.verified
    assert result.params == 3 * h * 8 + 2 * h + 8
    assert result.build.info["reached"] and result.build.info["lr"] == 1e-2


def test_ntk_saturates_where_hebbian_ridge_does_not():
    fs = make_factset("spherical", n_facts=64, dim=8, seed=0, tied=True)  # F = d²
    ntk = capacity(fs, "ntk", max_hidden=4096)
    assert not ntk.reached and 0 < ntk.recall < 1
    few = make_factset("spherical", n_facts=24, dim=8, seed=0, tied=True)  # F ≤ d(d+1)/2
    ridge = capacity(few, "hebbian_ridge")
    assert ridge.reached and ridge.hidden <= 2 * few.n_facts


def test_infeasible_fact_set_names_values_and_keys():
    values = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # v_2 = midpoint
    fs = FactSet(np.eye(2)[[0, 1, 0]] * [[1], [1], [2]], values, [0, 2, 1])
    with pytest.raises(InfeasibleFactSetError, match=r"values \[2\].*keys \[1\]") as info:
        capacity(fs, "lookup")
    assert info.value.values == (2,) and info.value.keys == (1,)


INVALID = [
    ("unknown method", {"method": "sgd"}, "method 'sgd' is unknown; choose one of"),
    ("method type", {"method": 3}, "method must be a method name or a Method, got int"),
    ("factset type", {"factset": np.eye(3)}, "factset must be a FactSet, got ndarray"),
    ("seed negative", {"seed": -1}, "seed must be an integer ≥ 0, got -1"),
    ("seed bool", {"seed": True}, "seed must be an integer ≥ 0, got True"),
    ("precision zero", {"rel_precision": 0.0}, r"rel_precision must lie in \(0, 1\), got 0.0"),
    ("precision one", {"rel_precision": 1.0}, r"rel_precision must lie in \(0, 1\)"),
    ("precision bool", {"rel_precision": True}, r"rel_precision must lie in \(0, 1\)"),
    ("max_hidden zero", {"max_hidden": 0}, "max_hidden must be an integer ≥ 1, got 0"),
    ("max_hidden float", {"max_hidden": 8.0}, "max_hidden must be an integer ≥ 1, got 8.0"),
    ("dtype int", {"dtype": torch.int32}, "dtype must be one of torch.float64"),
    ("device", {"device": "nope"}, "device 'nope' is not an available torch device"),
]


@pytest.mark.parametrize("name, change, message", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_calls(name, change, message):
    args = {"factset": BASIS, "method": "lookup", **change}
    with pytest.raises(InvalidInputError, match=message):
        capacity(args.pop("factset"), args.pop("method"), **args)


def test_result_is_frozen():
    result = capacity(BASIS, "lookup")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.hidden = 3


def test_gd_refused_on_a_cpu_before_any_work(monkeypatch):
    import numerics.methods.capacity_search as module

    def no_feasibility(*args, **kwargs):
        raise AssertionError("feasibility computed for a refused point")

    monkeypatch.setattr(module, "feasibility", no_feasibility)
    wide = FactSet(np.eye(65)[:3], np.eye(65)[:3], [0, 1, 2])
    with pytest.raises(NeedsAcceleratorError, match="d = 65, F = 3"):
        capacity(wide, "gd")

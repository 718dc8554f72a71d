"""numerics.testing.fuzzer and .checking: counts, refusal certificates, the independent
forward pass, saved failures and their reproducing scripts, determinism, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from numerics.embeddings.generators import make_factset
from numerics.factset import FactSet
from numerics.methods import get_method
from numerics.mlp import GatedMLP, load_mlp
from numerics.strict_recall import recall
from numerics.testing import (
    check_factset,
    draw_factset,
    file_margins,
    fuzz,
    hull_weights,
    infeasibility_certificate,
)
from tests.numerics.testing.fakes import BrokenMethod, CrashingMethod, RefusingMethod
from theory.errors import InvalidInputError

#: Recipes on which lookup stores every set it may (or the set is infeasible).
LOOKUP_SAFE = (
    "near_duplicate_keys",
    "duplicate_keys",
    "clustered_values",
    "inside_hull_values",
    "many_to_one",
    "single_fact",
    "single_value",
)


def test_lookup_on_its_safe_recipes_stores_everything_feasible(tmp_path):
    report = fuzz("lookup", examples=14, strategies=LOOKUP_SAFE, out_dir=tmp_path / "out")
    totals = report.to_dict()["totals"]
    assert report.examples_run == 14 and report.failed == 0 and not report.failures
    assert totals["stored"] + totals["infeasible_not_stored"] == 14
    assert report.strategies["inside_hull_values"].infeasible == 2  # never stored, certified
    assert totals["certified_float32"] <= totals["stored"]
    assert not (tmp_path / "out").exists()  # created only at a failure
    for name, counts in report.to_dict()["strategies"].items():
        assert counts["examples"] == 2, name


def test_a_broken_method_fails_every_storable_set_and_saves_each_failure(tmp_path):
    names = ("single_value", "inside_hull_values", "many_to_one", "zero_keys")
    report = fuzz(BrokenMethod(), examples=8, strategies=names, out_dir=tmp_path, shrink_seconds=5)
    counts = report.strategies
    assert counts["single_value"].stored == 2  # M = 1: no competitor, g ≡ 0 stores it
    assert counts["inside_hull_values"].infeasible == 2
    expected_failures = 0
    for name in ("many_to_one", "zero_keys"):
        for k in range(2):
            fs = draw_factset(name, np.random.default_rng([0, _crc(name), k]))
            expected_failures += fs.n_values > 1
    assert report.failed == expected_failures == len(report.failures) > 0
    for failure in report.failures:
        assert failure.kind == "not_stored" and failure.n_facts == 1 <= failure.original_n_facts
        small, original = FactSet.load(failure.file), FactSet.load(failure.original_file)
        assert small.n_values == 2 and original.n_facts == failure.original_n_facts
        assert check_factset(BrokenMethod(), small).status == "failed"
        script = open(failure.script).read()
        assert "factmlp verify" in script and f"--dtype {report.dtype}" in script
        assert "get_method('broken')" in script


def _crc(name: str) -> int:
    import zlib

    return zlib.crc32(name.encode())


def test_refusals_count_only_with_an_independent_certificate(tmp_path):
    report = fuzz(
        RefusingMethod(),
        examples=4,
        strategies=("inside_hull_values", "single_fact"),
        out_dir=tmp_path,
        shrink_seconds=2,
    )
    assert report.strategies["inside_hull_values"].refused == 2
    assert report.strategies["single_fact"].failed == 2
    assert {f.kind for f in report.failures} == {"refused_uncertified"}
    assert "InfeasibleFactSetError: refused on principle" in report.failures[0].message


def test_a_crash_is_a_failure_not_a_refusal():
    fs = make_factset("spherical", n_facts=4, dim=3, seed=0)
    outcome = check_factset(CrashingMethod(), fs)
    assert outcome.status == "failed" and outcome.kind == "crashed"
    assert "ZeroDivisionError: planted crash" in outcome.message


def test_encdec_refuses_an_infeasible_set_with_a_certificate():
    fs = draw_factset("inside_hull_values", np.random.default_rng(0))
    outcome = check_factset("encdec", fs)
    assert outcome.status == "refused" and outcome.kind == "InfeasibleFactSetError"
    assert outcome.certificate["value"] == 0


def test_the_same_seed_draws_the_same_sets_and_the_same_verdicts(tmp_path):
    a = fuzz("lookup", examples=10, seed=3, out_dir=tmp_path / "a").to_dict()
    b = fuzz("lookup", examples=10, seed=3, out_dir=tmp_path / "b").to_dict()
    for report in (a, b):
        report.pop("seconds"), report.pop("out_dir")
        for counts in report["strategies"].values():
            for failure in counts["failures"]:
                for key in ("file", "original_file", "script", "shrink_seconds"):
                    failure.pop(key)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    for path in (tmp_path / "a").glob("*.npz"):
        x, y = FactSet.load(path), FactSet.load(tmp_path / "b" / path.name)
        assert np.array_equal(x.keys, y.keys) and np.array_equal(x.fact_map, y.fact_map)


def test_a_time_budget_truncates_the_run():
    report = fuzz("lookup", examples=1000, max_seconds=0.5, strategies=("single_value",))
    assert report.truncated and 0 < report.examples_run < 1000


@pytest.mark.parametrize("method", ["lookup", "encdec", "hebbian_ridge"])
def test_the_independent_forward_pass_matches_strict_recall(tmp_path, method):
    fs = make_factset("spherical", n_facts=24, dim=8, seed=4)
    m = get_method(method)
    built = m.build(fs, m.default_max_hidden(fs), seed=0)
    path = tmp_path / "mlp.safetensors"
    built.save(path)
    weights, _ = load_mlp(path)
    for dtype in ("float32", "float64"):
        margins = file_margins(path, fs, dtype)
        torch_dtype = getattr(torch, dtype)
        reference = recall(GatedMLP(weights.to(dtype=torch_dtype)), fs, dtype=torch_dtype)
        np.testing.assert_allclose(margins, reference.margins, rtol=1e-3, atol=1e-5)
        assert ((margins > 0).mean()) == reference.accuracy


def test_hull_weights_certify_exact_membership_only():
    v = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [1.0, 1.0], [3.0, 3.0]])
    weights = hull_weights(v, 3)
    assert weights is not None and weights[3] == 0 and weights.min() >= 0
    np.testing.assert_allclose(weights @ v, v[3], atol=1e-12)
    assert hull_weights(v, 4) is None and hull_weights(v[:1], 0) is None
    scaled = v * 1e30  # the check is scale-free
    assert hull_weights(scaled, 3) is not None and hull_weights(scaled, 4) is None
    nudged = v[:4].copy()
    nudged[3] = [2.0 + 1e-7, 2.0 + 1e-7]  # just outside the edge [v1, v2] of the triangle
    assert hull_weights(nudged, 3) is None
    nudged[3] = [2.0, 2.0]  # on it
    assert hull_weights(nudged, 3) is not None
    fs = FactSet(np.eye(2), v, [4, 1])  # the used values are vertices
    assert infeasibility_certificate(fs) is None
    fs = FactSet(np.eye(2), v, [3, 1])
    cert = infeasibility_certificate(fs)
    assert cert["value"] == 3 and cert["kind"] == "exact convex weights"
    # within HULL_TOLERANCE of an edge but outside it: the LP accepts, the exact check not
    near = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [2.0 + 1e-12, 2.0 + 1e-12]])
    assert hull_weights(near, 3) is not None
    assert infeasibility_certificate(FactSet(np.eye(2), near, [3, 1])) is None


def test_margins_are_strict_a_tie_fails(tmp_path):
    fs = FactSet(np.eye(2), np.eye(2), [0, 1])
    outcome = check_factset(BrokenMethod(), fs, workdir=tmp_path)
    assert outcome.status == "failed" and outcome.min_margin == 0.0
    assert outcome.failed_keys == (0, 1)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(examples=0), r"examples"),
        (dict(seed=-1), r"seed"),
        (dict(dtype="bfloat16"), r"dtype must be one of float32, float64, got 'bfloat16'"),
        (dict(width="wide"), r"width must be"),
        (dict(max_seconds=-1.0), r"max_seconds must be a finite number ≥ 0, got -1.0"),
        (dict(shrink_seconds=float("inf")), r"shrink_seconds"),
        (dict(strategies=("nope",)), r"strategies \['nope'\]"),
        (dict(strategies=()), r"strategies"),
    ],
)
def test_fuzz_arguments_are_validated_by_name(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        fuzz("lookup", **kwargs)


def test_unknown_method_is_refused():
    with pytest.raises(InvalidInputError, match="method 'nope' is unknown"):
        fuzz("nope", examples=1)

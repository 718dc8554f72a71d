"""Tests of the code-dimension rules of numerics/construction/pipeline.py: ``smallest``
(default) and ``robust`` (ρ(W) ≥ c·ρ(V) on the projected used values).

The decoder's projection is read back from the built weights (the down projection's column
t·r is P's column t), and ρ of the projected and of the original used values is bracketed by
certificates whose bounds are recomputed from the vectors alone
(:func:`theory.rho.verify_certificate`: lower ≤ ρ ≤ upper), so "ρ(W) ≥ c·ρ(V)" is checked as
lower(W) ≥ c·upper(V), never by the construction's own numbers. Recall comes from a numpy
forward pass of the saved file (:mod:`proofs_check.decoder_correctness`).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from numerics.construction.code_dim import nested_projection
from numerics.construction.pipeline import ConstructionConfig, _rho_target, construct
from numerics.embeddings.generators import make_factset
from numerics.factset import FactSet
from numerics.mlp import save_mlp
from proofs_check.decoder_correctness import numpy_forward, numpy_margins, read_mlp_file
from theory.errors import InfeasibleFactSetError, InvalidInputError
from theory.rho import decodability, verify_certificate


def rho_bracket(values, used) -> tuple[float, float]:
    """(lower, upper) with lower ≤ ρ(values over ``used``) ≤ upper, from re-verified
    certificates: ρ = min_i ρ_i, so the minima of the per-value bounds bracket it."""
    bounds = [
        verify_certificate(values, cert) for cert in decodability(values, indices=used).certificates
    ]
    return min(b[0] for b in bounds), min(b[1] for b in bounds)


def projection_from_weights(built) -> np.ndarray:
    """P (d×m) as stored in the MLP: column t·r of the down projection, r = h/m."""
    down = built.weights.down.numpy()
    group = built.hidden // built.code_dim
    assert group * built.code_dim == built.hidden
    return down[:, ::group]


def file_recall(built, factset, path) -> float:
    save_mlp(path, built.weights, built.metadata())
    tensors, meta = read_mlp_file(path)
    outputs = numpy_forward(tensors, meta["activation"], np.asarray(factset.keys))
    return float(np.mean(numpy_margins(outputs, factset.values, factset.fact_map) > 0))


@pytest.mark.parametrize("dim, n_facts, seed", [(12, 48, 0), (12, 48, 1), (10, 60, 2)])
@pytest.mark.parametrize("fraction", [0.3, 0.5])
def test_robust_rule_keeps_the_fraction_of_rho_and_stores_every_fact(
    dim, n_facts, seed, fraction, tmp_path
):
    fs = make_factset("spherical", n_facts=n_facts, dim=dim, seed=seed, tied=True)
    used = fs.used_values
    smallest = construct(fs, ConstructionConfig(seed=seed))
    robust = construct(
        fs, ConstructionConfig(seed=seed, code_dim_rule="robust", robust_fraction=fraction)
    )
    low_v, high_v = rho_bracket(fs.values, used)
    low_w, _ = rho_bracket(fs.values @ projection_from_weights(robust), used)
    assert low_w >= fraction * high_v
    # the recomputed bounds are another float64 evaluation of the same sums: a few ulps
    slack = 8 * np.spacing(high_v)
    assert low_v - slack <= robust.rho_values <= high_v + slack
    assert robust.code_dim >= smallest.code_dim
    assert file_recall(robust, fs, tmp_path / "robust.safetensors") == 1.0
    assert robust.float32_certified


def test_the_smallest_rule_misses_the_robust_target_that_the_robust_rule_meets():
    """The check of the test above refuses a decoder it must refuse: on this set today's
    smallest m keeps far less than half of ρ(V), so the robust rule has to move m."""
    fs = make_factset("spherical", n_facts=64, dim=16, seed=0, tied=True)
    used = fs.used_values
    low_v, _ = rho_bracket(fs.values, used)
    smallest = construct(fs, ConstructionConfig())
    robust = construct(fs, ConstructionConfig(code_dim_rule="robust"))
    assert rho_bracket(fs.values @ projection_from_weights(smallest), used)[1] < 0.5 * low_v
    assert robust.code_dim > smallest.code_dim


def test_one_code_dim_below_the_robust_one_misses_the_robust_target():
    # M ≤ SCREEN_VALUES, so the search screens every used value: below its m the target fails
    fs = make_factset("spherical", n_facts=48, dim=12, seed=1, tied=True)
    cfg = ConstructionConfig(seed=1, code_dim_rule="robust")
    built = construct(fs, cfg)
    used = fs.used_values
    low_v, _ = rho_bracket(fs.values, used)
    target = max(_rho_target(fs.n_facts, fs.dim, cfg.slack), 0.5 * low_v)  # ≤ the true one
    below = nested_projection(fs.values, used, "gaussian", 1, built.code_dim - 1)
    assert rho_bracket(fs.values @ below, used)[1] < target <= built.rho_projected


def test_rule_and_rho_values_are_reported_in_the_summary_and_the_file():
    fs = make_factset("spherical", n_facts=30, dim=8, seed=0, tied=True)
    runs = {
        "smallest": construct(fs, ConstructionConfig()),
        "robust": construct(fs, ConstructionConfig(code_dim_rule="robust")),
        "fixed": construct(fs, ConstructionConfig(code_dim=8)),
    }
    for rule, built in runs.items():
        summary = json.loads(json.dumps(built.summary(fs.n_facts, fs.n_values)))
        meta = built.metadata()
        assert summary["code_dim_rule"] == meta["code_dim_rule"] == rule
        assert json.loads(meta["rho_values"]) == summary["rho_values"]
        assert json.loads(meta["config"]) == dataclasses.asdict(built.config)
    assert runs["smallest"].rho_values is None and runs["fixed"].rho_values is None
    low_v, high_v = rho_bracket(fs.values, fs.used_values)
    assert low_v <= runs["robust"].summary(30, 30)["rho_values"] <= high_v


def test_robust_rule_still_refuses_an_infeasible_set_naming_values_and_keys():
    values = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    keys = np.random.default_rng(0).standard_normal((6, 3))
    fact_map = np.array([0, 2, 1, 3, 2, 0])
    with pytest.raises(InfeasibleFactSetError) as info:
        construct(FactSet(keys, values, fact_map), ConstructionConfig(code_dim_rule="robust"))
    assert info.value.values == (2,) and info.value.keys == (1, 4)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"code_dim_rule": "largest"}, r"code_dim_rule 'largest' is unknown"),
        ({"robust_fraction": 0.0}, r"robust_fraction must be in \(0, 1\], got 0.0"),
        ({"robust_fraction": 1.5}, r"robust_fraction must be in \(0, 1\], got 1.5"),
        ({"robust_fraction": -0.5}, r"robust_fraction must be in \(0, 1\]"),
        ({"robust_fraction": float("nan")}, r"robust_fraction must be in \(0, 1\], got nan"),
        ({"robust_fraction": True}, r"robust_fraction must be in \(0, 1\], got True"),
        ({"robust_fraction": "0.5"}, r"robust_fraction must be in \(0, 1\]"),
        ({"code_dim_rule": "robust", "code_dim": 4}, r"code_dim_rule 'robust' chooses m"),
    ],
    ids=["rule", "c-0", "c-big", "c-neg", "c-nan", "c-bool", "c-str", "robust-with-code-dim"],
)
def test_invalid_rule_settings_are_refused_naming_the_field(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        ConstructionConfig(**kwargs)


def test_boundary_fraction_one_is_accepted_and_keeps_all_of_rho():
    fs = make_factset("spherical", n_facts=24, dim=8, seed=4, tied=True)
    built = construct(fs, ConstructionConfig(code_dim_rule="robust", robust_fraction=1))
    used = fs.used_values
    # c = 1 leaves no room below ρ(V): only m = d with P = I (W = V) meets it for sure
    low_w, _ = rho_bracket(fs.values @ projection_from_weights(built), used)
    assert low_w >= rho_bracket(fs.values, used)[1] - 1e-12

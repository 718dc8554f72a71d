"""Tests of numerics/construction/near_duplicates.py: near-duplicate keys cost a gadget neuron each,
not the whole-set spline; generic sets build exactly as without the module.

Recall is read back from the MLP file by the numpy-only forward pass of
:mod:`proofs_check.decoder_correctness` (no torch); float32 by the existing certificate
(:func:`numerics.precision.certify_recall`), which the construction runs on every build.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import numerics.construction.pipeline as pipeline
from numerics.construction.encoder_dense import _codes, solve_encoder
from numerics.construction.near_duplicates import (
    LEAK,
    NEAR_DISTANCE,
    add_gadgets,
    dense_rows,
    find_clusters,
    float32_shortfall,
    gadget_neurons,
)
from numerics.construction.pipeline import ConstructionConfig, construct
from numerics.embeddings.generators import make_factset
from numerics.factset import FactSet
from numerics.methods import get_method
from numerics.mlp import ACTIVATIONS, save_mlp
from proofs_check.decoder_correctness import numpy_forward, numpy_margins, read_mlp_file
from theory.errors import SolverError

REP, MEMBER = 5, 20


def near_set(
    n_facts=96, dim=12, members=(MEMBER,), distance=1e-6, tied=False, same_value=False, seed=0
):
    """(clean, near): a spherical set, and the same set with each key of ``members`` moved
    to key REP + distance·z (z standard normal, renormalised); values kept unless ``tied``
    (values = keys), the map kept unless ``same_value`` (members map to REP's value)."""
    clean = make_factset("spherical", n_facts=n_facts, dim=dim, seed=seed)
    rng = np.random.default_rng(seed)
    keys, fact_map = clean.keys.copy(), clean.fact_map.copy()
    for m in members:
        keys[m] = keys[REP] + distance * rng.standard_normal(dim)
        keys[m] /= np.linalg.norm(keys[m])
        if same_value:
            fact_map[m] = fact_map[REP]
    return clean, FactSet(keys, keys.copy() if tied else clean.values, fact_map)


def file_margins(built, factset, tmp_path):
    """float64 margins of the MLP as written to a file, numpy only."""
    path = tmp_path / "m.safetensors"
    save_mlp(path, built.weights, built.metadata())
    tensors, meta = read_mlp_file(path)
    outputs = numpy_forward(tensors, meta["activation"], factset.keys)
    return numpy_margins(outputs, factset.values, factset.fact_map)


FIXED = ConstructionConfig(code_dim=10, certify=None)  # one build, no m search: fast


# --------------------------------------------------------------------------- detection


def test_a_planted_pair_with_different_values_is_one_cluster():
    _, fs = near_set()
    clusters = find_clusters(fs.keys, fs.values[fs.fact_map])
    assert [c.keys for c in clusters] == [(REP, MEMBER)]
    assert clusters[0].distance == np.linalg.norm(fs.keys[REP] - fs.keys[MEMBER])


def test_pairs_with_one_value_or_far_apart_or_identical_are_not_clusters():
    _, same = near_set(same_value=True)
    assert find_clusters(same.keys, same.values[same.fact_map]) == ()
    # the pair ≈ 100·√12 × the threshold apart (unit keys: their spread is about 1)
    _, far = near_set(distance=100 * NEAR_DISTANCE)
    assert find_clusters(far.keys, far.values[far.fact_map]) == ()
    keys = np.vstack([same.keys, same.keys[:3]])  # exact copies, the same targets
    targets = same.values[np.concatenate([same.fact_map, same.fact_map[:3]])]
    assert find_clusters(keys, targets) == ()


def test_members_and_their_copies_leave_the_dense_rows():
    _, fs = near_set(members=(MEMBER, MEMBER + 1))
    keys = np.vstack([fs.keys, fs.keys[[MEMBER]]])  # a copy of a member
    clusters = find_clusters(keys, np.vstack([fs.values[fs.fact_map], fs.values[[0]]]))
    assert [c.keys for c in clusters] == [(REP, MEMBER, MEMBER + 1)]
    dropped = np.flatnonzero(~dense_rows(keys, clusters))
    assert dropped.tolist() == [MEMBER, MEMBER + 1, len(keys) - 1]


# --------------------------------------------------------------------------- the build


def test_a_near_pair_costs_one_neuron_and_stays_within_twice_the_clean_set(tmp_path):
    clean, fs = near_set()
    base = construct(clean, FIXED)
    built = construct(fs, FIXED)
    assert built.encoder.method == "dense" and gadget_neurons(built.encoder) == 1
    assert built.params <= 2 * base.params
    assert built.hidden - 1 <= base.hidden  # the dense part solves one key fewer
    assert (file_margins(built, fs, tmp_path) > 0).all()
    assert built.float32_certified, built.float32_certificate.uncertified
    assert float32_shortfall(built.encoder, built.float32_certificate, fs) == []


def test_the_gadget_hits_the_members_and_is_off_everywhere_else():
    _, fs = near_set(members=(MEMBER, MEMBER + 1))
    targets = fs.values[fs.fact_map][:, :6]  # any codes: the encoder does not care
    clusters = find_clusters(fs.keys, targets)
    keep = dense_rows(fs.keys, clusters)
    dense = solve_encoder(fs.keys[keep], targets[keep], generator=torch.Generator().manual_seed(0))
    enc = add_gadgets(dense, fs.keys, targets, clusters, activation="silu", tolerance=1e-8)
    assert gadget_neurons(enc) == 2
    K = torch.tensor(fs.keys)
    act = ACTIVATIONS["silu"]
    hidden = act(K @ enc.gadget_gate.T + enc.gadget_gate_bias) * (
        K @ enc.gadget_up.T + enc.gadget_up_bias
    )
    added = (hidden @ enc.gadget_codes).numpy()
    assert (added[REP] == 0).all()  # the up reads x_c − (k_r)_c: exactly 0 at the representative
    others = np.setdiff1d(np.arange(fs.n_facts), [REP, MEMBER, MEMBER + 1])
    rms = np.sqrt(np.mean(np.sum(targets**2, axis=1)))
    assert np.abs(added[others]).max() <= 2 * LEAK * rms
    dense_codes = _codes(K, dense.gate_rows, dense.gate_bias, dense.up, dense.up_bias, act)[0]
    members = [MEMBER, MEMBER + 1]
    assert np.abs(dense_codes.numpy()[members] - targets[members]).max() > 1e-3  # needed
    total = dense_codes.numpy() + added
    assert np.abs(total - targets).max() <= 1e-8 * np.linalg.norm(targets, axis=1).max()


def test_a_triple_cluster_costs_two_neurons(tmp_path):
    clean, fs = near_set(members=(MEMBER, MEMBER + 1))
    built = construct(fs, FIXED)
    assert gadget_neurons(built.encoder) == 2
    assert built.params <= 2 * construct(clean, FIXED).params
    assert (file_margins(built, fs, tmp_path) > 0).all()
    assert built.float32_certified, built.float32_certificate.uncertified


def test_a_cluster_mapped_to_one_value_needs_no_gadget(tmp_path):
    _, fs = near_set(members=(MEMBER, MEMBER + 1), same_value=True)
    built = construct(fs, FIXED)
    assert built.encoder.method == "dense" and gadget_neurons(built.encoder) == 0
    assert (file_margins(built, fs, tmp_path) > 0).all()


@pytest.mark.parametrize(
    "family, n_facts, dim, activation",
    [("spherical", 96, 12, "silu"), ("spiked", 30, 6, "relu"), ("spherical", 30, 2, "silu")],
)
def test_sets_without_near_duplicates_build_the_same_weights(
    family, n_facts, dim, activation, monkeypatch
):
    """Without near pairs the module changes nothing: the same weights, bit for bit, as a
    build with the near-duplicate path switched off (d = 2 goes to the spline)."""
    fs = make_factset(family, n_facts=n_facts, dim=dim, seed=1)
    config = ConstructionConfig(activation=activation, certify=None)
    built = construct(fs, config)
    monkeypatch.setattr(pipeline, "find_clusters", lambda keys, targets: ())
    monkeypatch.setattr(pipeline, "append_gadgets", lambda weights, enc, projection: weights)
    plain = construct(fs, config)
    assert gadget_neurons(built.encoder) == 0
    for name in ("gate", "up", "down", "gate_bias", "up_bias", "down_bias"):
        a, b = getattr(built.weights, name), getattr(plain.weights, name)
        assert (a is None and b is None) or torch.equal(a, b), name


def test_the_same_seed_gives_the_same_gadget_weights():
    _, fs = near_set(n_facts=40, dim=8, members=(MEMBER, MEMBER + 1))
    config = ConstructionConfig(code_dim=6, certify=None)
    first, second = construct(fs, config), construct(fs, config)
    assert gadget_neurons(first.encoder) == 2
    assert torch.equal(first.weights.down, second.weights.down)
    assert torch.equal(first.weights.gate_bias, second.weights.gate_bias)


# --------------------------------------------------------------------------- float32


def test_a_pair_below_float32_reach_is_named_with_the_distance_it_would_need(tmp_path):
    """The certificate must refuse the pair at 1e-8 (a float32 key differs from its float64
    value by up to 6e-8 relative): those keys are named, with their distance."""
    _, fs = near_set(distance=1e-8)
    built = construct(fs, FIXED)
    assert (file_margins(built, fs, tmp_path) > 0).all()  # float64 still stores every fact
    assert not built.float32_certified
    shortfall = float32_shortfall(built.encoder, built.float32_certificate, fs)
    keys_side = [s for s in shortfall if s["cause"] == "keys"]
    assert len(keys_side) == 1
    entry = keys_side[0]
    assert set(entry["keys"]) <= {REP, MEMBER} and entry["keys"]
    assert all(i in built.float32_certificate.uncertified for i in entry["keys"])
    assert entry["distance"] == np.linalg.norm(fs.keys[REP] - fs.keys[MEMBER])
    assert 0 < entry["margin_over_bound"] < 1
    assert entry["distance_needed"] > entry["distance"]


def test_tied_near_values_are_named_as_the_cause():
    _, fs = near_set(tied=True)
    built = construct(fs, FIXED)
    assert not built.float32_certified
    shortfall = float32_shortfall(built.encoder, built.float32_certificate, fs)
    values_side = [s for s in shortfall if s["cause"] == "values"]
    assert values_side
    named = sorted(i for s in values_side for i in s["keys"])
    for entry in values_side:
        assert sorted(entry["between"]) == [REP, MEMBER]  # values = keys: the same pair
        assert (fs.fact_map[entry["keys"]] == entry["between"][0]).all()
    uncertified = set(built.float32_certificate.uncertified)
    assert set(named) <= uncertified


# --------------------------------------------------------------------------- limits


def _dense_and_clusters(fs, targets):
    clusters = find_clusters(fs.keys, targets)
    keep = dense_rows(fs.keys, clusters)
    dense = solve_encoder(fs.keys[keep], targets[keep], generator=torch.Generator().manual_seed(0))
    return dense, clusters


def test_the_combined_code_check_can_fail():
    _, fs = near_set()
    targets = fs.values[fs.fact_map][:, :6]
    dense, clusters = _dense_and_clusters(fs, targets)
    with pytest.raises(SolverError, match="combined codes miss a target"):
        add_gadgets(dense, fs.keys, targets, clusters, activation="silu", tolerance=1e-30)


def test_a_collinear_triple_is_refused_by_the_gadget():
    _, fs = near_set(members=(MEMBER, MEMBER + 1))
    keys = fs.keys.copy()
    keys[MEMBER + 1] = keys[REP] + 2 * (keys[MEMBER] - keys[REP])  # on the line through both
    fs = FactSet(keys, fs.values, fs.fact_map)
    targets = fs.values[fs.fact_map][:, :6]
    dense, clusters = _dense_and_clusters(fs, targets)
    with pytest.raises(SolverError, match="nearly dependent"):
        add_gadgets(dense, fs.keys, targets, clusters, activation="silu", tolerance=1e-8)


def test_an_interior_pair_is_refused_by_the_gadget_and_stored_by_the_whole_set_path(tmp_path):
    fs = make_factset("spherical", n_facts=40, dim=3, seed=2)
    keys = np.random.default_rng(2).standard_normal((40, 3))
    keys[0] = keys.mean(axis=0)  # inside the hull of the others
    keys[1] = keys[0] + 1e-6 * np.array([0.6, -0.8, 0.0])
    fs = FactSet(keys, fs.values, fs.fact_map)
    targets = fs.values[fs.fact_map]
    dense, clusters = _dense_and_clusters(fs, targets)
    assert [c.keys for c in clusters] == [(0, 1)]
    with pytest.raises(SolverError, match="inside their convex hull"):
        add_gadgets(dense, fs.keys, targets, clusters, activation="silu", tolerance=1e-8)
    built = construct(fs, ConstructionConfig(certify=None))
    assert gadget_neurons(built.encoder) == 0
    assert (file_margins(built, fs, tmp_path) > 0).all()


def test_an_identity_gate_gets_no_gadget():
    _, fs = near_set()
    targets = fs.values[fs.fact_map][:, :6]
    dense, clusters = _dense_and_clusters(fs, targets)
    with pytest.raises(SolverError, match="does not vanish"):
        add_gadgets(dense, fs.keys, targets, clusters, activation="identity", tolerance=1e-8)


# --------------------------------------------------------------------------- other key shapes


def test_the_circle_case_stays_small_and_names_its_uncertified_keys(tmp_path):
    """d = 2: 200 values equally spaced on the unit circle, 400 random unit keys, a random
    map. The dense solve fails (many facts per dimension), so the spline stores it, one
    neuron per key; float32 is not certified there, and the keys are named."""
    rng = np.random.default_rng(0)
    angles = 2 * np.pi * np.arange(200) / 200
    values = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    keys = rng.standard_normal((400, 2))
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    fs = FactSet(keys, values, rng.integers(0, 200, 400))
    built = construct(fs)
    assert built.encoder.method == "spline"
    assert built.hidden == fs.n_facts and built.params == 3 * 400 * 2 + 2 * 400
    assert (file_margins(built, fs, tmp_path) > 0).all()
    certificate = built.float32_certificate
    summary = built.precision_summary()
    assert summary["float32_certified"] is False
    assert summary["float32_uncertified"] == np.flatnonzero(~certificate.certified).tolist()
    assert summary["float32_uncertified"]


def test_collinear_keys_get_one_spline_neuron_per_key(tmp_path):
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(8)
    keys = rng.uniform(-1, 1, 50)[:, None] * (direction / np.linalg.norm(direction))
    values = rng.standard_normal((50, 8))
    fs = FactSet(keys, values / np.linalg.norm(values, axis=1, keepdims=True), rng.permutation(50))
    built = construct(fs)
    assert built.encoder.method == "spline" and built.hidden == 50
    assert built.params == 3 * 50 * 8 + 2 * 50
    assert (file_margins(built, fs, tmp_path) > 0).all()


def test_rank_two_keys_are_stored_by_the_dense_solve(tmp_path):
    rng = np.random.default_rng(0)
    keys = rng.standard_normal((50, 2)) @ rng.standard_normal((2, 16))
    values = rng.standard_normal((50, 16))
    fs = FactSet(keys, values / np.linalg.norm(values, axis=1, keepdims=True), rng.permutation(50))
    built = construct(fs, ConstructionConfig(certify=None))
    assert built.encoder.method == "dense" and built.encoder.key_rank == 2
    assert (file_margins(built, fs, tmp_path) > 0).all()


def test_encdec_counts_the_gadget_neurons_in_its_width(tmp_path):
    _, fs = near_set(n_facts=40, dim=8)
    method = get_method("encdec")
    width = method.default_max_hidden(fs)
    result = method.build(fs, width, seed=0)
    assert result.hidden == result.weights.hidden <= width
    assert result.info["recall_float64"] == 1.0
    path = tmp_path / "m.safetensors"
    result.save(path)
    tensors, meta = read_mlp_file(path)
    outputs = numpy_forward(tensors, meta["activation"], fs.keys)
    assert (numpy_margins(outputs, fs.values, fs.fact_map) > 0).all()


def test_construct_summary_reports_gadgets_and_the_float32_shortfall():
    # Tied values: the near pair of keys makes a near pair of values, which float32 cannot
    # separate; construct must say which keys and why, not only "not certified".
    rng = np.random.default_rng(0)
    K = rng.standard_normal((128, 16))
    K /= np.linalg.norm(K, axis=1, keepdims=True)
    K[100] = K[50] + 1e-6 * rng.standard_normal(16)
    K[100] /= np.linalg.norm(K[100])
    fs = FactSet(keys=K, values=K.copy(), fact_map=rng.permutation(128))
    built = construct(fs)
    summary = built.summary(fs.n_facts, fs.n_values)
    assert summary["gadget_neurons"] == 1 and built.recall.accuracy == 1.0
    assert not summary["float32_certified"]
    named = {k for entry in summary["float32_shortfall"] for k in entry["keys"]}
    assert named == set(built.float32_certificate.uncertified)
    assert all(entry["cause"] == "values" for entry in summary["float32_shortfall"])

"""``factmlp check``, ``rho`` and ``construct`` on values that are exactly in the hull of the
others (infeasible: exit 2 from construct, naming values, keys and the certificate kind) and
on a strict vertex whose ρ_i is below 1e-7 (decodable only with a margin below 1e-7: never
called infeasible; construct builds it, or refuses in those words).

The expected facts are derived by hand: (0, 0) = ½(−1, 0) + ½(1, 0); (0, 5e-8) is above the
chord from (−1, 0) to (1, 0), decoded by y = (0, 1) with margin 5e-8 (in float32 too).
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from numerics.factset import FactSet
from proofs_check.decoder_correctness import numpy_forward, numpy_margins, read_mlp_file
from tests.cli_runner import run

KEYS = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]
FACT_MAP = [0, 1, 2, 1]  # keys 1 and 3 map to the middle value


def _save(tmp_path, name, middle):
    path = tmp_path / f"{name}.npz"
    FactSet(KEYS, [[-1.0, 0.0], middle, [1.0, 0.0]], FACT_MAP).save(path)
    return path


@pytest.fixture
def tiny_margin(tmp_path):
    return _save(tmp_path, "tiny", [0.0, 5e-8])


@pytest.fixture
def inside(tmp_path):
    return _save(tmp_path, "inside", [0.0, 0.0])


def test_construct_builds_the_tiny_margin_set_and_never_says_infeasible(
    tiny_margin, tmp_path, capsys
):
    out_file = tmp_path / "tiny.safetensors"
    code, out, err = run(capsys, "construct", tiny_margin, "--out", out_file, "--json")
    assert code == 0, err
    assert "infeasible" not in (out + err).lower()
    result = json.loads(out)
    assert result["recall"] == 1.0 and result["rho_projected"] == pytest.approx(5e-8, rel=1e-6)
    # Independent check of the file: a numpy forward pass, every margin > 0 in float64.
    tensors, meta = read_mlp_file(out_file)
    fs = FactSet.load(tiny_margin)
    margins = numpy_margins(
        numpy_forward(tensors, meta["activation"], fs.keys), fs.values, fs.fact_map
    )
    assert (margins > 0).all()


def test_construct_refuses_a_value_in_the_hull_with_the_exact_certificate(inside, tmp_path, capsys):
    out_file = tmp_path / "never.safetensors"
    code, out, err = run(capsys, "construct", inside, "--out", out_file, "--json")
    assert code == 2 and out == "" and not out_file.exists()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "infeasible fact set" in err and "values [1]" in err and "keys [1, 3]" in err
    assert "exact convex weights" in err and "v1 = 1/2·v0 + 1/2·v2" in err


def test_construct_refuses_an_unbuildable_tiny_margin_in_those_words(tmp_path, capsys):
    # (0, 1e-300): a strict vertex with ρ_1 = 1e-300; no float64 encoder hits codes that
    # accurately, so the construction refuses, but not as infeasible.
    path = _save(tmp_path, "hopeless", [0.0, 1e-300])
    code, out, err = run(capsys, "construct", path, "--out", tmp_path / "m", "--json")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "decodable only with a margin below 1e-7" in err
    assert "infeasible" not in err.lower()
    assert "values [1]" in err and "keys [1, 3]" in err


def test_check_and_rho_list_tiny_margins_apart(tiny_margin, capsys):
    code, out, _ = run(capsys, "check", tiny_margin, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["feasible"] is True
    assert report["undecodable_values"] == [] and report["infeasible_facts"] == []
    assert report["margin_below_tol_values"] == [1] and report["margin_below_tol_facts"] == [1, 3]
    (warning,) = report["value_side_warnings"]
    assert "decodable only with a margin below 1e-7" in warning
    (cert,) = report["margin_below_tol_certificates"]
    assert cert["kind"] == "exact separating direction" and cert["direction"] == ["0/1", "1/1"]
    assert Fraction(cert["margin"]) == Fraction(5e-8)
    code, out, _ = run(capsys, "rho", tiny_margin, "--json")
    result = json.loads(out)
    assert code == 0 and result["undecodable"] == [] and result["infeasible_facts"] == []
    assert result["margin_below_tol"] == [1] and result["margin_below_tol_facts"] == [1, 3]
    assert "decodable only with a margin below 1e-7" in result["margin_below_tol_note"]
    assert result["rho_per_value"][1] == pytest.approx(5e-8, rel=1e-6)


def test_check_and_rho_give_the_exact_weights_of_a_value_in_the_hull(inside, capsys):
    expected = [
        {"kind": "exact convex weights", "value": 1, "support": [0, 2], "weights": ["1/2", "1/2"]}
    ]
    code, out, _ = run(capsys, "check", inside, "--json")
    report = json.loads(out)
    assert code == 0 and report["feasible"] is False and report["infeasible_facts"] == [1, 3]
    assert report["hull_certificates"] == expected and report["margin_below_tol_values"] == []
    code, out, _ = run(capsys, "rho", inside, "--json")
    result = json.loads(out)
    assert code == 0 and result["hull_certificates"] == expected
    assert result["margin_below_tol"] == [] and result["margin_below_tol_note"] == ""


def test_the_tiny_margin_is_real_in_float32():
    values = np.array([[-1.0, 0.0], [0.0, 5e-8], [1.0, 0.0]], dtype=np.float32)
    logits = values @ np.array([0.0, 1.0], dtype=np.float32)
    assert logits[1] > logits[0] and logits[1] > logits[2]

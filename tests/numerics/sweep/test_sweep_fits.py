"""Tests of numerics/sweep/fits.py and plots.py: fits recover planted exponents; plots read
only the database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.sweep.fits import (
    cost_table,
    least_squares,
    method_ratios,
    reach_ceilings,
    reached_rows,
    rho_fits,
    scaling_fits,
)
from numerics.sweep.plots import plot_sweep
from numerics.sweep.store import SweepStore
from theory.errors import InvalidInputError


def _rows(slope=1.2, rho_exponent=-2.0, noise=0.0, seed=0):
    """Planted costs W = 3·F^slope·ρ^rho_exponent for two methods, two dims, two families."""
    rng = np.random.default_rng(seed)
    rows = []
    for method, scale in (("a", 3.0), ("b", 30.0)):
        for family in ("x", "y"):
            for dim in (8, 16):
                for n_facts in (dim * dim // 8, dim * dim // 4, dim * dim // 2, dim * dim):
                    rho = float(rng.uniform(0.1, 0.6))
                    params = (
                        scale * n_facts**slope * rho**rho_exponent * np.exp(noise * rng.normal())
                    )
                    rows.append(
                        {
                            "key": f"{method}{family}{dim}{n_facts}",
                            "status": "ok",
                            "reached": True,
                            "method": method,
                            "family_label": family,
                            "dim": dim,
                            "n_facts": n_facts,
                            "params": params,
                            "params_per_fact": params / n_facts,
                            "rho": rho,
                            "rho_median": rho * 1.1,
                        }
                    )
    return rows


@given(slope=st.floats(0.5, 2.0), rho_exponent=st.floats(-3.0, 0.5), seed=st.integers(0, 1000))
@settings(max_examples=25, deadline=None)
def test_fits_recover_planted_exponents(slope, rho_exponent, seed):
    rows = _rows(slope, rho_exponent, seed=seed)
    for fit in rho_fits(rows):
        assert fit["exponent_facts"] == pytest.approx(slope, abs=1e-8)
        assert fit["exponent_rho"] == pytest.approx(rho_exponent, abs=1e-8)
        assert fit["r2"] == pytest.approx(1.0)
    flat = _rows(slope, 0.0, seed=seed)
    for fit in scaling_fits(flat):
        assert fit["slope_params"] == pytest.approx(slope, abs=1e-8)
        assert fit["slope_params_per_fact"] == pytest.approx(slope - 1, abs=1e-8)


def test_scaling_fits_group_per_dim_and_pooled():
    fits = scaling_fits(_rows(rho_exponent=0.0))
    keys = {(f["family"], f["method"], f["dim"]) for f in fits}
    assert keys == {(fam, m, d) for fam in "xy" for m in "ab" for d in (8, 16, "all")}
    pooled = next(f for f in fits if f["dim"] == "all" and f["method"] == "a")
    assert pooled["n"] == 8 and pooled["f_range"] == [8, 256]


def test_rho_explains_variance_that_f_alone_does_not():
    fit = next(f for f in rho_fits(_rows(rho_exponent=-2.0, noise=0.01)) if f["method"] == "a")
    assert fit["r2"] > 0.99 and fit["r2_gain"] > 0.1
    null = next(f for f in rho_fits(_rows(rho_exponent=0.0, noise=0.05)) if f["method"] == "a")
    assert abs(null["exponent_rho"]) < 0.3 and null["r2_gain"] < 0.05


def test_only_reached_ok_rows_enter_the_fits():
    rows = _rows()
    rows[0] = {**rows[0], "reached": False}
    rows[1] = {**rows[1], "status": "skipped"}
    assert len(reached_rows(rows)) == len(rows) - 2


def test_least_squares_known_values_and_invalid_calls():
    fit = least_squares([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 1.0]], [3.0, 7.0, 7.0, 11.0])
    np.testing.assert_allclose(fit.coefficients, [1.0, 2.0, 2.0], atol=1e-12)
    with pytest.raises(InvalidInputError, match="cannot fix"):
        least_squares([[1.0]], [2.0])
    with pytest.raises(InvalidInputError, match="constant"):
        least_squares([[1.0, 1.0, 1.0]], [1.0, 2.0, 3.0])
    with pytest.raises(InvalidInputError, match="one entry per point"):
        least_squares([[1.0, 2.0]], [1.0, 2.0, 3.0])
    with pytest.raises(InvalidInputError, match="finite"):
        least_squares([[1.0, np.inf, 2.0]], [1.0, 2.0, 3.0])


def test_plot_sweep_reads_the_database_and_writes_pngs(tmp_path):
    db = tmp_path / "planted.sqlite"
    with SweepStore(db) as store:
        for row in _rows():
            store.write({k: v for k, v in row.items() if k != "reached"} | {"reached": 1})
        store.write({"key": "skip", "status": "skipped", "reason": "needs an accelerator"})
    result = plot_sweep(db, tmp_path / "out")
    assert result["counts"] == {"ok": 32, "skipped": 1, "error": 0}
    assert len(result["plots"]) == 3  # two families + cost against ρ
    for path in result["plots"]:
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    pooled = next(f for f in result["fits"] if f["dim"] == "all" and f["method"] == "b")
    assert pooled["slope_params"] == pytest.approx(1.2, abs=0.2)  # ρ varies, so not exact
    assert {f["method"] for f in result["rho_fits"]} == {"a", "b"}
    default = plot_sweep(db)
    assert default["out"] == str(tmp_path / "planted_plots")


def test_gd_reference_plot_only_for_families_with_gd_rows(tmp_path):
    db = tmp_path / "with_gd.sqlite"
    rows = _rows(rho_exponent=0.0)
    gd = [
        {**r, "key": "gd" + r["key"], "method": "gd", "params": r["params"] / 10}
        for r in rows
        if r["method"] == "a" and r["family_label"] == "x" and r["dim"] == 16
    ]
    with SweepStore(db) as store:
        for row in rows + gd:
            store.write({k: v for k, v in row.items() if k != "reached"} | {"reached": 1})
    plots = [Path(p).name for p in plot_sweep(db, tmp_path / "out")["plots"]]
    # Family x has GD rows (at d = 16 only), family y none: one reference plot, for x.
    assert [p for p in plots if p.startswith("vs_gd__")] == ["vs_gd__x.png"]


def test_plot_sweep_refuses_a_missing_database(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        plot_sweep(tmp_path / "none.sqlite")


def _point(method, n_facts, seed, params=None, reached=True, status="ok", dim=8):
    return {
        "key": f"{method}{n_facts}{seed}",
        "status": status,
        "reached": reached if status == "ok" else None,
        "method": method,
        "family_label": "f",
        "dim": dim,
        "n_facts": n_facts,
        "seed": seed,
        "params": params if reached else None,
        "params_per_fact": params / n_facts if reached and params else None,
        "bits_per_param": 1.0 if reached else None,
        "recall": 1.0 if reached else 0.5,
        "rho": 0.5,
        "reason": None if status == "ok" else "needs an accelerator: big",
    }


def test_cost_table_ratios_and_ceilings():
    rows = [_point("ours", 16, s, params=160.0 * (s + 1)) for s in (0, 1)]
    rows += [_point("gd", 16, s, params=16.0 * (s + 1)) for s in (0, 1)]
    rows += [
        _point("ntk", 8, 0, 100.0),
        _point("ntk", 16, 0, 200.0),
        _point("ntk", 16, 1, reached=False),
        _point("ntk", 32, 0, reached=False),
        _point("gd", 32, 0, status="skipped"),
    ]
    table = {(r["method"], r["n_facts"]): r for r in cost_table(rows)}
    assert table[("ours", 16)]["params_per_fact"] == pytest.approx(15.0)  # (10 + 20) / 2
    assert table[("ntk", 16)]["reached"] == 1 and table[("ntk", 16)]["seeds"] == 2
    assert table[("gd", 32)]["skipped"] == 1 and table[("gd", 32)]["reason"].startswith("needs")
    assert table[("ours", 16)]["fraction_of_d2"] == 0.25
    (ratio,) = method_ratios(rows, "ours", "gd")
    assert ratio["ratio"] == pytest.approx(10.0) and ratio["seeds"] == 2
    (ceiling,) = reach_ceilings(rows, "ntk")
    assert (ceiling["last_reached"], ceiling["first_failed"]) == (8, 16)
    assert ceiling["first_failed_fraction"] == 0.25 and ceiling["tried"] == [8, 16, 32]
    (never,) = reach_ceilings([_point("ntk", 8, 0, 10.0)], "ntk")
    assert never["first_failed"] is None and never["last_reached"] == 8


def test_cost_table_summarises_min_bits_only_where_recorded():
    rows = [
        {**_point("ours", 16, 0, 160.0), "min_bits": 7, "total_over_bound": 40.0},
        {**_point("ours", 16, 1, 320.0), "min_bits": 9, "total_over_bound": 60.0},
        {**_point("ours", 16, 2, reached=False), "min_bits": None, "total_over_bound": None},
        _point("old", 16, 0, 100.0),  # a row from before the bits columns: no such keys
    ]
    table = {r["method"]: r for r in cost_table(rows)}
    ours, old = table["ours"], table["old"]
    assert (ours["min_bits_min"], ours["min_bits_max"]) == (7, 9)
    assert ours["total_over_bound"] == pytest.approx(50.0)
    assert old["min_bits_min"] is None and old["total_over_bound"] is None

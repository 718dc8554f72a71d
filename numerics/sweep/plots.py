"""Plots of a sweep database: cost against F (log-log, fitted slopes) and cost against ρ.

:func:`plot_sweep` reads only the saved database (:class:`~numerics.sweep.store.SweepStore`)
and writes PNG files (matplotlib, Agg backend):

- ``cost_vs_facts__<family>.png``: per family variant, params/fact and params against F,
  log-log, one colour per method, one marker and line style per d, with the least-squares line
  of each (method, d) and the slopes (pooled over d, and per d) in the legend
  (:func:`numerics.sweep.fits.scaling_fits`);
- ``vs_gd__<family>.png``: where the sweep has GD rows for the family: params/fact against F,
  one panel per d, the mean over seeds of every method, GD's as the reference line with
  2× and 3× GD dashed (the efficiency targets);
- ``cost_vs_rho.png``: params/fact against ρ (min over the used values, and the median), one
  colour per method, over every family (:func:`numerics.sweep.fits.rho_fits`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from numerics.plotting import pyplot, save_figure
from numerics.sweep.fits import method_label, reached_rows, rho_fits, scaling_fits
from numerics.sweep.store import SweepStore

__all__ = ["plot_sweep"]

_MARKERS = "osD^v<>ph*"


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9=.-]+", "_", label).strip("_")


def _colours(methods):
    plt = pyplot()
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(sorted(methods))}


def _fit_line(ax, members, fit, column: str, colour, style: str, label: str | None) -> None:
    """The least-squares line of ``fit`` through ``members`` (its intercept refitted here)."""
    fs = np.geomspace(*fit["f_range"], 20)
    slope = fit["slope_params"]
    log_w = np.log([r["params"] for r in members])
    log_f = np.log([r["n_facts"] for r in members])
    intercept = float(np.mean(log_w - slope * log_f))
    ys = np.exp(intercept) * fs**slope / (fs if column == "params_per_fact" else 1)
    ax.plot(fs, ys, style, color=colour, lw=1, label=label)


def _facts_figure(label: str, rows, fits, colours, path: Path) -> None:
    """Markers per d; a line per (method, d) fit; the legend gives each method's slopes."""
    plt = pyplot()
    dims = sorted({r["dim"] for r in rows})
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, column, title in (
        (axes[0], "params_per_fact", "parameters per fact"),
        (axes[1], "params", "parameters W"),
    ):
        offset = 1 if column == "params_per_fact" else 0
        for method in sorted({method_label(r) for r in rows}):
            mine = [r for r in rows if method_label(r) == method]
            mine_fits = {f["dim"]: f for f in fits if f["method"] == method}
            slopes = ", ".join(
                f"d={d}: {mine_fits[d]['slope_params'] - offset:.2f}"
                for d in dims
                if d in mine_fits
            )
            pooled = mine_fits.get("all")
            legend = (
                f"{method}: slope {pooled['slope_params'] - offset:.2f} pooled"
                f"{' (' + slopes + ')' if len(dims) > 1 and slopes else ''}"
                if pooled
                else method
            )
            for i, d in enumerate(dims):
                at_d = [r for r in mine if r["dim"] == d]
                pts = sorted((r["n_facts"], r[column]) for r in at_d)
                if pts:
                    ax.plot(
                        *zip(*pts, strict=True),
                        _MARKERS[i % len(_MARKERS)],
                        color=colours[method],
                        alpha=0.6,
                        label=legend,
                    )
                    legend = None  # one legend entry per method
                if d in mine_fits:
                    _fit_line(
                        ax,
                        at_d,
                        mine_fits[d],
                        column,
                        colours[method],
                        styles[i % len(styles)],
                        None,
                    )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("facts F")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    markers = ", ".join(
        f"{_MARKERS[i % len(_MARKERS)]} {styles[i % len(styles)]}  d = {d}"
        for i, d in enumerate(dims)
    )
    fig.suptitle(
        f"{label}: cost at 100% recall (least-squares slopes of log W vs log F; "
        f"left panel: slope − 1)",
        fontsize=10,
    )
    fig.text(0.5, 0.01, markers, ha="center", fontsize=7)
    save_figure(fig, path, rect=(0, 0.04, 1, 1))


def _gd_reference_figure(label: str, rows, colours, path: Path) -> None:
    """Mean params/fact per (method, F), one panel per d, GD's line and its 2×, 3× bands."""
    plt = pyplot()
    dims = sorted({r["dim"] for r in rows})
    fig, axes = plt.subplots(1, len(dims), figsize=(5.2 * len(dims), 4.2), squeeze=False)

    def means(members):
        by_f: dict[int, list[float]] = {}
        for r in members:
            by_f.setdefault(r["n_facts"], []).append(r["params_per_fact"])
        return sorted((f, float(np.mean(v))) for f, v in by_f.items())

    for ax, d in zip(axes[0], dims, strict=True):
        at_d = [r for r in rows if r["dim"] == d]
        gd = means([r for r in at_d if r["method"] == "gd"])
        fs, cost = zip(*gd, strict=True)
        ax.plot(fs, cost, "-", color="black", lw=2.5, label="gd (reference)")
        for factor, style in ((2, "--"), (3, ":")):
            ax.plot(fs, [factor * c for c in cost], style, color="grey", lw=1)
            ax.annotate(f"{factor}× gd", (fs[-1], factor * cost[-1]), fontsize=7, color="grey")
        for method in sorted({method_label(r) for r in at_d if r["method"] != "gd"}):
            pts = means([r for r in at_d if method_label(r) == method])
            ax.plot(*zip(*pts, strict=True), "o-", color=colours[method], ms=4, label=method)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("facts F")
        ax.set_ylabel("parameters per fact (mean over seeds)")
        ax.set_title(f"d = {d}", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    fig.suptitle(f"{label}: cost at 100% recall against GD", fontsize=10)
    save_figure(fig, path)


def _rho_figure(rows, colours, path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    families = sorted({r["family_label"] for r in rows})
    for ax, stat in zip(axes, ("rho", "rho_median"), strict=True):
        for method in sorted({method_label(r) for r in rows}):
            for i, family in enumerate(families):
                pts = [
                    (r[stat], r["params_per_fact"])
                    for r in rows
                    if method_label(r) == method
                    and r["family_label"] == family
                    and (r.get(stat) or 0) > 0
                ]
                if pts:
                    ax.plot(
                        *zip(*pts, strict=True),
                        _MARKERS[i % len(_MARKERS)],
                        color=colours[method],
                        alpha=0.6,
                        label=method if i == 0 else None,
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ρ (min over used values)" if stat == "rho" else "median ρ_i")
        ax.set_ylabel("parameters per fact")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    markers = ", ".join(f"{_MARKERS[i % len(_MARKERS)]} {f}" for i, f in enumerate(families))
    fig.suptitle("cost against decodability", fontsize=10)
    fig.text(0.5, 0.01, markers, ha="center", fontsize=6)
    save_figure(fig, path, rect=(0, 0.05, 1, 1))


def plot_sweep(db, out_dir=None) -> dict[str, Any]:
    """Plot a sweep database and return the fits (module docstring).

    Parameters
    ----------
    db : str or Path
        A sweep database.
    out_dir : str or Path, optional
        Where the PNGs go (created); default: ``<db stem>_plots`` next to the database.

    Returns
    -------
    dict
        ``db``, ``out``, ``plots`` (paths), ``counts`` (rows per status), ``fits``
        (:func:`scaling_fits`) and ``rho_fits`` (:func:`rho_fits`).

    Raises
    ------
    InvalidInputError
        If ``db`` is not a readable sweep database.
    """
    db = Path(db)
    with SweepStore(db, readonly=True) as store:
        rows, counts = store.rows(), store.counts()
    out = Path(out_dir) if out_dir is not None else db.with_name(f"{db.stem}_plots")
    out.mkdir(parents=True, exist_ok=True)
    usable = reached_rows(rows)
    fits = scaling_fits(usable)
    colours = _colours({method_label(r) for r in usable})
    plots = []
    for label in sorted({r["family_label"] for r in usable}):
        path = out / f"cost_vs_facts__{_slug(label)}.png"
        _facts_figure(
            label,
            [r for r in usable if r["family_label"] == label],
            [f for f in fits if f["family"] == label],
            colours,
            path,
        )
        plots.append(str(path))
        family = [r for r in usable if r["family_label"] == label]
        gd_dims = {r["dim"] for r in family if r["method"] == "gd"}
        if gd_dims:
            path = out / f"vs_gd__{_slug(label)}.png"
            _gd_reference_figure(label, [r for r in family if r["dim"] in gd_dims], colours, path)
            plots.append(str(path))
    if any((r.get("rho") or 0) > 0 for r in usable):
        path = out / "cost_vs_rho.png"
        _rho_figure(usable, colours, path)
        plots.append(str(path))
    return {
        "db": str(db),
        "out": str(out),
        "plots": plots,
        "counts": counts,
        "fits": fits,
        "rho_fits": rho_fits(usable),
    }

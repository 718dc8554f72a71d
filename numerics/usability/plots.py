"""Plots of the capacity–usability tradeoff (matplotlib, PNG).

They read only result rows (dicts from :func:`numerics.usability.tradeoff.measure_point`), so
a saved JSON file can be re-plotted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from numerics.plotting import pyplot, save_figure

__all__ = ["plot_tradeoff", "plot_predictors", "plot_noise_curves"]


def plot_tradeoff(rows: list[dict], path) -> Path:
    """Bits per parameter (capacity) against Transformer recall (usability), one numbered
    point per recipe (the key is printed below), with the MLP's own recall under 10% input
    noise as a second panel."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    for ax, key, title in (
        (axes[0], "transformer_recall", "Transformer recall (fresh sequences)"),
        (axes[1], "noisy_recall_0.1", "MLP recall under 10% input noise"),
    ):
        for family, marker in (("spherical", "o"), ("conditioned", "s")):
            pts = [(i, r) for i, r in enumerate(rows, start=1) if r["family"] == family]
            if not pts:
                continue
            ax.scatter(
                [r["bits_per_param"] for _, r in pts],
                [r[key] for _, r in pts],
                marker=marker,
                s=50,
                label=f"{family} embeddings",
            )
            for i, r in pts:
                ax.annotate(
                    str(i),
                    (r["bits_per_param"], r[key]),
                    fontsize=8,
                    xytext=(4, 3),
                    textcoords="offset points",
                )
        ax.set_xscale("log")
        ax.set_xlabel("bits per parameter (capacity: more is more compressed)")
        ax.set_ylabel(title)
        ax.set_ylim(-0.03, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    key_text = "   ".join(f"{i}: {r['label']}" for i, r in enumerate(rows, start=1))
    fig.text(0.01, 0.01, key_text, fontsize=7, wrap=True)
    fig.suptitle(f"capacity–usability tradeoff, F = {rows[0]['n_facts']}")
    return save_figure(fig, path, rect=(0, 0.08, 1, 1))


def plot_predictors(rows: list[dict], fits: list[dict], path, top: int = 4) -> Path:
    """Transformer recall against the ``top`` best predictors, with their logistic fits
    (blue: spherical embeddings, orange: conditioned)."""
    plt = pyplot()
    chosen = fits[:top]
    fig, axes = plt.subplots(1, len(chosen), figsize=(4 * len(chosen), 3.8), squeeze=False)
    y = np.array([r["transformer_recall"] for r in rows])
    for ax, fit in zip(axes[0], chosen, strict=True):
        x = np.array([r[fit["metric"]] for r in rows], dtype=float)
        xs = np.log10(np.maximum(x, 1e-300)) if fit["log10"] else x
        colors = ["tab:blue" if r["family"] == "spherical" else "tab:orange" for r in rows]
        ax.scatter(xs, y, s=30, c=colors)
        grid = np.linspace(xs.min(), xs.max(), 200)
        ax.plot(grid, 1 / (1 + np.exp(-(fit["a"] + fit["b"] * grid))), "r-", lw=1)
        ax.set_xlabel(("log10 " if fit["log10"] else "") + fit["metric"])
        ax.set_ylabel("Transformer recall")
        ax.set_title(
            f"Spearman {fit['spearman']:.2f}, logistic R² {fit['logistic_r2']:.2f}", fontsize=9
        )
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_noise_curves(rows: list[dict], path) -> Path:
    """Recall of each MLP alone under relative input noise σ (renormalised, as the
    Transformer's frozen RMSNorm does)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rows:
        levels = sorted(
            float(k.removeprefix("noisy_recall_")) for k in r if k.startswith("noisy_recall_")
        )
        ax.plot(
            [0.0, *levels],
            [r["mlp_recall"], *(r[f"noisy_recall_{s}"] for s in levels)],
            "o-" if r["family"] == "spherical" else "s--",
            ms=3,
            label=r["label"],
        )
    ax.set_xlabel("relative noise σ (‖ε‖ ≈ σ‖k‖)")
    ax.set_ylabel("MLP recall of noisy keys")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, path)

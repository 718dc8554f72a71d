"""The editing table as a plot: each method's score and its parts against the fraction of
facts edited. Reads only result rows (dicts from :func:`numerics.editing.edit_all`), so a saved
JSON file can be re-plotted."""

from __future__ import annotations

from pathlib import Path

from numerics.plotting import pyplot, save_figure

__all__ = ["plot_edit_sweep"]


def plot_edit_sweep(sweep: dict[float, list[dict]], path) -> Path:
    """Score (and its three parts) of each editing method against the fraction edited."""
    plt = pyplot()
    fractions = sorted(sweep)
    methods = [r["method"] for r in sweep[fractions[0]] if r["method"] != "none"]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), sharey=True)
    for ax, key in zip(axes, ("score", "efficacy", "paraphrase", "specificity"), strict=True):
        for method in methods:
            ax.plot(
                fractions,
                [next(r[key] for r in sweep[f] if r["method"] == method) for f in fractions],
                "o-",
                label=method,
            )
        ax.set_xlabel("fraction of facts edited")
        ax.set_title(key)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("value")
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)

"""What every plot of the project shares: a headless pyplot and one way to save a PNG."""

from __future__ import annotations

from pathlib import Path

#: Resolution of every PNG the project writes.
DPI = 120


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed; imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, rect=(0, 0, 1, 1)) -> Path:
    """Lay out ``fig`` within ``rect``, write it to ``path`` as PNG, close it; the path."""
    path = Path(path)
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=DPI)
    pyplot().close(fig)
    return path

"""``factmlp demo``: the main job on a built-in default fact set.

Makes a tied spherical fact set with a random bijection (the paper's Figure 1 setting),
checks it (ρ over the used values, feasibility), sets it against the counting bound, and
writes the fact set and a plot of the per-value decodability ρ_i to ``out_dir``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from numerics.generators import FactSetSpec
from theory.bounds import bound_report
from theory.feasibility import feasibility

__all__ = ["DemoConfig", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    dim: int = 64
    n_facts: int = 1024
    seed: int = 0
    out_dir: str = "factmlp-demo"
    bits_per_param: float = 2.0


def _plot_rho(rho: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(rho, bins=50, color="tab:blue")
    ax.axvline(rho.min(), color="tab:red", linestyle="--", label=f"ρ = min ρ_i = {rho.min():.3f}")
    ax.set_xlabel("ρ_i (decodability of value i)")
    ax.set_ylabel("values")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_demo(config: DemoConfig = DemoConfig(), *, progress: bool = False) -> dict:
    """Run the demo pipeline and return its summary (JSON-ready)."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = FactSetSpec(family="spherical", n_facts=config.n_facts, n_values=config.n_facts,
                       dim=config.dim, seed=config.seed, fact_map="bijection", tied=True)
    factset = spec.build()
    factset_path = factset.save(out / "factset.npz")

    start = time.perf_counter()
    report = feasibility(factset.keys, factset.values, factset.fact_map, progress=progress)
    rho_seconds = time.perf_counter() - start
    rho = report.decodability.rho_per_value[factset.used_values]
    plot_path = out / "rho_per_value.png"
    _plot_rho(rho, plot_path, f"spherical values, M = {factset.n_values}, d = {factset.dim}")

    bound = bound_report(factset.n_facts, factset.n_values, config.bits_per_param, bijective=True)
    return {
        "config": asdict(config),
        "n_facts": factset.n_facts,
        "dim": factset.dim,
        "rho": report.rho,
        "median_rho_i": float(np.median(rho)),
        "feasible": report.feasible,
        "rho_seconds": rho_seconds,
        "bits_required": bound.bits_required,
        "min_params_at_bits": bound.min_params,
        "bound_params_per_fact": bound.min_params / factset.n_facts,
        "factset": str(factset_path),
        "plot": str(plot_path),
    }

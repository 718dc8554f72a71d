"""``factmlp demo``: the main job on a built-in default fact set.

Makes a tied spherical fact set with a random bijection (the paper's Figure 1 setting),
checks it (ρ, feasibility), constructs a gated MLP that stores every fact, verifies it in
float64/float32/bfloat16, sets its size against the counting bound, and writes the fact set,
the MLP (safetensors) and a plot to ``out_dir``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from numerics.embeddings.generators import FactSetSpec
from numerics.plotting import pyplot, save_figure
from theory.bounds import bound_report, is_bijection
from theory.feasibility import feasibility

__all__ = ["DemoConfig", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    dim: int = 64
    n_facts: int = 1024
    seed: int = 0
    out_dir: str = "factmlp-demo"
    bits_per_param: float = 2.0


def _plot(rho: np.ndarray, margins: np.ndarray, path: Path, title: str) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.hist(rho, bins=50, color="tab:blue")
    left.axvline(rho.min(), color="tab:red", linestyle="--", label=f"ρ = {rho.min():.3f}")
    left.set_xlabel("ρ_i (decodability of value i)")
    left.set_ylabel("values")
    left.legend()
    right.hist(margins, bins=50, color="tab:green")
    right.axvline(
        margins.min(), color="tab:red", linestyle="--", label=f"min = {margins.min():.3g}"
    )
    right.set_xlabel("decoding margin of each key (float64)")
    right.set_ylabel("keys")
    right.legend()
    fig.suptitle(title)
    save_figure(fig, path)


def run_demo(config: DemoConfig = DemoConfig(), *, progress: bool = False) -> dict:
    """Run the demo pipeline and return its summary (JSON-ready)."""
    # Imported here, not at the top: the CLI reads DemoConfig's defaults without torch.
    from numerics.construction.pipeline import ConstructionConfig, construct
    from numerics.mlp import save_mlp
    from numerics.precision.bits import bits_frontier

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = FactSetSpec(
        family="spherical",
        n_facts=config.n_facts,
        n_values=config.n_facts,
        dim=config.dim,
        seed=config.seed,
        fact_map="bijection",
        tied=True,
    )
    factset = spec.build()
    factset.save(out / "factset.npz")

    report = feasibility(factset.keys, factset.values, factset.fact_map, progress=progress)
    built = construct(factset, ConstructionConfig(seed=config.seed), progress=progress)
    save_mlp(out / "mlp.safetensors", built.weights, built.metadata())
    bijective = is_bijection(factset.fact_map, factset.n_values)
    bound = bound_report(
        factset.n_facts, factset.n_values, config.bits_per_param, bijective=bijective
    )
    bits = bits_frontier(built.weights, factset)

    plot_path = out / "demo.png"
    _plot(
        report.decodability.rho_per_value[factset.used_values],
        built.recall.margins,
        plot_path,
        f"tied spherical, F = M = {factset.n_facts}, d = {factset.dim}: "
        f"{built.params / factset.n_facts:.1f} params/fact, recall {built.recall.accuracy:.3f}",
    )
    return {
        "config": asdict(config),
        "rho": report.rho,
        "recall": built.recall.accuracy,
        **built.precision_summary(),
        "params": built.params,
        "params_per_fact": built.params / factset.n_facts,
        "code_dim": built.code_dim,
        "hidden": built.hidden,
        "bound_params_per_fact": bound.min_params / factset.n_facts,
        # parameters against the bound's parameters at bits_per_param bits each (an assumed
        # precision), and the weight bits actually needed against the bound's bits
        "ratio_to_bound": built.params / bound.min_params,
        "min_bits": bits.min_bits,
        "total_bits_over_bound": bits.total_over_bound,
        "smallest_float_format": bits.smallest_format,
        "construct_seconds": built.seconds,
        "files": [str(out / "factset.npz"), str(out / "mlp.safetensors"), str(plot_path)],
    }

"""Shared writer for benchmark results: one JSON file and one markdown table per benchmark.

Results land in ``benchmarks/results/NAME.json`` and ``benchmarks/results/NAME.md``, each with
the machine they ran on, so numbers from different machines are never compared silently.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import numpy
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        # 1/5/15-minute load when the results were written: other work may share the CPUs
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_results(
    name: str,
    rows: list[dict],
    *,
    summary: dict,
    command: str,
    title: str,
    outdir: str | os.PathLike | None = None,
) -> Path:
    """Write ``rows`` (one dict per measured point) and ``summary`` (targets and verdicts)
    into ``outdir`` (default ``benchmarks/results``)."""
    out = Path(outdir) if outdir is not None else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "command": command,
        "machine": machine(),
        "summary": summary,
        "rows": rows,
    }
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {payload['machine']['processor']}, {payload['machine']['cpus']} CPUs, "
        f"torch {payload['machine']['torch']}, {payload['machine']['date']}",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + " --- |" * len(columns),
    ]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    lines += ["", "Summary:", ""] + [f"- {k}: {_cell(v)}" for k, v in summary.items()]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    return out / f"{name}.json"


def precision_summary(weights, factset) -> dict:
    """Certified float32 recall (:func:`numerics.precision.certify_recall`) and the bits
    frontier (:func:`numerics.precision.bits.bits_frontier`, checked) of a built MLP."""
    from numerics.precision.bits import bits_frontier
    from numerics.precision.certificate import certify_recall

    cert = certify_recall(weights, factset, "float32")
    frontier = bits_frontier(weights, factset).to_dict()
    return {
        "float32_certified_fraction": cert.certified_fraction,
        "min_bits": frontier["min_bits"],
        "smallest_format": frontier["smallest_format"],
        "total_bits_over_bound": frontier["total_over_bound"],
    }

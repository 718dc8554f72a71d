"""Benchmark: the cost of the dense encoder's kernel eigenvalue certificate.

``python benchmarks/bench_kernel_certificate.py [--quick] [--repeats N] [--threads N]``

1. **Overhead** at F = 2048, d = 64 (tied spherical, seed 0): ``solve_encoder`` on the
   fact set's keys with random codes (m = 23, the code dimension ``construct`` picks there:
   the encoder's cost does not depend on the codes' values), and ``construct`` on the fact
   set, each timed with the certificate and with it replaced by a stub, in turn (best of
   ``--repeats`` runs; each run clears the encoder's one-point cache first), and the
   certificate's own time inside ``construct``. Target: it adds at most 30% to the rest of
   ``construct`` (``certificate_share``; the difference of the two construct times is
   reported too, but their run-to-run spread on a shared machine is larger than it).
2. **Shapes**: the certificate alone (its own λ_min estimate, as ``python -m proofs_check
   measure-zero-shapes`` runs it) at every shape of ``bench_construct_params`` (d ∈ {32, 64,
   128}, F ∈ {d²/8, d²/4, d²/2}): seconds, the bound on λ_min, the bound on λ_max, and
   their ratio (a rigorous lower bound on 1/κ). ``--quick``: d ≤ 64 and F = 512, d = 32 for
   the overhead.

Times are wall-clock on a shared machine (the load average is recorded). ``--threads N``
sets torch's threads and numpy's BLAS threads (``OPENBLAS_NUM_THREADS``, before numpy is
imported): on a loaded two-core machine OpenBLAS with two threads was measured 6–15× slower
than with one (0.16 s against 1–2.6 s for the certificate at F = 512).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import write_results  # noqa: E402

TARGET_OVERHEAD = 0.30
CODE_DIM = 23


def _seconds(function) -> float:
    import numerics.construction.encoder_dense as encoder_dense

    encoder_dense._last_kernel_bound.clear()  # no certificate carried over from another run
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def overhead(n_facts: int, dim: int, repeats: int) -> dict:
    import numpy as np

    import numerics.construction.encoder_dense as encoder_dense
    from numerics.construction.pipeline import construct
    from numerics.embeddings.generators import make_factset

    fs = make_factset("spherical", n_facts=n_facts, dim=dim, seed=0, tied=True)
    codes = np.random.default_rng(0).standard_normal((n_facts, CODE_DIM))
    real = encoder_dense.kernel_eigenvalue_certificate
    inside: list[float] = []  # seconds of each certificate computed while timing

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = real(*args, **kwargs)
        inside.append(time.perf_counter() - start)
        return result

    def stub(*args, **kwargs):
        return SimpleNamespace(lower_bound=float("nan"))

    def solve():
        return encoder_dense.solve_encoder(fs.keys, codes, tolerance=1e-6)

    row = {"part": "overhead", "n_facts": n_facts, "dim": dim}
    times: dict[str, float] = {}
    in_construct: list[tuple[int, float]] = []  # (certificates, their seconds) per construct
    try:  # with and without in turn, so both see the same load; best of the repeats
        for _ in range(repeats):
            for label, certificate in (("with", timed), ("without", stub)):
                encoder_dense.kernel_eigenvalue_certificate = certificate
                for name, function in (("solve", solve), ("construct", lambda: construct(fs))):
                    inside.clear()
                    key = f"{name}_{label}_s"
                    times[key] = min(times.get(key, float("inf")), _seconds(function))
                    if name == "construct" and label == "with":
                        in_construct.append((len(inside), sum(inside)))
    finally:
        encoder_dense.kernel_eigenvalue_certificate = real
    row.update(times)
    encoder_dense._last_kernel_bound.clear()  # the stub's NaN may be cached for this point
    row["kernel_eigenvalue_lower_bound"] = solve().kernel_eigenvalue_lower_bound
    row["solve_overhead"] = row["solve_with_s"] / row["solve_without_s"] - 1
    row["construct_overhead"] = row["construct_with_s"] / row["construct_without_s"] - 1
    # The certificate's own time inside construct (once per point: construct's code
    # dimensions share it) against the rest: the difference of two construct times above is
    # dominated by their run-to-run spread on a shared machine.
    row["certificates_per_construct"] = max(count for count, _ in in_construct)
    row["certificate_in_construct_s"] = min(seconds for _, seconds in in_construct)
    row["certificate_share"] = row["certificate_in_construct_s"] / (
        row["construct_with_s"] - row["certificate_in_construct_s"]
    )
    return row


def shape_rows(large: bool) -> list[dict]:
    from proofs_check.measure_zero_shapes import shape_point, shapes
    from theory.kernel_certificate import kernel_eigenvalue_certificate

    rows = []
    for n_facts, dim in shapes(large):
        Z, G = shape_point(n_facts, dim)
        start = time.perf_counter()
        cert = kernel_eigenvalue_certificate(Z, G, activation="silu")
        seconds = time.perf_counter() - start
        rows.append(
            {
                "part": "shape",
                "n_facts": n_facts,
                "dim": dim,
                "gate_rows": cert.shape[2],
                "certified": cert.certified,
                "lambda_min_lower": cert.lower_bound,
                "lambda_max_upper": cert.upper_bound,
                "ratio_lower": cert.lower_bound / cert.upper_bound,
                "residual_norm": cert.residual_norm,
                "kernel_error": cert.kernel_error,
                "seconds": seconds,
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="d ≤ 64; overhead at F = 512")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch and BLAS threads (default: theirs)")
    args = parser.parse_args()
    if args.threads is not None:
        assert "numpy" not in sys.modules, "BLAS threads must be set before numpy is imported"
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    point = (512, 32) if args.quick else (2048, 64)
    rows = [overhead(*point, args.repeats)]
    print(rows[0], flush=True)
    rows += shape_rows(large=not args.quick)
    shapes_ = [r for r in rows if r["part"] == "shape"]
    summary = {
        "overhead_point": f"F={point[0]}, d={point[1]}",
        "construct_overhead": rows[0]["construct_overhead"],
        "certificate_share_of_construct": rows[0]["certificate_share"],
        "solve_overhead": rows[0]["solve_overhead"],
        "target_construct_overhead": TARGET_OVERHEAD,
        "met": rows[0]["certificate_share"] <= TARGET_OVERHEAD,
        "shapes_certified": f"{sum(r['certified'] for r in shapes_)}/{len(shapes_)}",
        "shape_seconds_total": sum(r["seconds"] for r in shapes_),
        "shape_seconds_d128": sum(r["seconds"] for r in shapes_ if r["dim"] == 128),
    }
    name = "bench_kernel_certificate" + ("_quick" if args.quick else "")
    command = "python benchmarks/bench_kernel_certificate.py" + (" --quick" if args.quick else "")
    command += "" if args.threads is None else f" --threads {args.threads}"
    print(write_results(name, rows, summary=summary, command=command, title="Kernel certificate"))


if __name__ == "__main__":
    main()

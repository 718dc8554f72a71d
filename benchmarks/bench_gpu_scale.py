"""Benchmark: ``construct`` on a GPU at scale: time, peak memory and certified float32 recall.

``python benchmarks/bench_gpu_scale.py [--sizes 262144,1048576] [--dim 256] [--device cuda]
[--outdir benchmarks/results/gpu] [--time-limit 100,230] [--name bench_gpu_scale]``

Points: tied spherical fact sets with F = M (a random bijection), d = ``--dim``, one per
size, in the order given (the default runs 2^18, then 2^20). Each point runs
:func:`numerics.construction.pipeline.construct` with ``device`` (encoder solve, float64
recall, the float32 certificate and the cast recalls all on that device) in its own process
under its own wall-clock limit (``--time-limit``: one value for every point, or one per size),
so a point that runs out of time is recorded as ``timeout`` and the next one still runs.
JSON and markdown are rewritten after every point, so a run killed from outside keeps the
points it finished; each child also appends the start and end of each step of
``construct`` (code-dimension search, encoder solve, recalls, certificates) to
``NAME_progress.jsonl`` as it goes, which shows where a point that timed out spent its time.

Recorded per point: ``seconds`` (construct), ``peak_gpu_allocated_mb`` and
``peak_gpu_reserved_mb`` (``torch.cuda.max_memory_allocated`` / ``_reserved``; null off
CUDA), ``peak_rss_mb``, ``recall`` (float64), ``float32_certified_fraction`` (certified:
:func:`numerics.precision.certify_recall`'s arithmetic model), ``float32_recall`` (measured
by casting on this device), ``params_per_fact``, ``code_dim``, ``hidden``, ``encoder``,
``certify_seconds`` (the final float32 certificate's bounds). On a CPU (``--device cpu``,
small sizes) it exercises the same code; its times say nothing about a GPU.

No address-space cap is set on CUDA (the driver reserves far more virtual memory than it
uses, so ``RLIMIT_AS`` would break it); on a CPU the cap is 12 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _child import measure_child, peak_rss_mb  # noqa: E402

DEFAULT_SIZES = (2**18, 2**20)
#: Per-point limits that keep both default points, after the CUDA tests, inside the
#: 8 minutes ``benchmarks/gpu_check.sh`` allows.
DEFAULT_TIME_LIMITS = (100.0, 230.0)
CPU_MEMORY_CAP = 12 * 10**9


def child(n_facts: int, dim: int, device: str, seed: int, progress_path: str) -> None:
    """Build one point on ``device`` and print its record as JSON (the last stdout line)."""
    start = time.perf_counter()

    def stage(name: str, **extra) -> None:
        record = {"n_facts": n_facts, "stage": name, "t": time.perf_counter() - start, **extra}
        with open(progress_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    import torch

    from numerics.construction.pipeline import ConstructionConfig, construct
    from numerics.embeddings.generators import make_factset

    cuda = torch.device(device).type == "cuda"
    stage("start", device=device, gpu=torch.cuda.get_device_name(device) if cuda else None)
    _log_steps(stage, device if cuda else None)
    factset = make_factset("spherical", n_facts=n_facts, dim=dim, seed=seed, tied=True)
    stage("factset")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    built = construct(factset, ConstructionConfig(seed=seed, device=device))
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    certificate = built.float32_certificate
    record = {
        "n_facts": n_facts,
        "n_values": n_facts,
        "dim": dim,
        "seed": seed,
        "device": device,
        "seconds": seconds,
        "peak_gpu_allocated_mb": torch.cuda.max_memory_allocated(device) / 1e6 if cuda else None,
        "peak_gpu_reserved_mb": torch.cuda.max_memory_reserved(device) / 1e6 if cuda else None,
        "peak_rss_mb": peak_rss_mb(),
        "recall": built.recall.accuracy,
        "float32_certified_fraction": certificate.certified_fraction,
        "float32_recall": built.float32.accuracy,
        "params_per_fact": built.params / n_facts,
        "code_dim": built.code_dim,
        "hidden": built.hidden,
        "encoder": built.encoder.method,
        "code_dims_tried": len(built.code_dims_tried),
        "certify_seconds": certificate.seconds,
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
    }
    stage("done", seconds=seconds)
    print(json.dumps(record))


def _log_steps(stage, cuda_device) -> None:
    """Log the start and end of each step of ``construct`` (the code-dimension search, the
    encoder solve, the recalls, the certificates) through ``stage``, by wrapping those names
    in the pipeline module of this child process only: a point that runs out of time then
    shows which step had its time. Each end records the peak GPU memory so far."""
    import torch

    import numerics.construction.pipeline as pipeline

    def wrap(name, original):
        def logged(*args, **kwargs):
            # the format of cast_recall and certify_recall: their third argument
            takes_format = name in ("cast_recall", "certify_recall") and len(args) > 2
            detail = {"dtype": str(args[2]).removeprefix("torch.")} if takes_format else {}
            stage(f"{name} start", **detail)
            result = original(*args, **kwargs)
            if cuda_device is not None:
                detail["peak_gpu_allocated_mb"] = torch.cuda.max_memory_allocated(cuda_device) / 1e6
            stage(f"{name} end", **detail)
            return result

        return logged

    for name in ("choose_code_dim", "_solve", "recall", "cast_recall", "certify_recall"):
        setattr(pipeline, name, wrap(name, getattr(pipeline, name)))


def _limits(text: str | None, n_points: int) -> list[float]:
    if text is None:  # the defaults by position; further points get the last one
        return [DEFAULT_TIME_LIMITS[min(i, len(DEFAULT_TIME_LIMITS) - 1)] for i in range(n_points)]
    limits = [float(x) for x in text.split(",")]
    if len(limits) == 1:
        return limits * n_points
    if len(limits) != n_points:
        raise SystemExit(f"--time-limit: give one value or one per size ({n_points})")
    return limits


def _write(args, rows: list[dict], limits: list[float], command: str) -> None:
    """Write the results in a fresh process: ``_report`` imports torch, and this parent must
    stay lean (a child's peak RSS starts from its parent's RSS, see ``_child``)."""
    payload = {
        "name": args.name,
        "outdir": str(args.outdir),
        "rows": rows,
        "command": command,
        "summary": {
            "device": args.device,
            "dim": args.dim,
            "time_limits_s": limits,
            "points_ok": sum(r["status"] == "ok" for r in rows),
            "all_recall_1": all(r.get("recall") == 1.0 for r in rows),
            "all_float32_certified": all(r.get("float32_certified_fraction") == 1.0 for r in rows),
        },
    }
    subprocess.run(
        [sys.executable, __file__, "--write"], input=json.dumps(payload), text=True, check=True
    )


def _write_from_stdin() -> None:
    from _report import write_results

    payload = json.loads(sys.stdin.read())
    write_results(
        payload["name"],
        payload["rows"],
        summary=payload["summary"],
        command=payload["command"],
        title=f"Construction at scale on {payload['summary']['device']}: time, peak memory, "
        "certified float32 recall",
        outdir=payload["outdir"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--outdir", type=Path, default=ROOT / "results" / "gpu")
    parser.add_argument(
        "--time-limit", help="seconds per point: one value, or one per size (default 100,230)"
    )
    parser.add_argument("--name", default="bench_gpu_scale", help="result file stem")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n_facts, dim, device, seed, progress = args.child
        child(int(n_facts), int(dim), device, int(seed), progress)
        return
    if args.write:
        _write_from_stdin()
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    limits = _limits(args.time_limit, len(sizes))
    args.outdir.mkdir(parents=True, exist_ok=True)
    progress = args.outdir / f"{args.name}_progress.jsonl"
    progress.unlink(missing_ok=True)
    command = " ".join(["python benchmarks/bench_gpu_scale.py", *sys.argv[1:]])
    cuda = args.device.startswith("cuda")
    rows = []
    for size, limit in zip(sizes, limits, strict=True):
        argv = [__file__, "--child", str(size), str(args.dim), args.device, str(args.seed)]
        record = measure_child(
            [*argv, str(progress)],
            timeout=limit,
            memory_cap_bytes=None if cuda else CPU_MEMORY_CAP,
        )
        record.setdefault("n_facts", size)
        record.setdefault("dim", args.dim)
        record["time_limit_s"] = limit
        rows.append(record)
        print(json.dumps(record), flush=True)
        _write(args, rows, limits, command)


if __name__ == "__main__":
    main()

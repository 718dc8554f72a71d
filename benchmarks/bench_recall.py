"""Benchmark: chunked strict recall against a plain chunked ``matmul + argmax``.

``python benchmarks/bench_recall.py`` (F = M = 2^15, d = 128) or ``--quick`` (a small smoke
run, written as ``bench_recall_quick``). For each dtype (float32, float64) it times, in the
same process and interleaved, best of ``--repeats``:

- ``recall``: :func:`numerics.strict_recall.recall` with its default chunks (every margin, exact tie
  handling, no F×M matrix);
- ``baseline``: the same g(K) on the same key chunks, then ``g(K_chunk) Vᵀ`` against all M
  values and ``argmax`` (accuracy only, no margins), in the same dtype.

g is a fixed seeded gated MLP (h = 256, SiLU) wrapped in :class:`numerics.mlp.GatedMLP`.
Peak RSS of each is measured in its own fresh subprocess (``ru_maxrss`` of that child via
``os.wait4``), together with a child that only builds the inputs (the floor: Python, torch,
the fact set). The children are spawned before this process imports numpy or torch, because
a child's ru_maxrss includes its parent's RSS at fork; each child also reports its own VmHWM as
a cross-check. Targets: time ratio recall/baseline ≤ 1.2, peak RSS ≤ 1.5 GB (1.5·10^9 bytes).

``--sweep`` times ``recall`` over several chunk shapes instead (``bench_recall_sweep``): the
evidence for the default chunking in :mod:`numerics.strict_recall`. The timings need an otherwise idle
machine; a concurrent CPU-heavy process distorts them by several times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

# numpy, torch and numerics are imported inside the functions, not here: on Linux a child's
# ru_maxrss starts from its parent's RSS at fork (the kernel carries the old memory map's
# high-water mark across exec), so the parent must still be a lean interpreter (~10 MB) when
# it spawns the RSS-measuring children.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

SEED = 20251130
TARGET_RATIO = 1.2
TARGET_RSS_BYTES = 1.5e9
DTYPE_NAMES = ("float32", "float64")
SIZES = {
    "full": {"n_facts": 2**15, "n_values": 2**15, "dim": 128, "hidden": 256},
    "quick": {"n_facts": 2**11, "n_values": 2**11, "dim": 32, "hidden": 64},
}


def build_problem(n_facts: int, n_values: int, dim: int, hidden: int):
    """Seeded fact set (unit keys and values, random bijection-like map) and gated MLP."""
    import numpy as np
    import torch

    from numerics.mlp import GatedMLPWeights

    rng = np.random.default_rng(SEED)
    keys = rng.normal(size=(n_facts, dim))
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    values = rng.normal(size=(n_values, dim))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    fact_map = rng.permutation(max(n_facts, n_values))[:n_facts] % n_values
    factset = types.SimpleNamespace(keys=keys, values=values, fact_map=fact_map.astype(np.int64))
    gen = torch.Generator().manual_seed(SEED)
    weights = GatedMLPWeights(
        torch.randn(hidden, dim, generator=gen, dtype=torch.float64) / dim**0.5,
        torch.randn(hidden, dim, generator=gen, dtype=torch.float64) / dim**0.5,
        torch.randn(dim, hidden, generator=gen, dtype=torch.float64) / hidden**0.5,
        activation="silu",
    )
    return factset, weights


def baseline_accuracy(mlp, factset, *, key_chunk: int, dtype) -> float:
    """Plain chunked decoding: argmax_j <g(k_i), v_j> over all M values at once per key chunk."""
    import torch

    values = torch.from_numpy(factset.values).to(dtype)
    fact_map = torch.from_numpy(factset.fact_map)
    correct = 0
    with torch.no_grad():
        for start in range(0, factset.keys.shape[0], key_chunk):
            x = torch.from_numpy(factset.keys[start : start + key_chunk]).to(dtype)
            logits = mlp(x) @ values.T
            correct += int((logits.argmax(dim=1) == fact_map[start : start + key_chunk]).sum())
    return correct / factset.keys.shape[0]


def run_once(method: str, factset, weights, dtype_name: str, key_chunk: int) -> tuple[float, float]:
    """(seconds, accuracy) of one call of ``method`` (``recall`` or ``baseline``)."""
    import torch

    from numerics.mlp import GatedMLP
    from numerics.strict_recall import recall

    dtype = getattr(torch, dtype_name)
    mlp = GatedMLP(weights.to(dtype=dtype))
    start = time.perf_counter()
    if method == "recall":
        accuracy = recall(mlp, factset, dtype=dtype).accuracy
    else:
        accuracy = baseline_accuracy(mlp, factset, key_chunk=key_chunk, dtype=dtype)
    return time.perf_counter() - start, accuracy


def child_main(method: str, dtype_name: str, size: str) -> None:
    """Entry point of a fresh subprocess whose peak RSS the parent reads."""
    from numerics.strict_recall import default_chunks

    factset, weights = build_problem(**SIZES[size])
    key_chunk, _ = default_chunks(len(factset.keys), len(factset.values))
    result = {"method": method}
    if method != "setup":
        seconds, accuracy = run_once(method, factset, weights, dtype_name, key_chunk)
        result.update(seconds=seconds, accuracy=accuracy)
    # Cross-check of ru_maxrss: the high-water mark of this process's own memory map.
    with open("/proc/self/status") as status:
        hwm = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    result["vm_hwm_bytes"] = int(hwm[0]) * 1024 if hwm else None
    print(json.dumps(result))


def peak_rss_bytes(method: str, dtype_name: str, size: str) -> tuple[int, dict]:
    """Run ``method`` in a fresh interpreter; return its ru_maxrss (bytes) and its report."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        method,
        "--dtype",
        dtype_name,
        "--size",
        size,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    # wait4 gives the rusage of this child alone (RUSAGE_CHILDREN would be a max over all).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {method}/{dtype_name} failed ({proc.returncode}): {err[-2000:]}")
    kib = usage.ru_maxrss  # Linux reports KiB
    return kib * 1024, json.loads(out.strip().splitlines()[-1])


SWEEP_CHUNKS = [
    (512, 2048),
    (1024, 1024),
    (1024, 2048),
    (2048, 1024),
    (512, 4096),
    (2048, 2048),
    (1024, 4096),
    (4096, 4096),
    (512, 32768),
]


def sweep(repeats: int) -> int:
    """Time ``recall`` for several (key_chunk, value_chunk) at the full size: the evidence for
    the default chunking (``numerics.strict_recall.LOGIT_BLOCK``)."""
    import torch

    from numerics.mlp import GatedMLP
    from numerics.strict_recall import recall

    factset, weights = build_problem(**SIZES["full"])
    rows = []
    for dtype_name in DTYPE_NAMES:
        dtype = getattr(torch, dtype_name)
        mlp = GatedMLP(weights.to(dtype=dtype))
        recall(mlp, factset, dtype=dtype)  # warm-up (thread pool, allocator), not timed
        best = {chunks: float("inf") for chunks in SWEEP_CHUNKS}
        for _ in range(repeats):  # round-robin, so a burst of outside load hits one repeat
            for key_chunk, value_chunk in SWEEP_CHUNKS:
                start = time.perf_counter()
                recall(mlp, factset, dtype=dtype, key_chunk=key_chunk, value_chunk=value_chunk)
                best[key_chunk, value_chunk] = min(
                    best[key_chunk, value_chunk], time.perf_counter() - start
                )
        for (key_chunk, value_chunk), seconds in best.items():
            row = {
                "dtype": dtype_name,
                "key_chunk": key_chunk,
                "value_chunk": value_chunk,
                "block_logits_log2": math.log2(key_chunk * value_chunk),
                "recall_s": seconds,
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    from benchmarks._report import write_results

    fastest = {
        name: min((r for r in rows if r["dtype"] == name), key=lambda r: r["recall_s"])
        for name in DTYPE_NAMES
    }
    summary = {
        f"fastest_{name}": f"{r['key_chunk']}x{r['value_chunk']}" for name, r in fastest.items()
    }
    summary["seed"] = SEED
    write_results(
        "bench_recall_sweep",
        rows,
        summary=summary,
        command=f"python benchmarks/bench_recall.py --sweep --repeats {repeats}",
        title="recall time by chunk sizes (F = M = 2^15, d = 128, h = 256)",
    )
    return 0


def _mb(n_bytes: int | None) -> float | None:
    return None if n_bytes is None else n_bytes / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small smoke run (F = M = 2^11, d = 32)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats (default 3, quick 2)"
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="time recall over several chunk sizes instead (full size)",
    )
    parser.add_argument("--child", choices=["recall", "baseline", "setup"], help=argparse.SUPPRESS)
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float64", help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.dtype, args.size)
        return 0

    if args.sweep:
        return sweep(args.repeats or 3)
    size = "quick" if args.quick else "full"
    repeats = args.repeats or (2 if args.quick else 3)
    dims = SIZES[size]
    load_start = os.getloadavg()[0]  # recorded: outside CPU load distorts the timings
    # Peak memory first, while this process is still lean (see the note at the imports).
    rss, hwm = {}, {}
    for dtype_name in DTYPE_NAMES:
        for method in ("recall", "baseline", "setup"):
            rss[dtype_name, method], report = peak_rss_bytes(method, dtype_name, size)
            hwm[dtype_name, method] = report["vm_hwm_bytes"]
    from numerics.strict_recall import default_chunks

    factset, weights = build_problem(**dims)
    key_chunk, value_chunk = default_chunks(dims["n_facts"], dims["n_values"])
    rows = []
    for dtype_name in DTYPE_NAMES:
        times = {"recall": [], "baseline": []}
        accuracy = {}
        for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
            for method in times:
                seconds, accuracy[method] = run_once(
                    method, factset, weights, dtype_name, key_chunk
                )
                times[method].append(seconds)
        row = {
            "dtype": dtype_name,
            **{k: v for k, v in dims.items()},
            "key_chunk": key_chunk,
            "value_chunk": value_chunk,
            "repeats": repeats,
            "recall_s": min(times["recall"]),
            "baseline_s": min(times["baseline"]),
            "ratio": min(times["recall"]) / min(times["baseline"]),
            "recall_rss_mb": rss[dtype_name, "recall"] / 1e6,
            "baseline_rss_mb": rss[dtype_name, "baseline"] / 1e6,
            "setup_rss_mb": rss[dtype_name, "setup"] / 1e6,
            "recall_hwm_mb": _mb(hwm[dtype_name, "recall"]),
            "baseline_hwm_mb": _mb(hwm[dtype_name, "baseline"]),
            "recall_accuracy": accuracy["recall"],
            "baseline_accuracy": accuracy["baseline"],
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    summary = {
        "target_ratio": TARGET_RATIO,
        "target_peak_rss_mb": TARGET_RSS_BYTES / 1e6,
        "ratio_ok": all(r["ratio"] <= TARGET_RATIO for r in rows),
        "rss_ok": all(
            max(r["recall_rss_mb"], r["baseline_rss_mb"]) * 1e6 <= TARGET_RSS_BYTES for r in rows
        ),
        "accuracies_agree": all(r["recall_accuracy"] == r["baseline_accuracy"] for r in rows),
        "seed": SEED,
        "loadavg_1min_start_end": f"{load_start:.2f} / {os.getloadavg()[0]:.2f}",
    }
    if args.quick:
        # At F = M = 2^11 fixed costs (validation, duplicate detection) dominate: the targets
        # are stated for the full size only, so the smoke run reports but does not judge.
        for verdict in ("ratio_ok", "rss_ok"):
            summary[verdict] = "not judged (smoke run)"
    command = (
        "python benchmarks/bench_recall.py"
        + (" --quick" if args.quick else "")
        + (f" --repeats {args.repeats}" if args.repeats else "")
    )
    from benchmarks._report import write_results

    path = write_results(
        "bench_recall_quick" if args.quick else "bench_recall",
        rows,
        summary=summary,
        command=command,
        title="Strict recall vs chunked matmul + argmax",
    )
    print(f"wrote {path}", file=sys.stderr)
    print(json.dumps(summary))
    if args.quick:
        return 0
    return 0 if summary["ratio_ok"] is True and summary["rss_ok"] is True else 1


if __name__ == "__main__":
    sys.exit(main())

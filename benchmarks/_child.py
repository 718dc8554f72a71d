"""Run one measured point in a fresh Python process, with a wall-clock limit and a memory cap.

The child prints one JSON object as its last stdout line and includes its own peak RSS
(:func:`peak_rss_mb`). The parent must stay a lean interpreter (no numpy/torch imported before
spawning), because on Linux a child's ``ru_maxrss`` starts from its parent's RSS at fork.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def measure_child(argv: list[str], *, timeout: float, memory_cap_bytes: int | None = None) -> dict:
    """Run ``python argv…`` and return its JSON record plus ``status`` and ``wall_s``.

    ``status`` is ``ok``, ``timeout`` or ``failed`` (then ``error`` holds the child's last
    stderr line). ``memory_cap_bytes`` caps the child's address space, so a runaway
    allocation fails fast with MemoryError instead of swapping the machine.
    """

    def limit():
        if memory_cap_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_cap_bytes, memory_cap_bytes))

    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        status = "ok" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        status = "timeout"
    record = json.loads(out.strip().splitlines()[-1]) if status == "ok" else {}
    if status != "ok" and err.strip():
        record["error"] = err.strip().splitlines()[-1][:300]
    record.update(status=status, wall_s=time.perf_counter() - start)
    return record

"""Run a sweep: every point's capacity, on Dask distributed or serially, saved as it finishes.

For each point not yet in the database (:class:`~numerics.sweep.store.SweepStore`):

1. once per fact set (shared by the methods), :func:`point_rho` draws the fact set and
   computes ρ of its used values (:func:`theory.rho.decodability`);
2. :func:`evaluate_point` draws the fact set again (same seed, same arrays) and runs
   :func:`numerics.methods.capacity_search.capacity`; every outcome becomes one row: ``ok``; ``skipped``
   when the point cannot run here (:class:`~numerics.methods.NeedsAcceleratorError`, e.g.
   ``gd`` beyond d = 64 or F = 4096 on a CPU), the fact set is infeasible (a used value in
   the hull of the others, with exact convex weights as the certificate in ``reason``) or an
   optional package is missing; ``error`` for anything else (the row keeps the traceback);
3. when the set is stored, :func:`point_bits` runs the bits frontier
   (:func:`numerics.precision.bits.bits_frontier`, float64 forward passes) on the MLP found:
   ``min_bits`` and the total bits against the counting bound join the row, the whole
   frontier goes to ``result["bits"]``.

The client gathers results as they complete (:func:`distributed.as_completed`) and writes each
row at once, so an interrupted sweep loses only the points in flight; a rerun skips every
point already stored (``error`` rows too, unless ``retry_errors``). Cheap points are
submitted with a higher priority (a cost estimate ∝ method weight × F × d), so the cheap
methods finish first.

On a real cluster (``scheduler`` given) every worker needs factmlp installed (the same
version: rows record the worker's ``versions``) and, for the MiniLM families, the weights
package; the database stays with the client.

Workers set ``torch.set_num_threads(threads)`` (default 1) before each point, so a point's
result does not depend on where it ran: with fixed seeds a cluster run and a serial run give
the same rows (apart from timing).
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.sweep.config import Point, SweepConfig, configured_method
from numerics.sweep.store import SweepStore
from theory.errors import (
    FactMLPError,
    InfeasibleFactSetError,
    InvalidInputError,
    MissingDependencyError,
)
from theory.progress import progress_bar
from theory.validation import require_int

__all__ = ["SweepSummary", "evaluate_point", "point_bits", "point_rho", "run_sweep", "versions"]

#: Row columns copied from the bits frontier's summary (:meth:`BitsFrontier.to_dict`).
BITS_COLUMNS = ("min_bits", "smallest_format", "total_bits", "total_over_bound")
#: Relative cost of one capacity search per unit of F·d (a priority heuristic only).
METHOD_COST = {"gd": 200.0, "encdec": 2.0}


@dataclass(frozen=True)
class SweepSummary:
    """What a run did: the grid size, what it found already stored, and the database counts."""

    name: str
    db: str
    total: int
    already_done: int
    ran: int
    ok: int
    skipped: int
    failed: int
    remaining: int
    seconds: float
    scheduler: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "db": self.db,
            "points": {
                "total": self.total,
                "done": self.ok + self.skipped + self.failed,
                "ok": self.ok,
                "skipped": self.skipped,
                "failed": self.failed,
                "remaining": self.remaining,
            },
            "already_done": self.already_done,
            "ran": self.ran,
            "seconds": self.seconds,
            "scheduler": self.scheduler,
        }


def versions() -> dict[str, str]:
    """Versions that can change a result: factmlp, Python, torch, numpy, the platform."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        factmlp = version("factmlp")
    except PackageNotFoundError:
        factmlp = "unknown"
    return {
        "factmlp": factmlp,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _set_threads(threads: int) -> None:
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _classify(exc: BaseException) -> tuple[str, str]:
    """(status, one-line reason) of an exception raised by a point."""
    from numerics.methods import NeedsAcceleratorError

    line = " ".join(str(exc).split())
    if isinstance(exc, NeedsAcceleratorError):
        return "skipped", f"needs an accelerator: {line}"
    if isinstance(exc, InfeasibleFactSetError):
        return "skipped", line
    if isinstance(exc, MissingDependencyError):
        return "skipped", f"missing dependency: {line}"
    return "error", f"{type(exc).__name__}: {line}"


def point_rho(point: Point) -> dict[str, Any]:
    """ρ of the used values of ``point``'s fact set: min, median, mean and the time taken.

    Returns ``{"rho": None, ..., "rho_error": message}`` when the fact set cannot be drawn
    (the point itself then records the error).
    """
    from numerics.embeddings.families import family_factset
    from theory.rho import decodability

    start = time.perf_counter()
    try:
        factset = family_factset(**point.factset_kwargs())
        used = factset.used_values
        per_value = decodability(factset.values, indices=used).rho_per_value[used]
    except (FactMLPError, ValueError) as exc:
        return {
            "rho": None,
            "rho_median": None,
            "rho_mean": None,
            "rho_seconds": None,
            "rho_error": f"{type(exc).__name__}: {exc}",
        }
    return {
        "rho": float(per_value.min()),
        "rho_median": float(np.median(per_value)),
        "rho_mean": float(per_value.mean()),
        "rho_seconds": time.perf_counter() - start,
    }


def point_bits(result, factset, device: str) -> dict[str, Any]:
    """The bits columns of a capacity ``result`` (module docstring, step 3) and the whole
    frontier as ``bits``; None where the set is not stored.

    A failure here is kept in ``bits`` as ``{"error": ...}`` rather than raised: it must not
    discard the capacity result of the point, which may have taken hours.
    """
    from numerics.precision.bits import bits_frontier

    empty = dict.fromkeys(BITS_COLUMNS)
    if result.build is None:
        return {**empty, "bits": None}
    start = time.perf_counter()
    try:
        frontier = bits_frontier(result.build.weights, factset, device=device)
    except Exception as exc:  # see the docstring
        return {**empty, "bits": {"error": _classify(exc)[1]}}
    summary = frontier.to_dict()
    return {
        **{name: summary[name] for name in BITS_COLUMNS},
        "bits": {**summary, "seconds": time.perf_counter() - start},
    }


def _base_row(point: Point, sweep: str) -> dict[str, Any]:
    row = point.as_dict()
    row["whiten"] = row["family_options"].get("whiten", "none")
    row["tied"] = int(point.tied)
    return {"key": point.key, "sweep": sweep, **row}


def evaluate_point(
    point: Point, rho: dict[str, Any] | None, sweep: str = "", threads: int = 1
) -> dict[str, Any]:
    """Run one point (module docstring, step 2) and return its database row; never raises."""
    import torch

    from numerics.embeddings.families import family_factset
    from numerics.methods.capacity_search import capacity

    _set_threads(threads)
    started, start = _utc(), time.perf_counter()
    row = _base_row(point, sweep)
    row.update({k: v for k, v in (rho or {}).items() if k != "rho_error"})
    try:
        factset = family_factset(**point.factset_kwargs())
        result = capacity(
            factset,
            configured_method(point),
            max_hidden=point.max_hidden,
            seed=point.seed,
            rel_precision=point.rel_precision,
            dtype=getattr(torch, point.dtype),
            device=point.device,
        )
    except Exception as exc:  # every outcome is a row; the client never sees an exception
        status, reason = _classify(exc)
        row.update(
            status=status,
            reason=reason,
            result={"traceback": traceback.format_exc()} if status == "error" else None,
        )
    else:
        bits = point_bits(result, factset, point.device)
        row.update(
            status="ok",
            reason=None,
            result={**result.to_dict(), "bits": bits.pop("bits")},
            **bits,
            reached=int(result.reached),
            hidden=result.hidden,
            params=result.params,
            params_per_fact=result.params_per_fact,
            bits_per_param=result.bits_per_param,
            recall=result.recall,
        )
    row.update(
        seconds=time.perf_counter() - start,
        started=started,
        finished=_utc(),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        versions=versions(),
    )
    return row


def _priority(point: Point) -> float:
    return -METHOD_COST.get(point.method, 1.0) * point.n_facts * point.dim


def _run_serial(todo: list[Point], sweep: str, threads: int, on_row: Callable) -> None:
    import torch

    previous = torch.get_num_threads()
    rho_cache: dict[str, dict] = {}
    try:
        for point in todo:
            if point.factset_key not in rho_cache:
                _set_threads(threads)
                rho_cache[point.factset_key] = point_rho(point)
            on_row(evaluate_point(point, rho_cache[point.factset_key], sweep, threads))
    finally:
        torch.set_num_threads(previous)


def _client(scheduler: str | None, workers: int | None, processes: bool, timeout: float):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MissingDependencyError(
            "sweeps on Dask need 'distributed': pip install \"dask[distributed]\""
        ) from None
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{timeout}s"), None
        except OSError as exc:
            raise InvalidInputError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc})"
            ) from None
    n_workers = workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def _run_dask(
    todo: list[Point],
    sweep: str,
    threads: int,
    on_row: Callable,
    *,
    scheduler: str | None,
    workers: int | None,
    processes: bool,
    timeout: float,
) -> None:
    from distributed import as_completed

    client, cluster = _client(scheduler, workers, processes, timeout)
    try:
        rho_futures: dict[str, Any] = {}
        by_future: dict[Any, Point] = {}
        for point in todo:
            if point.factset_key not in rho_futures:
                rho_futures[point.factset_key] = client.submit(
                    point_rho, point, pure=False, priority=_priority(point) + 1
                )
            future = client.submit(
                evaluate_point,
                point,
                rho_futures[point.factset_key],
                sweep,
                threads,
                pure=False,
                priority=_priority(point),
            )
            by_future[future] = point
        for future in as_completed(list(by_future)):
            point = by_future.pop(future)
            try:
                row = future.result()
            except Exception as exc:  # a worker died, or the scheduler lost the task
                row = {
                    **_base_row(point, sweep),
                    "status": "error",
                    "reason": f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                    "finished": _utc(),
                    "versions": versions(),
                }
            on_row(row)
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(
    config: SweepConfig,
    db,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    threads: int = 1,
    serial: bool = False,
    processes: bool = True,
    retry_errors: bool = False,
    max_points: int | None = None,
    progress: bool = False,
    connect_timeout: float = 20.0,
) -> SweepSummary:
    """Run every point of ``config`` not yet stored in ``db`` (module docstring).

    Parameters
    ----------
    config : SweepConfig
    db : str or Path
        The SQLite database (created if missing).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default: a LocalCluster.
    workers : int, optional
        Workers of the LocalCluster (default: the CPU count), one thread each.
    threads : int
        ``torch.set_num_threads`` in each point (default 1).
    serial : bool
        Run in this process, one point after another, without Dask.
    processes : bool
        LocalCluster workers as processes (default) or as threads of this process.
    retry_errors : bool
        Run again the points stored with status ``error``.
    max_points : int, optional
        Run at most this many of the remaining points (cheapest first), then stop.
    progress : bool
        A rich progress bar on stderr.
    connect_timeout : float
        Seconds to wait for ``scheduler`` before giving up.

    Returns
    -------
    SweepSummary

    Raises
    ------
    InvalidInputError
        For bad arguments, an unreachable scheduler or an unusable database.
    """
    for name, number in (("threads", threads), ("workers", workers), ("max_points", max_points)):
        if number is None and name != "threads":
            continue
        require_int(name, number, 1)
    if serial and scheduler:
        raise InvalidInputError("serial and scheduler exclude each other")
    start = time.perf_counter()
    points = config.points
    keys = [p.key for p in points]
    if len(set(keys)) != len(keys):
        raise InvalidInputError(f"sweep {config.name!r} has repeated points")
    with SweepStore(db) as store:
        stored = store.finished_keys(include_errors=not retry_errors)
        todo = sorted((p for p in points if p.key not in stored), key=_priority, reverse=True)
        already = len(points) - len(todo)
        if max_points is not None:
            todo = todo[:max_points]
        store.record_run(config.name, config.describe())
        with progress_bar(
            "sweep",
            len(todo),
            show=progress,
            detail="{task.completed}/{task.total} {task.fields[point]}",
            point="",
        ) as advance:

            def on_row(row: dict) -> None:
                store.write(row)
                advance(
                    point=(
                        f"{row['method']} {row['family_label']} d={row['dim']} "
                        f"F={row['n_facts']} s={row['seed']}: {row['status']}"
                    )
                )

            if todo and serial:
                _run_serial(todo, config.name, threads, on_row)
            elif todo:
                _run_dask(
                    todo,
                    config.name,
                    threads,
                    on_row,
                    scheduler=scheduler,
                    workers=workers,
                    processes=processes,
                    timeout=connect_timeout,
                )
        mine = set(keys)
        rows = [r for r in store.rows() if r["key"] in mine]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "error")}
    return SweepSummary(
        name=config.name,
        db=str(db),
        total=len(points),
        already_done=already,
        ran=len(todo),
        ok=counts["ok"],
        skipped=counts["skipped"],
        failed=counts["error"],
        remaining=len(points) - len(rows),
        seconds=time.perf_counter() - start,
        scheduler="serial" if serial else (scheduler or "LocalCluster"),
    )

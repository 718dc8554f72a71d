"""Tables of ``bench_scaling.py report``: read the sweep databases, write JSON + markdown.

Everything is computed by library functions of :mod:`numerics.sweep` from the stored rows;
this module only selects and formats.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from _report import machine

from numerics.sweep import (
    SweepStore,
    cost_table,
    method_label,
    method_ratios,
    plot_sweep,
    reach_ceilings,
    rho_fits,
    scaling_fits,
)

TIED = "spherical(tied)"
ORDER = ("lookup", "ntk", "hebbian", "hebbian_ridge", "encdec", "hebbian_dd", "maxmargin", "gd")


def _fmt(x, digits=3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _table(header: list[str], lines: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in line) + " |" for line in lines]
    return out + [""]


def _cell(entry: dict | None) -> str:
    if entry is None:
        return ""
    if entry["skipped"] == entry["seeds"]:
        return "skipped"
    if entry["reached"] == 0:
        best = entry["best_recall"]
        return f"not reached (best recall {best:.4f})" if best is not None else "error"
    spread = (
        f" ({entry['params_per_fact_min']:.3g}–{entry['params_per_fact_max']:.3g})"
        if entry["reached"] > 1
        else ""
    )
    return f"{entry['params_per_fact']:.3g}{spread} [{entry['reached']}/{entry['seeds']}]"


def _ratio_table(title: str, label: str, ratios: list[dict]) -> list[str]:
    """Rows of :func:`numerics.sweep.method_ratios`, named by their ``label`` method."""
    fields = ("family", "dim", "n_facts", "seeds", "ratio", "ratio_min", "ratio_max")
    return _table(
        [title, "family", "d", "F", "seeds", "ratio", "min", "max"],
        [[r[label]] + [r[f] for f in fields] for r in ratios],
    )


def _method_key(method: str) -> tuple[int, str]:
    base = method.split("(")[0]
    return (ORDER.index(base) if base in ORDER else len(ORDER), method)


def _cost_grid(table: list[dict], family: str) -> list[str]:
    mine = [t for t in table if t["family"] == family]
    fractions = sorted({round(t["fraction_of_d2"], 6) for t in mine})
    header = ["method", "d"] + [f"F = {x:g}·d²" for x in fractions]
    lines = []
    for method in sorted({t["method"] for t in mine}, key=_method_key):
        for dim in sorted({t["dim"] for t in mine if t["method"] == method}):
            cells = {
                round(t["fraction_of_d2"], 6): t
                for t in mine
                if t["method"] == method and t["dim"] == dim
            }
            lines.append([method, dim] + [_cell(cells.get(x)) for x in fractions])
    return _table(header, lines)


def _bits_section(table: list[dict]) -> list[str]:
    """min_bits of the MLPs found, where the rows record it (rows written before the bits
    columns existed have none)."""
    lines = [t for t in table if t["min_bits_min"] is not None]
    out = ["## Bits frontier of the MLPs found (`numerics.precision.bits`, checked)", ""]
    if not lines:
        return out + [
            "No row of these databases records `min_bits` (they were written before the "
            "bits columns); see `bench_bits.md` for the bits frontier at capacity width.",
            "",
        ]
    out += [
        "min_bits: the fewest bits of row-scaled integer weights at which the MLP still stores "
        "every fact (float64 forward pass; range over the reached seeds); total/bound: "
        "(min_bits·W + 32·rows) over the counting bound, mean over the seeds.",
        "",
    ]
    return out + _table(
        ["family", "method", "d", "F", "reached/seeds", "min_bits", "total/bound"],
        [
            [
                t["family"],
                t["method"],
                t["dim"],
                t["n_facts"],
                f"{t['reached']}/{t['seeds']}",
                str(t["min_bits_min"])
                if t["min_bits_min"] == t["min_bits_max"]
                else f"{t['min_bits_min']}–{t['min_bits_max']}",
                t["total_over_bound"],
            ]
            for t in sorted(
                lines, key=lambda t: (t["family"], _method_key(t["method"]), t["dim"], t["n_facts"])
            )
        ],
    )


def _whitening(table: list[dict]) -> list[dict]:
    """ρ and params/fact of each whitened variant next to its unwhitened one."""
    out = []
    by = {(t["family"], t["method"], t["dim"], t["n_facts"]): t for t in table}
    for (family, method, dim, n_facts), t in by.items():
        if "whiten=" not in family:
            continue
        base_label = ", ".join(p for p in family.split(", ") if not p.startswith("whiten="))
        base_label = base_label if base_label.endswith(")") else base_label + ")"
        base = by.get((base_label, method, dim, n_facts))
        if base is None:
            continue
        ratio = (
            t["params_per_fact"] / base["params_per_fact"]
            if t["params_per_fact"] and base["params_per_fact"]
            else None
        )
        out.append(
            {
                "family": base_label,
                "whitened": family,
                "method": method,
                "dim": dim,
                "n_facts": n_facts,
                "rho": base["rho"],
                "rho_whitened": t["rho"],
                "params_per_fact": base["params_per_fact"],
                "params_per_fact_whitened": t["params_per_fact"],
                "cost_ratio": ratio,
            }
        )
    return sorted(
        out, key=lambda r: (r["family"], r["whitened"], r["method"], r["dim"], r["n_facts"])
    )


def report(results: Path, databases: list[Path], *, runs: Path) -> Path:
    """Write ``scaling.json`` and ``scaling.md`` (module docstring of bench_scaling.py)."""
    rows, sources = [], []
    for db in databases:
        if db.is_file():
            with SweepStore(db, readonly=True) as store:
                rows += store.rows()
            sources.append(str(db.relative_to(results.parent.parent)))
    # A point (same key) stored in two databases is one experiment: keep its first row.
    rows = list({r["key"]: r for r in reversed(rows)}.values())[::-1]
    table = cost_table(rows)
    fits = scaling_fits(rows)
    payload = {
        "benchmark": "scaling",
        "databases": sources,
        "machine": machine(),
        "runs": json.loads(runs.read_text()) if runs.is_file() else [],
        "cost_table": table,
        "fits": fits,
        "rho_fits": rho_fits(rows),
        "ntk_ceilings": reach_ceilings(rows, "ntk"),
        "hebbian_ceilings": reach_ceilings(rows, "hebbian"),
        "ratios_to_gd": [
            r
            for gd in sorted({method_label(r) for r in rows if r["method"] == "gd"})
            for m in (
                "maxmargin",
                "hebbian_dd",
                "encdec",
                "hebbian_ridge",
                "ntk",
                "hebbian",
                "lookup",
            )
            for r in method_ratios(rows, m, gd)
        ],
        # Issue 11's comparison: maxmargin below hebbian_dd and encdec on every family?
        "maxmargin_ratios": [
            r for other in ("hebbian_dd", "encdec") for r in method_ratios(rows, "maxmargin", other)
        ],
        "whitening": _whitening(table),
        "plots": [],
    }
    for db in databases:
        if db.is_file():
            plotted = plot_sweep(db, results / "scaling_plots" / db.stem)
            payload["plots"] += [str(Path(p).relative_to(results)) for p in plotted["plots"]]
    (results / "scaling.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")

    md = [
        "# Scaling laws of fact storage: every method, synthetic and real embeddings",
        "",
        "Written by `python benchmarks/bench_scaling.py report` from the sweep databases "
        f"{', '.join(f'`{s}`' for s in sources)} (nothing is recomputed). Cells: mean "
        "params/fact at 100% recall over the seeds that reached it (min–max) "
        "[reached/seeds]; recall is checked in float32; each width is re-verified with a "
        "second seed (`numerics.methods.capacity_search`).",
        "",
    ]
    archived = sorted(results.glob("scaling_20*.md"))  # hand-kept copies of earlier reports
    if archived:
        md += [
            "Earlier reports whose rows are not all in these databases: "
            + ", ".join(f"[`{a.name}`]({a.name})" for a in archived)
            + ".",
            "",
        ]
    md += ["## Points per sweep (from the databases)", ""]
    by_sweep = defaultdict(list)
    for r in rows:
        by_sweep[r["sweep"]].append(r)
    md += _table(
        [
            "sweep",
            "points",
            "ok",
            "skipped",
            "error",
            "first started (UTC)",
            "last finished (UTC)",
            "worker time (s)",
        ],
        [
            [
                name,
                len(rs),
                sum(r["status"] == "ok" for r in rs),
                sum(r["status"] == "skipped" for r in rs),
                sum(r["status"] == "error" for r in rs),
                min(r["started"] or "" for r in rs),
                max(r["finished"] or "" for r in rs),
                round(sum(r["seconds"] or 0 for r in rs)),
            ]
            for name, rs in sorted(by_sweep.items())
        ],
    )
    md += ["## Runs (recorded by `bench_scaling.py run`)", ""]
    md += _table(
        ["command", "wall (s)", "load avg start", "load avg end", "ran", "ok", "skipped", "failed"],
        [
            [
                f"`{r['command']}`" + (" (interrupted)" if r.get("interrupted") else ""),
                r["wall_s"],
                " / ".join(f"{x:.1f}" for x in r["loadavg_start"]),
                " / ".join(f"{x:.1f}" for x in r["loadavg_end"]),
            ]
            + (
                [
                    r["summary"]["ran"],
                    r["summary"]["points"]["ok"],
                    r["summary"]["points"]["skipped"],
                    r["summary"]["points"]["failed"],
                ]
                if r.get("summary")
                else ["–"] * 4
            )
            for r in payload["runs"]
        ],
    )
    m = payload["machine"]
    md += [
        f"Machine: {m['processor']}, {m['cpus']} CPUs (shared with other jobs), torch "
        f"{m['torch']}, report written {m['date']}.",
        "",
    ]
    md += ["## Tied spherical keys = values (paper Figure 1 setting)", ""]
    md += _cost_grid(table, TIED)
    md += ["### NTK and raw Hebbian: where they stop reaching 100% recall", ""]
    md += _table(
        [
            "method",
            "family",
            "d",
            "last F reached (all seeds)",
            "as ·d²",
            "first F failed",
            "as ·d²",
        ],
        [
            [
                c["method"],
                c["family"],
                c["dim"],
                c["last_reached"],
                c["last_reached_fraction"],
                c["first_failed"],
                c["first_failed_fraction"],
            ]
            for c in payload["ntk_ceilings"] + payload["hebbian_ceilings"]
        ],
    )
    md += ["### Ratio to GD on the same fact sets (params, paired by seed)", ""]
    md += _ratio_table("method / gd", "numerator", payload["ratios_to_gd"])
    if payload["maxmargin_ratios"]:
        md += [
            "### maxmargin against hebbian_dd and encdec (params, paired by seed; below 1: "
            "maxmargin is cheaper)",
            "",
        ]
        md += _ratio_table("maxmargin / method", "denominator", payload["maxmargin_ratios"])
        worst = max(payload["maxmargin_ratios"], key=lambda r: r["ratio_max"])
        md += [
            f"Largest ratio: {worst['ratio_max']:.3g} (maxmargin / {worst['denominator']}, "
            f"{worst['family']}, d = {worst['dim']}, F = {worst['n_facts']}).",
            "",
        ]
    md += ["### Slopes of log W against log F (least squares over seeds; per d, and pooled)", ""]
    dims = sorted({f["dim"] for f in fits if f["dim"] != "all"})
    per_d = {(f["family"], f["method"], f["dim"]): f for f in fits}
    md += _table(
        ["family", "method"]
        + [f"slope at d = {d}" for d in dims]
        + ["pooled slope", "pooled R²", "points", "F range"],
        [
            [f["family"], f["method"]]
            + [
                per_d[(f["family"], f["method"], d)]["slope_params"]
                if (f["family"], f["method"], d) in per_d
                else None
                for d in dims
            ]
            + [f["slope_params"], f["r2"], f["n"], f"{f['f_range'][0]}–{f['f_range'][1]}"]
            for f in sorted(fits, key=lambda f: (f["family"], _method_key(f["method"])))
            if f["dim"] == "all"
        ],
    )
    others = sorted({t["family"] for t in table} - {TIED})
    if others:
        md += ["## Anisotropic and real families", ""]
        rho = defaultdict(dict)
        for t in table:
            if t["rho"] is not None:
                rho[t["family"]][(t["dim"], t["n_facts"])] = t["rho"]
        for family in others:
            md += [f"### {family}", ""]
            md += [
                "ρ (min over used values, mean over seeds): "
                + ", ".join(f"d={d}, F={f}: {r:.3f}" for (d, f), r in sorted(rho[family].items())),
                "",
            ]
            md += _cost_grid(table, family)
        md += ["## Does ρ predict the cost? `log W = a + b log F + c log ρ` per method", ""]
        md += _table(
            [
                "method",
                "ρ statistic",
                "points",
                "families",
                "b (F)",
                "c (ρ)",
                "R²",
                "R² (F only)",
                "R² gain",
            ],
            [
                [
                    f["method"],
                    f["rho_stat"],
                    f["n"],
                    len(f["families"]),
                    f["exponent_facts"],
                    f["exponent_rho"],
                    f["r2"],
                    f["r2_facts_only"],
                    f["r2_gain"],
                ]
                for f in payload["rho_fits"]
            ],
        )
        md += ["## Whitening: ρ and cost before → after", ""]
        md += _table(
            [
                "family",
                "whitened",
                "method",
                "d",
                "F",
                "ρ",
                "ρ whitened",
                "W/F",
                "W/F whitened",
                "ratio",
            ],
            [
                [
                    w["family"],
                    w["whitened"].split(", ")[-1].rstrip(")"),
                    w["method"],
                    w["dim"],
                    w["n_facts"],
                    w["rho"],
                    w["rho_whitened"],
                    w["params_per_fact"],
                    w["params_per_fact_whitened"],
                    w["cost_ratio"],
                ]
                for w in payload["whitening"]
            ],
        )
    md += _bits_section(table)
    skipped = sorted({(t["method"], t.get("reason", "")) for t in table if t["skipped"]})
    if skipped:
        md += ["## Skipped points", ""] + [f"- {m}: {r}" for m, r in skipped] + [""]
    md += ["Plots: " + ", ".join(f"[{p}]({p})" for p in payload["plots"]), ""]
    (results / "scaling.md").write_text("\n".join(md))
    return results / "scaling.json"

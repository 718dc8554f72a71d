"""Sweeps: a strict config grid (:mod:`.config`), its SQLite store (:mod:`.store`), the Dask
runner (:mod:`.runner`), and the fits and plots read back from a store (:mod:`.fits`,
:mod:`.plots`)."""

from numerics.sweep.config import (
    FamilyVariant,
    Point,
    SweepConfig,
    configured_method,
    load_sweep_config,
    parse_sweep_config,
)
from numerics.sweep.fits import (
    LinearFit,
    cost_table,
    least_squares,
    method_label,
    method_ratios,
    reach_ceilings,
    reached_rows,
    rho_fits,
    scaling_fits,
)
from numerics.sweep.plots import plot_sweep
from numerics.sweep.runner import (
    SweepSummary,
    evaluate_point,
    point_bits,
    point_rho,
    run_sweep,
    versions,
)
from numerics.sweep.store import ADDED_COLUMNS, POINT_COLUMNS, STATUSES, SweepStore

__all__ = [
    "FamilyVariant",
    "Point",
    "SweepConfig",
    "configured_method",
    "load_sweep_config",
    "parse_sweep_config",
    "SweepSummary",
    "evaluate_point",
    "point_bits",
    "point_rho",
    "run_sweep",
    "versions",
    "ADDED_COLUMNS",
    "POINT_COLUMNS",
    "STATUSES",
    "SweepStore",
    "LinearFit",
    "least_squares",
    "method_label",
    "reached_rows",
    "rho_fits",
    "scaling_fits",
    "plot_sweep",
    "cost_table",
    "method_ratios",
    "reach_ceilings",
]

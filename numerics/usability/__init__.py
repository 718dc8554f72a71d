"""Can a Transformer use the MLP? Lipschitz metrics, the capacity–usability study, its plots.

=============  ===========================================================================
``lipschitz``  spectral bound, empirical local Lipschitz constant, recall under k + ε
``tradeoff``   one recipe's capacity and usability (:func:`measure_point`), predictor fits
``plots``      tradeoff, predictor and noise-curve figures (PNG)
=============  ===========================================================================
"""

from theory.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "jacobians": "lipschitz",
        "spectral_bound": "lipschitz",
        "empirical_lipschitz": "lipschitz",
        "normalized_margins": "lipschitz",
        "noisy_recall": "lipschitz",
        "UsabilityReport": "lipschitz",
        "usability_report": "lipschitz",
        "TradeoffPoint": "tradeoff",
        "DEFAULT_POINTS": "tradeoff",
        "PREDICTORS": "tradeoff",
        "measure_point": "tradeoff",
        "predictor_fits": "tradeoff",
        "plot_tradeoff": "plots",
        "plot_predictors": "plots",
        "plot_noise_curves": "plots",
    },
)

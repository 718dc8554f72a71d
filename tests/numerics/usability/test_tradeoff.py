"""numerics.usability.tradeoff: one measured point, and the predictor fits on rows with known relations."""

import numpy as np
import pytest
import torch

from numerics.transformer import TrainConfig
from numerics.usability.tradeoff import TradeoffPoint, measure_point, predictor_fits
from theory.errors import InvalidInputError


def test_measure_point_records_capacity_metrics_and_usability():
    torch.set_num_threads(1)
    row = measure_point(
        TradeoffPoint("tiny", method="hebbian_ridge"),
        n_facts=8,
        train=TrainConfig(batch=32, max_steps=10, eval_every=5, val_sequences=32),
        noise_levels=(0.0, 0.5),
    )
    assert row["mlp_recall"] == 1.0 and row["noisy_recall_0.0"] == 1.0
    assert row["spectral_bound_median"] >= row["empirical_lipschitz_median"] > 0
    assert row["params"] == row["params_per_fact"] * 8 and row["bits_per_param"] > 0
    assert (
        0 <= row["transformer_recall"] <= 1 and row["steps"] == 10 and row["first_eval_step"] == 5
    )


def _rows(x, y, key="empirical_lipschitz_median"):
    return [{key: a, "transformer_recall": b} for a, b in zip(x, y, strict=True)]


def test_fits_find_a_logistic_relation_and_its_sign():
    lip = np.logspace(0, 3, 12)
    recall = 1 / (1 + np.exp(4 * (np.log10(lip) - 1.5)))  # falls with log10 L
    (fit,) = predictor_fits(_rows(lip, recall))
    assert fit["spearman"] == pytest.approx(-1.0) and fit["sign_as_expected"]
    assert fit["logistic_r2"] > 0.999 and fit["b"] == pytest.approx(-4.0, rel=1e-3)


def test_fits_see_no_relation_in_noise():
    rng = np.random.default_rng(1)
    (fit,) = predictor_fits(_rows(rng.uniform(1, 100, 200), rng.uniform(0, 1, 200)))
    assert abs(fit["spearman"]) < 0.2 and fit["logistic_r2"] < 0.1


def test_invalid_calls():
    with pytest.raises(InvalidInputError):
        predictor_fits(_rows([1.0, 2.0], [0.1, 0.2]))
    with pytest.raises(InvalidInputError):
        measure_point("not a point")

"""numerics.transformer: RoPE, the norms, the frozen parts, the task, training and recall."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.transformer import (
    FactTransformer,
    ScalarRMSNorm,
    TrainConfig,
    TransformerConfig,
    TransformerRunConfig,
    apply_rope,
    build_fact_mlp,
    make_task,
    run_transformer,
    task_recall,
    train_transformer,
)
from theory.errors import InvalidInputError


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    p=st.integers(0, 50),
    q=st.integers(0, 50),
    shift=st.integers(-20, 20),
    d=st.sampled_from([2, 4, 16]),
)
def test_rope_scores_depend_only_on_the_position_difference(seed, p, q, shift, d):
    g = torch.Generator().manual_seed(seed)
    x, y = (
        torch.randn(1, d, generator=g, dtype=torch.float64),
        torch.randn(1, d, generator=g, dtype=torch.float64),
    )
    score = (apply_rope(x, torch.tensor([p])) @ apply_rope(y, torch.tensor([q])).T).item()
    moved = (
        apply_rope(x, torch.tensor([p + shift + 100]))
        @ apply_rope(y, torch.tensor([q + shift + 100])).T
    ).item()
    assert moved == pytest.approx(score, abs=1e-9)
    assert apply_rope(x, torch.tensor([p])).norm().item() == pytest.approx(x.norm().item())


def test_rope_rotates_when_positions_differ():
    x = torch.ones(1, 4, dtype=torch.float64)
    assert not torch.allclose(apply_rope(x, torch.tensor([0])), apply_rope(x, torch.tensor([1])))
    assert torch.equal(apply_rope(x, torch.tensor([0])), x)


@pytest.mark.parametrize("trainable", [False, True])
def test_scalar_rms_norm_output_has_the_gain_as_rms(trainable):
    norm = ScalarRMSNorm(0.37, trainable=trainable)
    x = torch.randn(7, 16) * 5
    rms = norm(x).pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, torch.full((7,), 0.37), rtol=1e-5, atol=1e-6)
    assert (len(list(norm.parameters())) == 1) == trainable


@pytest.fixture(scope="module")
def small():
    torch.set_num_threads(1)
    task = make_task(24, n_junk=4, dim=32, seed=1, min_len=4, max_len=8)
    mlp = build_fact_mlp(task.factset(), "hebbian_ridge", seed=0)
    return task, mlp


def _model(task, mlp, seed=0):
    return FactTransformer(
        torch.from_numpy(task.embeddings.copy()), mlp.weights, rms_gain=task.rms_gain, seed=seed
    )


def test_rms_gain_makes_perfect_attention_deliver_the_key(small):
    task, mlp = small
    model = _model(task, mlp)
    keys = torch.tensor(task.keys, dtype=torch.float32)
    torch.testing.assert_close(model.pre_mlp_norm(keys), keys, rtol=1e-5, atol=1e-6)
    assert task.rms_gain == pytest.approx(1 / math.sqrt(task.dim))


def test_only_attention_and_norm_gains_train_and_the_mlp_is_bitwise_frozen(small):
    task, mlp = small
    model = _model(task, mlp)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {
        "attention.q_proj",
        "attention.k_proj",
        "attention.q_gain",
        "attention.k_gain",
        "final_norm.log_gain",
    }
    frozen = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if k.startswith(("mlp.", "embeddings", "pre_mlp_norm"))
    }
    q_before = model.attention.q_proj.detach().clone()
    train_transformer(
        model,
        task,
        TrainConfig(batch=64, max_steps=30, eval_every=10, target=1.0, val_sequences=64),
    )
    after = model.state_dict()
    for key, value in frozen.items():
        assert torch.equal(after[key], value), key
    assert not torch.equal(model.attention.q_proj.detach(), q_before)


def test_last_only_matches_the_full_forward_and_attention_is_causal(small):
    task, mlp = small
    model = _model(task, mlp)
    tokens, _, _ = task.sample(5, torch.Generator().manual_seed(0), length=7)
    with torch.no_grad():
        full = model(tokens)
        torch.testing.assert_close(model(tokens, last_only=True), full[:, -1], rtol=1e-5, atol=1e-5)
        changed = tokens.clone()
        changed[:, -1] = 0
        torch.testing.assert_close(model(changed)[:, :-1], full[:, :-1])


def test_task_sequences_hold_one_key_and_end_in_the_query(small):
    task, _ = small
    tokens, targets, facts = task.sample(200, torch.Generator().manual_seed(3))
    assert (tokens[:, -1] == task.query_token).all()
    is_key = tokens < task.n_facts
    assert (is_key.sum(1) == 1).all()
    assert torch.equal(tokens[is_key], facts)
    assert torch.equal(targets, torch.from_numpy(task.value_of)[facts])
    assert ((tokens[:, :-1] >= 2 * task.n_facts) | is_key[:, :-1]).all()
    batches = task.evaluation_batches(3, seed=5)
    counts = np.bincount(torch.cat([f for _, _, f in batches]).numpy(), minlength=task.n_facts)
    assert (counts == 3).all()
    fs = task.factset()
    assert fs.n_values == task.vocab_size and np.array_equal(fs.fact_map, task.value_of)


def test_training_makes_the_model_use_the_mlp(small):
    task, mlp = small
    model = _model(task, mlp)
    before = task_recall(model, task, per_fact=4).recall
    result = train_transformer(
        model,
        task,
        TrainConfig(batch=256, max_steps=400, eval_every=50, lr=3e-3, val_sequences=256),
    )
    after = task_recall(model, task, per_fact=4)
    assert after.recall >= 0.95 > before
    assert after.attention_on_key > 0.8
    assert result.steps <= 400 and result.history


def test_same_seed_same_run(small):
    task, mlp = small
    runs = []
    for _ in range(2):
        model = _model(task, mlp, seed=3)
        train_transformer(
            model, task, TrainConfig(batch=32, max_steps=5, eval_every=5, seed=2, val_sequences=32)
        )
        runs.append(model.attention.q_proj.detach().clone())
    assert torch.equal(*runs)


def test_run_transformer_summary_contract():
    config = TransformerRunConfig(
        n_facts=8,
        n_junk=2,
        dim=8,
        method="hebbian_ridge",
        train=TrainConfig(batch=32, max_steps=10, eval_every=5, val_sequences=32),
        eval_per_fact=2,
    )
    summary = run_transformer(config).summary()
    for key in ("recall", "mlp_recall", "train_seconds", "steps", "load_average", "params"):
        assert key in summary
    assert 0 <= summary["recall"] <= 1 and summary["mlp_recall"] == 1.0 and summary["steps"] == 10


@pytest.mark.parametrize(
    "call",
    [
        lambda: make_task(0),
        lambda: make_task(4, dim=7),
        lambda: make_task(4, family="cubic"),
        lambda: make_task(4, min_len=9, max_len=8),
        lambda: make_task(4, n_junk=0, max_len=6),
        lambda: TrainConfig(lr=0.0),
        lambda: TrainConfig(batch=0),
        lambda: TrainConfig(target=1.5),
        lambda: TransformerConfig(rope_base=1.0),
        lambda: TransformerRunConfig(eval_per_fact=0),
        lambda: ScalarRMSNorm(0.0),
        lambda: apply_rope(torch.ones(2, 3), torch.tensor([0, 1])),
        lambda: apply_rope(torch.ones(2, 4), torch.tensor([0])),
        lambda: build_fact_mlp(make_task(4, dim=8).factset(), "nope"),
        lambda: build_fact_mlp(make_task(4, dim=8).factset(), hidden=10),
        lambda: build_fact_mlp(make_task(4, dim=8).factset(), "ntk", code_dim=4),
        lambda: FactTransformer(
            torch.ones(3, 6),
            build_fact_mlp(make_task(4, dim=8).factset(), "hebbian_ridge").weights,
            rms_gain=1.0,
        ),
    ],
    ids=[
        "facts",
        "odd-dim",
        "family",
        "lengths",
        "no-junk",
        "lr",
        "batch",
        "target",
        "rope-base",
        "eval",
        "gain",
        "rope-odd",
        "rope-positions",
        "method",
        "hidden-construct",
        "code-dim-ntk",
        "dims",
    ],
)
def test_invalid_calls(call):
    with pytest.raises(InvalidInputError):
        call()

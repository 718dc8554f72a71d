"""The editable language model: one attention layer, then a router between the frozen fact
MLP and a small trained expert.

With frozen tied embeddings ``E`` and ``x_t = E_{t}``:

.. math::

    a_t &= \\operatorname{Attn}(x)_t \\quad (\\text{one RoPE head, QK-norm, value/output} = I),\\\\
    r_t &= [\\,w_r^\\top [x_t; a_t] + b_r > 0\\,] \\quad (\\text{hard top-1 router}),\\\\
    \\text{logits}_t &= \\begin{cases}
        τ\\, \\dfrac{g(z_t)}{\\operatorname{rms}(g(z_t))} E^\\top,\\; z_t = γ\\, a_t/\\operatorname{rms}(a_t)
          & r_t = 1 \\ (\\text{fact MLP } g,\\ \\text{frozen}),\\\\
        e([x_t; a_t])\\, E^\\top & r_t = 0 \\ (\\text{expert } e,\\ \\text{a small trained MLP}).
    \\end{cases}

The router is trained with a routing label (the position predicts an object) and routes
with a hard threshold, in training and in evaluation, so a position routed to the expert
never reads the fact MLP: **replacing the fact MLP leaves every non-fact prediction
bitwise unchanged** (a test checks it). There are no residual connections; the expert sees
the current token and the attention output, the fact MLP only the normalised attention
output (at a fact position: the subject's embedding, the key it was built for).

References: paper.md §7 (modular editing by MLP swap; the follow-up routes between the fact
MLP and a small second expert). The hard, label-trained router is ours.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from numerics.mlp import ACTIVATIONS, GatedMLP, GatedMLPWeights
from numerics.transformer.model import RotaryAttention, ScalarRMSNorm
from theory.errors import InvalidInputError
from theory.validation import require_int

__all__ = ["EditableLM", "ForwardPass"]


class ForwardPass(dict):
    """What :meth:`EditableLM.run` returns: ``logits`` (B×T×V), ``route`` (B×T bool),
    ``router_logit`` (B×T), ``mlp_input`` z (B×T×d), ``down_input`` (B×T×h: the input of the
    fact MLP's ``down_proj``), ``fact_out`` g(z) (B×T×d)."""

    __getattr__ = dict.__getitem__


class EditableLM(nn.Module):
    """The model of the module docstring.

    Parameters
    ----------
    embeddings : Tensor (V, d)
    fact_mlp : GatedMLPWeights
    rms_gain : float
        γ of the frozen pre-MLP norm (the subjects' mean RMS).
    expert_hidden : int
        Width of the expert (GELU MLP 2d → e → d).
    seed : int
    """

    def __init__(
        self,
        embeddings: Tensor,
        fact_mlp: GatedMLPWeights,
        *,
        rms_gain: float,
        expert_hidden: int = 64,
        seed: int = 0,
    ):
        super().__init__()
        embeddings = torch.as_tensor(embeddings)
        if (
            not isinstance(fact_mlp, GatedMLPWeights)
            or embeddings.ndim != 2
            or embeddings.shape[1] != fact_mlp.dim
        ):
            raise InvalidInputError(
                "fact_mlp must be a GatedMLPWeights of the embeddings' dimension"
            )
        require_int("expert_hidden", expert_hidden, 1)
        d = int(embeddings.shape[1])
        generator = torch.Generator().manual_seed(int(seed))
        self.register_buffer("embeddings", embeddings.detach().to(torch.float32).clone())
        self.attention = RotaryAttention(d, generator=generator, qk_norm=True)
        self.pre_mlp_norm = ScalarRMSNorm(rms_gain, trainable=False)
        self.fact_mlp = GatedMLP(fact_mlp.to(dtype=torch.float32))
        self.fact_norm = ScalarRMSNorm(1.0, trainable=True)
        with torch.random.fork_rng(devices=[]):  # seeded nn.Linear init, global RNG untouched
            torch.manual_seed(int(seed))
            self.expert = nn.Sequential(
                nn.Linear(2 * d, expert_hidden), nn.GELU(), nn.Linear(expert_hidden, d)
            )
            self.router = nn.Linear(2 * d, 1)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def replace_fact_mlp(self, weights: GatedMLPWeights) -> None:
        """Swap in another fact MLP (any width; same dimension)."""
        if not isinstance(weights, GatedMLPWeights) or weights.dim != self.dim:
            raise InvalidInputError(
                f"the new fact MLP must be a GatedMLPWeights of dimension {self.dim}"
            )
        self.fact_mlp = GatedMLP(weights.to(device=self.embeddings.device, dtype=torch.float32))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def run(
        self, tokens: Tensor, *, route: Tensor | None = None, fact_delta: Tensor | None = None
    ) -> ForwardPass:
        """Forward pass over integer ``tokens`` (B×T).

        ``route`` (B×T bool) overrides the router's decision (training uses the labels);
        ``fact_delta`` (broadcastable to B×T×d) is added to the fact MLP's output (the δ that
        editing methods optimise).
        """
        if tokens.ndim != 2:
            raise InvalidInputError(f"tokens must be B×T, got shape {tuple(tokens.shape)}")
        E = self.embeddings
        x = E[tokens]
        q_vocab, k_vocab = self.attention.project(E)
        a, _ = self.attention.attend(q_vocab[tokens], k_vocab[tokens], x)
        both = torch.cat([x, a], dim=-1)
        router_logit = self.router(both).squeeze(-1)
        routed = router_logit > 0 if route is None else route
        z = self.pre_mlp_norm(a)
        w = self.fact_mlp
        gate = z @ w.gate.T + (0 if w.gate_bias is None else w.gate_bias)
        hidden = ACTIVATIONS[w.activation](gate)
        down_input = hidden * (z @ w.up.T + (0 if w.up_bias is None else w.up_bias))
        fact_out = down_input @ w.down.T + (0 if w.down_bias is None else w.down_bias)
        if fact_delta is not None:
            fact_out = fact_out + fact_delta
        fact_logits = self.fact_norm(fact_out) @ E.T
        expert_logits = self.expert(both) @ E.T
        logits = torch.where(routed.unsqueeze(-1), fact_logits, expert_logits)
        return ForwardPass(
            logits=logits,
            route=routed,
            router_logit=router_logit,
            mlp_input=z,
            down_input=down_input,
            fact_out=fact_out,
        )

    def forward(self, tokens: Tensor) -> Tensor:
        return self.run(tokens).logits

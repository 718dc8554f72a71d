"""Editing methods on one base model: ``swap``, ``rome``, ``memit``, ``alphaedit``.

An :class:`EditRequest` asks for new objects for some facts. Every method returns a new
model (the base model is never modified).

- ``swap``: construct a new fact MLP for the edited fact set (same keys, the new objects,
  values = the whole vocabulary) and replace the old one; nothing else changes.
- ``rome``, ``memit``, ``alphaedit``: change the fact MLP's ``down_proj`` ``W`` (d×h) by the
  closed forms of :mod:`theory.editing`, with

  * keys ``k`` = the input of ``down_proj`` at the fact's last token (the trigger), averaged
    over the training phrasings (:func:`fact_keys`);
  * ``C = K_0K_0ᵀ/n₀`` (uncentred) over the preserved facts' keys in every training
    phrasing, ridge ``+ c·tr(C)/h·I`` where a grid asks for it;
  * target changes ``R``: one additive δ per edited fact on the MLP's output at the trigger,
    shared by all training phrasings, optimised by Adam on the cross-entropy of the new
    object (:func:`optimise_deltas`); ``v* = W k + δ``.

  ``rome`` applies rank-one edits one fact after another (each against the current W).

References: paper.md §7; :mod:`theory.editing` for the formulas.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from numerics.editing.corpus import FactCorpus
from numerics.editing.model import EditableLM
from numerics.mlp import GatedMLP
from numerics.transformer.fact_mlp import build_fact_mlp
from theory.editing import (
    alphaedit_update,
    memit_update,
    null_space_projector,
    rome_sequential,
    second_moment,
)
from theory.errors import InvalidInputError

__all__ = [
    "EditRequest",
    "make_edit_request",
    "fact_keys",
    "trigger_outputs",
    "optimise_deltas",
    "EditKeys",
    "edit_keys",
    "swap_edit",
    "rome_edit",
    "memit_edit",
    "null_space",
    "alphaedit_edit",
    "with_down",
]


@dataclass(frozen=True, eq=False)
class EditRequest:
    """Edited fact indices and their new object tokens (each differs from the old one)."""

    facts: np.ndarray
    new_objects: np.ndarray
    fraction: float
    seed: int


def make_edit_request(corpus: FactCorpus, fraction: float = 0.5, *, seed: int = 0) -> EditRequest:
    """Edit ``round(fraction·F)`` facts (at least 1), chosen uniformly; each new object is
    uniform among the OTHER objects of the relation, so every edited fact really changes.

    Raises
    ------
    InvalidInputError
        ``fraction`` outside (0, 1], or a relation with a single object.
    """
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 < fraction <= 1
    ):
        raise InvalidInputError(f"fraction must lie in (0, 1], got {fraction!r}")
    n_objects = len(corpus.facts.objects)
    if n_objects < 2:
        raise InvalidInputError("editing needs at least two distinct objects")
    rng = np.random.default_rng(seed)
    n_edit = max(1, int(round(fraction * corpus.n_facts)))
    facts = np.sort(rng.choice(corpus.n_facts, n_edit, replace=False))
    old = corpus.facts.object_of[facts]
    shift = rng.integers(1, n_objects, n_edit)  # never 0: a different object
    new = corpus.object_tokens[(old + shift) % n_objects]
    assert np.all(new != corpus.true_objects[facts])
    return EditRequest(facts=facts, new_objects=new, fraction=float(fraction), seed=int(seed))


def _trigger_pass(model: EditableLM, corpus: FactCorpus, facts, templates):
    outs = []
    with torch.no_grad():
        for template in templates:
            tokens = torch.from_numpy(corpus.sentences(template, facts)).to(model.embeddings.device)
            outs.append(model.run(tokens[:, :-1]))
    return outs


def fact_keys(model: EditableLM, corpus: FactCorpus, facts, templates=None) -> np.ndarray:
    """Keys (T×n×h, float64): the input of ``down_proj`` at the trigger of each fact in each
    template (default: the training phrasings)."""
    templates = corpus.train_templates if templates is None else templates
    outs = _trigger_pass(model, corpus, facts, templates)
    return np.stack([o.down_input[:, -1].double().cpu().numpy() for o in outs])


def trigger_outputs(model: EditableLM, corpus: FactCorpus, facts, templates=None) -> torch.Tensor:
    """The fact MLP's output g(z) at the trigger (T×n×d) for each template."""
    templates = corpus.train_templates if templates is None else templates
    return torch.stack([o.fact_out[:, -1] for o in _trigger_pass(model, corpus, facts, templates)])


def optimise_deltas(
    model: EditableLM,
    corpus: FactCorpus,
    request: EditRequest,
    *,
    steps: int = 100,
    lr: float = 0.1,
) -> np.ndarray:
    """δ (n×d, float64) maximising ``Σ_templates log p(new object)`` when added to the fact
    MLP's output at the trigger (Adam, ``lr`` relative to the outputs' RMS).

    The fact path after the MLP is ``τ·norm(y + δ) Eᵀ``, so the optimisation needs only the
    outputs ``y`` at the triggers, computed once.
    """
    y = trigger_outputs(model, corpus, request.facts).detach()  # (T, n, d)
    scale = float(y.pow(2).mean().sqrt())
    delta = torch.zeros(y.shape[1:], device=y.device, requires_grad=True)  # starts at 0
    optimiser = torch.optim.Adam([delta], lr=lr * scale)
    target = torch.from_numpy(request.new_objects).repeat(y.shape[0]).to(y.device)
    E = model.embeddings
    for _ in range(int(steps)):
        logits = model.fact_norm(y + delta) @ E.T
        loss = F.cross_entropy(logits.reshape(-1, E.shape[0]), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return delta.detach().double().cpu().numpy()


def with_down(model: EditableLM, down: np.ndarray) -> EditableLM:
    """A copy of ``model`` whose fact MLP has ``down_proj = down`` (d×h)."""
    edited = copy.deepcopy(model)
    w = edited.fact_mlp.weights
    new = type(w)(
        w.gate,
        w.up,
        torch.from_numpy(np.asarray(down)).to(w.gate),
        activation=w.activation,
        gate_bias=w.gate_bias,
        up_bias=w.up_bias,
        down_bias=w.down_bias,
    )
    edited.fact_mlp = GatedMLP(new)
    return edited


def swap_edit(
    model: EditableLM,
    corpus: FactCorpus,
    request: EditRequest,
    *,
    method: str = "construct",
    seed: int = 0,
    device: str = "cpu",
) -> EditableLM:
    """Replace the fact MLP by one built for the edited fact set."""
    objects = corpus.true_objects.copy()
    objects[request.facts] = request.new_objects
    built = build_fact_mlp(corpus.factset(objects), method, seed=seed, device=device)
    edited = copy.deepcopy(model)
    edited.replace_fact_mlp(built.weights)
    return edited


@dataclass(frozen=True, eq=False)
class EditKeys:
    """What the closed-form editors need, computed once per request: ``W0`` (d×h) the
    current ``down_proj``, ``edited`` (n×h) the edited facts' keys (mean over training
    phrasings), ``preserved`` (h×n₀) the untouched facts' keys in every training phrasing."""

    W0: np.ndarray
    edited: np.ndarray
    preserved: np.ndarray

    @property
    def hidden(self) -> int:
        return int(self.W0.shape[1])

    def C(self, ridge: float = 0.0) -> np.ndarray:
        """``K₀K₀ᵀ/n₀ + ridge·tr(C)/h·I`` (the identity when nothing is preserved)."""
        h = self.hidden
        C = second_moment(self.preserved) if self.preserved.shape[1] else np.eye(h)
        scale = np.trace(C) / h if np.trace(C) > 0 else 1.0
        return C + ridge * scale * np.eye(h)


def edit_keys(model: EditableLM, corpus: FactCorpus, request: EditRequest) -> EditKeys:
    """:class:`EditKeys` of ``request`` on ``model`` (keys from :func:`fact_keys`)."""
    h = model.fact_mlp.gate.shape[0]
    untouched = np.setdiff1d(np.arange(corpus.n_facts), request.facts)
    preserved = (
        fact_keys(model, corpus, untouched).reshape(-1, h).T if untouched.size else np.zeros((h, 0))
    )
    return EditKeys(
        W0=model.fact_mlp.down.double().cpu().numpy(),
        edited=fact_keys(model, corpus, request.facts).mean(axis=0),
        preserved=preserved,
    )


def rome_edit(
    model: EditableLM, keys: EditKeys, deltas: np.ndarray, *, ridge: float = 1e-3
) -> EditableLM:
    """Sequential rank-one edits ``W += (v* − W k)(C⁻¹k)ᵀ/(kᵀC⁻¹k)``, ``v* = W₀k + δ``."""
    R = _check_deltas(deltas, keys.edited.shape[0], keys.W0.shape[0]).T
    targets = keys.W0 @ keys.edited.T + R
    return with_down(model, rome_sequential(keys.W0, keys.edited.T, targets, keys.C(ridge)))


def memit_edit(
    model: EditableLM, keys: EditKeys, deltas: np.ndarray, *, lam: float = 10.0
) -> EditableLM:
    """``W += R K_aᵀ(λC + K_aK_aᵀ)⁻¹`` with ``R = δ`` (batch)."""
    R = _check_deltas(deltas, keys.edited.shape[0], keys.W0.shape[0]).T
    return with_down(model, keys.W0 + memit_update(R, keys.edited.T, keys.C(), lam))


def null_space(keys: EditKeys, rel_tol: float) -> tuple[np.ndarray, int]:
    """The projector P onto the null space of the preserved keys' K₀K₀ᵀ and its dimension
    (the whole space when nothing is preserved)."""
    if keys.preserved.shape[1] == 0:
        return np.eye(keys.hidden), keys.hidden
    return null_space_projector(keys.preserved, rel_tol)


def alphaedit_edit(
    model: EditableLM,
    keys: EditKeys,
    deltas: np.ndarray,
    *,
    rel_tol: float = 1e-8,
    alpha: float = 1.0,
) -> tuple[EditableLM, int]:
    """``W += R K_aᵀ P (K_aK_aᵀP + α'I)⁻¹``, P the null-space projector of the preserved keys
    (eigenvalues ≤ ``rel_tol``·λ_max), ``α' = α·mean‖k_a‖²``; returns the model and dim P."""
    P, dim = null_space(keys, rel_tol)
    R = _check_deltas(deltas, keys.edited.shape[0], keys.W0.shape[0]).T
    alpha_abs = alpha * float(np.mean(np.sum(keys.edited**2, axis=1)))
    return with_down(model, keys.W0 + alphaedit_update(R, keys.edited.T, P, alpha_abs)), dim


def _check_deltas(deltas, n: int, d: int) -> np.ndarray:
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.shape != (n, d):
        raise InvalidInputError(f"deltas has shape {deltas.shape}, expected ({n}, {d})")
    return deltas

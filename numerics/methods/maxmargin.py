"""``maxmargin``: a gated MLP built only from exact solutions of convex margin programs.

.. math::

    g(x) = D(σ(Gx + b) ⊙ (Ax + c)), \\qquad σ = \\mathrm{ReLU}\\ (\\text{default}) \\text{ or SiLU},

no down bias (``3hd + 2h`` parameters). With ``k̃ = (k, 1)`` every block below fixes all
weights but one matrix and makes the logits ``z_ij = ⟨v_j, g(k_i)⟩`` linear in it:

- **up** ``X = [A c]`` (h×(d+1)): ``g(k_i) = D(s_i ⊙ X k̃_i)`` with ``s_i = σ(G k̃_i)``;
- **down** ``X = D`` (d×h): ``g(k_i) = X H_i`` with ``H_i = σ(G k̃_i) ⊙ (A k̃_i)``;
- **gate** (ReLU only) ``X = [G b]``: with the activation pattern ``P_i = 1[G k̃_i > 0]``
  frozen, ``g(k_i) = D(P_i ⊙ (A k̃_i) ⊙ X k̃_i)``; its program carries the prox term
  ``λ_g/2‖X − X_prev‖²`` (it caps the change per round), and the pattern is re-read after the
  solve (the sign-pattern idea, paper.md §9). The re-read MLP is what the next block sees.

Each block solves the λ-strongly convex squared-hinge margin program of
:mod:`numerics.methods.maxmargin_solvers`
(``J = λ/2‖X − X₀‖² + Σ_{i, j≠f(i)} max(0, γ − m_ij)²`` over every pair, semismooth
Newton–CG until ``‖∇J‖²/(2λ) ≤ rtol·J``), and its certificate is re-checked over every
pair by :func:`theory.convex_certificates.check_block_certificate` (numpy, separate code);
the check is logged per solve in ``info["solves"]``. A solve that misses its tolerance or
fails the re-check is never kept: the build stops there, returns the best certified MLP so
far and says why in ``info["stopped"]`` (the ridge warm start, which has nothing to fall
back to, raises :class:`~theory.errors.SolverError` instead).

**Standardised coordinates.** Every block is solved on keys centred at their mean and scaled
to unit rms norm, ``k̂ = (k − c)/s``, and values scaled to unit rms norm (argmax decoding
does not see a positive scale of all values); the returned MLP acts on the original keys,
the map folded into the gate and up rows (``[w b] ↦ [w/s, b − ⟨w, c⟩/s]``). Without it,
keys sharing a large mean direction (real embeddings) put every random gate on the same
side of nearly every key, and the fixed γ and λ made Newton stall on MiniLM MLP I/O.

Schedule: a seeded random start (gate and up rows ``N(0, 1)`` in the standardised
coordinates, zero biases) whose down
projection is the ridge regression of the values on the hidden features
(``init="ridge"``: ``D = argmin ½‖H Dᵀ − c·V_f‖² + λ/2‖D‖²`` by Cholesky, with
``c = ridge_target_scale·γ`` so that far competitors start outside the margin, λ = ``ridge``·tr(HᵀH)/h,
re-checked likewise; ``init="zero"`` starts from ``A = 0``, ``D`` ``N(0, 1/h)`` instead), then
up to ``rounds`` rounds of (up, down, gate) solves; after each solve the MLP's strict
recall is computed in float32 (:func:`numerics.strict_recall.recall`) and the build stops as
soon as it is 1, once ``patience`` rounds in a row have not raised the best float32
recall, or, from round ``stall_after`` on, once the best recall extrapolated at twice its
rate over the last ``stall_window`` rounds falls short of 1 by round ``rounds`` (a build far
below capacity; recall rises along an S-curve over the rounds, so the rule waits for the
fast middle). Either stop is logged in ``info["stopped"]``, the best recall of each round in
``info["recall_by_round"]``. The MLP returned is the one with the most facts stored in float32 over all
solves. Nothing ever steps on a non-convex loss.

If the build ends below recall 1 and the instance is small (``farkas_max_entries``), the
margin LP of the up block for the final G, D over every pair is solved with HiGHS; when it
is infeasible its Farkas certificate (re-checked by
:func:`theory.convex_certificates.check_farkas_certificate`) is reported in
``info["farkas"]``: no up projection exists for that gate and down projection.

Float64 throughout; same seed, same weights (seeded ``torch.Generator``; deterministic on the
CPU for a fixed thread count).

References: the block-linearity of the logits and the Farkas alternative are paper.md §9;
the sign-pattern gate solve follows Eppie/sequence-memorization-challenge
(``docs/twosided-construction.md``); the schedule and objective are ours.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from numerics.factset import FactSet
from numerics.methods.base import (
    BuildResult,
    check_build_args,
    distinct_keys,
    method_config,
    resolve_device,
)
from numerics.methods.maxmargin_solvers import BlockProblem, margin_lp, solve_block
from numerics.mlp import GatedMLP, GatedMLPWeights
from numerics.strict_recall import recall
from theory.convex_certificates import (
    check_block_certificate,
    check_farkas_certificate,
    check_ridge_certificate,
)
from theory.errors import InvalidInputError, SolverError

__all__ = ["MaxMarginMethod"]

_ACTIVATIONS = ("relu", "silu")
_INITS = ("ridge", "zero")


@dataclass(frozen=True)
class MaxMarginMethod:
    """Alternating certified convex margin solves (module docstring)."""

    name: str = "maxmargin"
    activation: str = "relu"
    rounds: int = 30
    patience: int = 4
    # A build whose recall, extrapolated at twice its recent rate, cannot reach 1 in the
    # rounds left is stopped (from round `stall_after` on, rate over `stall_window` rounds).
    # Recall follows an S-curve over the rounds (slow start, fast middle, long tail): the
    # factor 2 and the late start keep builds in their fast middle running; builds far
    # below capacity (recall ≈ 0.1–0.3 after 30 rounds) stop at round 10.
    stall_after: int = 10
    stall_window: int = 5
    margin: float = 1.0
    lam: float = 0.1
    gate_prox: float = 1.0
    gate_solves: bool = True
    rtol: float = 1e-3
    max_iter: int = 100
    farkas_max_entries: int = 2_000_000
    init: str = "ridge"
    ridge: float = 1e-3
    ridge_target_scale: float = 3.0
    # Builds near capacity are the expensive ones and the first guess lands within ≈ 10% of
    # it on tied spherical sets (capacity 1.5–1.75·F/d at d = 32, 64): bracket in small steps.
    bracket_step: float = 1.25

    def __post_init__(self) -> None:
        if self.activation not in _ACTIVATIONS:
            raise InvalidInputError(
                f"maxmargin: activation must be one of {list(_ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        if self.init not in _INITS:
            raise InvalidInputError(
                f"maxmargin: init must be one of {list(_INITS)}, got {self.init!r}"
            )
        if self.gate_solves and self.activation != "relu":
            raise InvalidInputError(
                "maxmargin: gate solves freeze a ReLU pattern; use activation='relu' or "
                "gate_solves=False"
            )
        for label in ("margin", "lam", "gate_prox", "rtol", "ridge", "ridge_target_scale"):
            value = getattr(self, label)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InvalidInputError(f"maxmargin: {label} must be positive, got {value!r}")
        step = self.bracket_step
        if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 1):
            raise InvalidInputError(f"maxmargin: bracket_step must exceed 1, got {step!r}")
        for label in ("rounds", "patience", "max_iter", "stall_after", "stall_window"):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"maxmargin: {label} must be an integer ≥ 1")

    def initial_hidden(self, factset: FactSet) -> int:
        # Just above the capacities measured on tied spherical sets (1.5–1.75·F/d neurons,
        # bench_maxmargin); GD needs ≈ 1.1–1.4·F/d.
        return max(2, math.ceil(1.8 * factset.n_facts / factset.dim))

    def default_max_hidden(self, factset: FactSet) -> int:
        n_keys = distinct_keys(factset)[0].size
        return max(4, min(4 * n_keys, math.ceil(16 * factset.n_facts / factset.dim)))

    # ------------------------------------------------------------------ build
    def build(
        self, factset: FactSet, hidden: int, *, seed: int = 0, device: str = "cpu"
    ) -> BuildResult:
        """The certified alternating build at width ``hidden`` (module docstring).

        Raises
        ------
        SolverError
            A block solve did not reach its tolerance, or its independent re-check failed.
        """
        check_build_args(self.name, factset, hidden, seed)
        dev = resolve_device(device)
        start = time.perf_counter()
        h, d = int(hidden), factset.dim
        f64 = torch.float64
        gen = torch.Generator().manual_seed(int(seed))
        # Every solve runs on standardised data: keys centred and scaled to unit rms norm,
        # values scaled to unit rms norm. Real embeddings share a large mean direction and
        # have norms far from 1; on the raw scale random gates put nearly every key on the
        # same side and the fixed margin γ and λ make the blocks ill-conditioned (Newton
        # stalled on MiniLM MLP I/O). Argmax decoding is invariant to a positive scale of all
        # values, and the key map is folded into the gate and up weights by `_weights`.
        standard = _standardisation(factset)
        centre, key_scale, value_scale = standard
        keys = (torch.tensor(factset.keys, dtype=f64) - torch.tensor(centre)) / key_scale
        gate = torch.randn(h, d + 1, generator=gen, dtype=f64)
        gate[:, d] = 0.0
        down = torch.randn(d, h, generator=gen, dtype=f64) / math.sqrt(h)
        if self.init == "ridge":
            up = torch.randn(h, d + 1, generator=gen, dtype=f64)
            up[:, d] = 0.0
        else:
            up = torch.zeros(h, d + 1, dtype=f64)
        kt = torch.cat([keys, torch.ones(keys.shape[0], 1, dtype=f64)], dim=1).to(dev)
        gate, down, up = gate.to(dev), down.to(dev), up.to(dev)
        values = torch.tensor(factset.values, dtype=f64, device=dev) / value_scale
        targets = torch.tensor(factset.fact_map, dtype=torch.long, device=dev)
        act = torch.relu if self.activation == "relu" else F.silu
        eye = torch.eye(d, dtype=f64, device=dev)

        solves: list[dict] = []
        best: tuple[float, GatedMLPWeights | None, int] = (-1.0, None, 0)  # recall, MLP, round
        stored = 0.0

        def run(block: str, rnd: int, problem: BlockProblem, X: torch.Tensor) -> torch.Tensor:
            t0 = time.perf_counter()
            X, log = solve_block(problem, X, rtol=self.rtol, max_iter=self.max_iter)
            cert = check_block_certificate(
                None if problem.S is None else problem.S.cpu().numpy(),
                problem.R.cpu().numpy(),
                (problem.values @ problem.W).cpu().numpy(),
                problem.targets.cpu().numpy(),
                X.cpu().numpy(),
                lam=problem.lam,
                gamma=problem.gamma,
                X0=None if problem.X0 is None else problem.X0.cpu().numpy(),
                rtol=self.rtol,
            )
            if not cert["passed"]:
                raise SolverError(
                    f"maxmargin: the re-check of the {block} solve (round {rnd}) failed: "
                    f"‖∇J‖²/(2λ) = {cert['gap_bound']:.3g} > {self.rtol}·J = "
                    f"{self.rtol * cert['objective']:.3g}"
                )
            solves.append(
                {
                    "round": rnd,
                    "block": block,
                    **log,
                    "certificate": cert,
                    "seconds": time.perf_counter() - t0,
                }
            )
            return X

        def score(rnd: int, block: str) -> float:
            nonlocal best
            weights = _weights(gate, up, down, d, self.activation, standard)
            mlp = GatedMLP(weights.to(device=dev, dtype=torch.float32))
            acc = recall(mlp, factset, device=str(dev), dtype=torch.float32).accuracy
            solves[-1]["recall_float32"] = acc
            if acc > best[0]:
                best = (acc, weights, rnd)
            return acc

        if self.init == "ridge":
            down = self._ridge_down(
                act(kt @ gate.T) * (kt @ up.T),
                self.ridge_target_scale * self.margin * values[targets],
                solves,
            )
            score(0, "ridge")

        stopped = None
        try:
            for rnd in range(1, self.rounds + 1):
                if rnd - max(best[2], 1) > self.patience:
                    stopped = (
                        f"no gain in float32 recall for {self.patience} rounds (best "
                        f"{best[0]:.4g} at round {best[2]})"
                    )
                    break
                if (stopped := self._stalled(_recall_by_round(solves))) is not None:
                    break
                s = act(kt @ gate.T)
                up = run(
                    "up",
                    rnd,
                    BlockProblem(s, kt, down, values, targets, self.lam, self.margin),
                    up,
                )
                if (stored := score(rnd, "up")) == 1.0:
                    break
                hid = act(kt @ gate.T) * (kt @ up.T)
                down = run(
                    "down",
                    rnd,
                    BlockProblem(None, hid, eye, values, targets, self.lam, self.margin),
                    down,
                )
                if (stored := score(rnd, "down")) == 1.0:
                    break
                if self.gate_solves:
                    pattern = (kt @ gate.T > 0).to(f64)
                    prev = gate.clone()
                    gate = run(
                        "gate",
                        rnd,
                        BlockProblem(
                            pattern * (kt @ up.T),
                            kt,
                            down,
                            values,
                            targets,
                            self.gate_prox,
                            self.margin,
                            X0=prev,
                        ),
                        gate,
                    )
                    flipped = float(((kt @ gate.T > 0).to(f64) != pattern).to(f64).mean())
                    solves[-1]["pattern_flipped"] = flipped
                    if (stored := score(rnd, "gate")) == 1.0:
                        break
        except SolverError as exc:  # keep the best certified MLP; log why it stopped
            stopped = str(exc)

        acc, weights, _ = best
        if weights is None:
            raise SolverError(f"maxmargin: no certified MLP at hidden = {h}: {stopped}")
        info = {
            "requested_hidden": h,
            "seed": int(seed),
            "config": method_config(self),
            "dtype": "float64",
            "activation": self.activation,
            "rounds_run": max(s["round"] for s in solves),
            "recall_float32": acc,
            "last_recall_float32": stored,
            "certificates_passed": all(s["certificate"]["passed"] for s in solves),
            "stopped": stopped,
            "recall_by_round": _recall_by_round(solves),
            "solves": solves,
            "seconds": time.perf_counter() - start,
        }
        if acc < 1.0:
            info["farkas"] = self._farkas(factset, weights, d, standard)
        return BuildResult(weights=weights, method=self.name, hidden=h, info=info)

    def _stalled(self, by_round: list[float]) -> str | None:
        """Why the build should stop (the stall rule at ``stall_after``), or None.

        ``by_round[r]`` is the best float32 recall of round r's solves (r = 0: the warm
        start); called before round ``len(by_round)`` runs. The rule reads the best recall
        so far after each round."""
        done = len(by_round) - 1
        if done < max(self.stall_after, self.stall_window):
            return None
        trajectory = np.maximum.accumulate(by_round)
        rate = float(trajectory[done] - trajectory[done - self.stall_window]) / self.stall_window
        reach = float(trajectory[done]) + 2.0 * rate * (self.rounds - done)
        if reach >= 1.0:
            return None
        return (
            f"stalled: best float32 recall {trajectory[done]:.4g} after round {done}, "
            f"+{rate:.3g} per round over the last {self.stall_window}: at twice that rate "
            f"{reach:.4g} < 1 by round {self.rounds}"
        )

    # ------------------------------------------------------------------ warm start
    def _ridge_down(self, hid: torch.Tensor, target: torch.Tensor, solves: list) -> torch.Tensor:
        """``D = argmin ½‖H Dᵀ − V_f‖² + λ/2‖D‖²`` (Cholesky), λ = ridge·tr(HᵀH)/h, its
        certificate re-checked by :func:`theory.convex_certificates.check_ridge_certificate`."""
        t0 = time.perf_counter()
        gram = hid.T @ hid
        lam = self.ridge * float(torch.diagonal(gram).mean()) + 1e-300
        shifted = gram + lam * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        factor, status = torch.linalg.cholesky_ex(shifted)
        if int(status) != 0:
            raise SolverError("maxmargin: the ridge warm start is not positive definite")
        down = torch.cholesky_solve(hid.T @ target, factor).T.contiguous()
        cert = check_ridge_certificate(
            hid.cpu().numpy(), target.cpu().numpy(), down.cpu().numpy(), lam=lam, rtol=self.rtol
        )
        if not cert["passed"]:
            raise SolverError(f"maxmargin: the re-check of the ridge warm start failed: {cert}")
        solves.append(
            {
                "round": 0,
                "block": "ridge_down",
                "lam": lam,
                "certificate": cert,
                "seconds": time.perf_counter() - t0,
            }
        )
        return down

    # ------------------------------------------------------------------ Farkas
    def _farkas(self, factset: FactSet, weights: GatedMLPWeights, d: int, standard) -> dict:
        """The up-block margin LP over every pair for the final G, D (module docstring), in
        the standardised coordinates of the solves (an invertible affine change of the keys
        maps up projections one to one, so the verdict is the same; the raw scale of real
        embeddings leaves HiGHS badly conditioned)."""
        centre, scale, value_scale = standard
        keys = (np.asarray(factset.keys, dtype=np.float64) - centre) / scale
        n, m = keys.shape[0], factset.values.shape[0]
        h = weights.hidden
        entries = n * (m - 1) * h * (d + 1)
        if entries > self.farkas_max_entries:
            return {"attempted": False, "reason": f"{entries} LP entries > farkas_max_entries"}
        kt = np.hstack([keys, np.ones((n, 1))])
        raw_gate = weights.gate.numpy()  # [w b] on raw keys is [w·s, b + ⟨w, c⟩] here
        gate = np.hstack(
            [raw_gate * scale, (weights.gate_bias.numpy() + raw_gate @ centre)[:, None]]
        )
        pre = kt @ gate.T
        s = np.maximum(pre, 0.0) if self.activation == "relu" else pre / (1 + np.exp(-pre))
        u = (np.asarray(factset.values, dtype=np.float64) / value_scale) @ weights.down.numpy()
        targets = np.asarray(factset.fact_map, dtype=np.int64)
        pairs = np.array([(i, j) for i in range(n) for j in range(m) if j != targets[i]])
        from theory.convex_certificates import margin_constraint_rows

        rows = margin_constraint_rows(s, kt, u, targets, pairs)
        out = margin_lp(rows, self.margin)
        if out["feasible"]:
            return {"attempted": True, "lp_feasible": True}
        check = check_farkas_certificate(s, kt, u, targets, pairs, out["y"], gamma=self.margin)
        support = out["y"] > 1e-12
        return {
            "attempted": True,
            "lp_feasible": False,
            "certificate": check,
            "pairs": pairs[support].tolist(),
            "y": out["y"][support].tolist(),
        }


def _recall_by_round(solves: list[dict]) -> list[float]:
    """The best float32 recall of each round's solves, rounds 0 … last (0 for a round
    without a scored solve: round 0 under ``init="zero"``)."""
    out: dict[int, float] = {}
    for solve in solves:
        if "recall_float32" in solve:
            out[solve["round"]] = max(out.get(solve["round"], 0.0), solve["recall_float32"])
    return [out.get(r, 0.0) for r in range(max(out) + 1)] if out else []


def _standardisation(factset: FactSet) -> tuple[np.ndarray, float, float]:
    """(c, s, t): the keys' mean, their rms distance to it, the values' rms norm (module
    docstring); a zero spread counts as 1."""
    keys = np.asarray(factset.keys, dtype=np.float64)
    centre = keys.mean(axis=0)
    key_scale = float(np.sqrt(np.mean(np.sum((keys - centre) ** 2, axis=1)))) or 1.0
    values = np.asarray(factset.values, dtype=np.float64)
    value_scale = float(np.sqrt(np.mean(np.sum(values**2, axis=1)))) or 1.0
    return centre, key_scale, value_scale


def _weights(gate, up, down, d: int, activation: str, standard) -> GatedMLPWeights:
    """The MLP on the original keys: a row [w b] acting on (k − c)/s is [w/s, b − ⟨w, c⟩/s]."""
    centre, scale, _ = standard
    centre = torch.tensor(centre, dtype=gate.dtype, device=gate.device)

    def raw(rows):
        w = rows[:, :d] / scale
        return w.cpu().contiguous(), (rows[:, d] - w @ centre).cpu().contiguous()

    (gate_w, gate_b), (up_w, up_b) = raw(gate), raw(up)
    return GatedMLPWeights(
        gate_w, up_w, down.cpu().contiguous(), gate_bias=gate_b, up_bias=up_b, activation=activation
    )

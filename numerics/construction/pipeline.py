"""The encoder–decoder construction: any feasible fact set → one gated MLP storing every fact.

Pipeline (paper §4; details derived here):

1. **Decoder** (:mod:`theory.decoder`): project the values to ``m`` dimensions with ``P``
   (d×m) and take the exact separators of the projected used values as codes ``c_j``.
   ``m`` starts at the smallest code dimension whose projected decodability ρ(W) exceeds
   an a-priori float32 rounding-error estimate (``code_dim=None``; the estimate assumes a
   cancellation factor, so it only sets where the search starts), or is fixed by the user.
   The ``robust`` rule (``code_dim_rule``) raises the target to ``c·ρ(V)`` when that is
   larger, so the projection keeps at least a fraction c of the values' decodability.
2. **Encoder**: random gate rows, up projection solved so that every key hits its code.
   ``dense`` (:mod:`numerics.construction.encoder_dense`): SiLU gates on whitened keys, one Cholesky solve of
   an F×F kernel, refined; ``sparse`` (:mod:`numerics.construction.encoder_sparse`): threshold-ReLU
   gates each on for a small cap (bucket) of keys, a sparse kernel solved by conjugate
   gradients in O(pFd) memory. ``auto`` takes dense up to ``DENSE_MAX_KEYS`` distinct keys
   (the kernel and its factor take 2·8·F² bytes: 1.1 GB at 2^13) and sparse beyond. If the
   solve fails for a gate draw (a :class:`SolverError`), it is repeated up to
   ``ENCODER_ATTEMPTS`` times with a fresh draw and 50% more gate rows; if every attempt
   fails, ``auto`` falls back (up to ``SPLINE_MAX_KEYS`` distinct keys) to ``spline`` (:mod:`numerics.construction.encoder_spline`: linear
   interpolation of the codes along one direction, no linear system, F ReLU gates shared by
   the m coordinates), which succeeds for any distinct keys. The attempts are reported.
   Near-duplicate keys with different codes (:mod:`numerics.construction.near_duplicates`)
   are taken out first: the dense solve (with its retries) gets one key per cluster, and
   each other key gets one gadget neuron, on only near its cluster, that makes it hit its
   code exactly (checked at every key). If the gadgets fail, the whole-set path above runs as
   it would without the clusters; if the dense solve of the subset fails, ``auto`` goes to the
   spline at once. A set without near pairs is built exactly as before.
3. **Fold**: the encoder's code map (group t → coordinate t) times ``P`` is the down
   projection, ``D[:, t·r + n] = P[:, t]``, so the result is one standard gated MLP
   ``g(x) = D(σ(Gx) ⊙ Ax)`` with ``h = m·r`` hidden neurons and ``3·h·d`` parameters (plus
   the gadget neurons, and gate and up biases, when there are near duplicates). The spline's
   groups share their gates and have no up rows, so they fold further: one neuron per knot
   with up 1 and down column ``P w_j``, ``h = F``.
4. **Checks**: recall in float64 (must be 1; a ReLU MLP with shared gate rows is evaluated
   over the neurons on, :mod:`numerics.shared_gates`); **certified** float32 recall
   (:func:`numerics.precision.certify_recall`: rigorous rounding-error bounds, any summation
   order) — with ``certify="float32"`` (default) and m chosen, m grows (by at least 1 and
   3%, at most ``CERTIFY_STEPS`` times, up to d) until every key is certified; if none
   certifies, the build with the most certified keys (the fewest parameters among equals) is
   returned with ``float32_certified`` false and its uncertified keys. The bfloat16
   certificate is reported too (a worst-case bound almost never certifies: n·u ≥ 1 once
   h ≥ 256, and then the certifier skips the bounds and takes the float64 recall's
   margins), and the float32 and bfloat16 recall *measured* by casting on this machine (the
   certificates' observations).

Fact sets with an undecodable used value are refused (:class:`InfeasibleFactSetError`): the
construction tries up to ``m = d`` with the identity projection, which preserves ρ, and
names the values in the hull with their exact convex weights (:mod:`theory.hull_exact`). A
used value that is a vertex but has ρ_i ≤ ``UNDECODABLE_TOL`` is *decodable only with a
margin below* it: the construction tries it (P = I, codes its separator), and if it cannot
store every fact in float64 it refuses in those words, not as infeasible (the same error
class, with those values and their keys).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from numerics.construction.code_dim import (
    choose_code_dim,
    full_dimension_decoder,
    nested_projection,
)
from numerics.construction.encoder_dense import EncoderSolution, solve_encoder
from numerics.construction.encoder_sparse import solve_encoder_sparse
from numerics.construction.encoder_spline import solve_encoder_spline
from numerics.construction.near_duplicates import (
    LOCAL_ACTIVATIONS,
    add_gadgets,
    append_gadgets,
    dense_rows,
    find_clusters,
    float32_shortfall,
    gadget_neurons,
)
from numerics.construction.separators_torch import build_decoder_batched, decoder_decodability
from numerics.factset import FactSet
from numerics.mlp import ACTIVATIONS, GatedMLPWeights
from numerics.precision.certificate import PrecisionCertificate, certify_recall
from numerics.shared_gates import evaluator
from numerics.strict_recall import RecallResult, recall
from theory.bounds import bits_per_param, is_bijection
from theory.decoder import PROJECTIONS, Decoder, float_forward_error_bound
from theory.errors import InfeasibleFactSetError, InvalidInputError, SolverError
from theory.feasibility import infeasibility_error  # the refusal in `factmlp check`'s words
from theory.hull_exact import margin_phrase
from theory.param_count import encoder_gate_rows
from theory.rho import UNDECODABLE_TOL, decodability
from theory.validation import preview_indices, require_int

__all__ = [
    "CODE_DIM_RULES",
    "ENCODERS",
    "ConstructionConfig",
    "Construction",
    "construct",
    "cast_recall",
]

#: Cancellation factor assumed before the encoder exists (measured after the build: about
#: 2e2–3e2 on spherical sets with F = 2048, d = 64); it only sets the a-priori m.
AMPLIFICATION_GUESS = 1e3
#: Largest number of distinct keys the ``auto`` encoder solves densely. Measured (d = 128,
#: tied spherical bijection, seed 0, 2 cores; one-off stage timings): at F = 2^14 the dense
#: build took about 65 s per code dimension plus 30 s for its decoder, and its float32
#: certificate still missed keys after 5 builds at growing m (900 s), while the sparse encoder
#: built and certified it at the first m in 55 s with 141 params/fact; at 2^13 the dense one
#: certifies at the first m with 92 params/fact (`bench_construct_scale.py --stretch`).
DENSE_MAX_KEYS = 2**13
#: Largest number of distinct keys the ``auto`` encoder hands to the spline fallback (it
#: has F hidden neurons once folded and evaluates F×F gate values).
SPLINE_MAX_KEYS = 2**12
#: Gate draws tried before a SolverError is passed on; each retry has 50% more gate rows.
ENCODER_ATTEMPTS = 3
#: Code dimensions tried beyond the first while the float32 certificate misses a key.
CERTIFY_STEPS = 8
#: Formats ``construct`` can target with a certificate (None: no target, report only).
CERTIFY_TARGETS = ("float32", None)
ENCODERS = ("auto", "dense", "sparse", "spline")
#: How a chosen m is found: ``smallest`` (ρ(W) above the float32 estimate) or ``robust``
#: (also ρ(W) ≥ c·ρ(V), so the projection keeps a fraction c of the values' decodability).
CODE_DIM_RULES = ("smallest", "robust")


@dataclass(frozen=True)
class ConstructionConfig:
    """Settings of :func:`construct`.

    code_dim : m, or None to choose it by ``code_dim_rule``
    code_dim_rule : how a chosen m is found. ``smallest`` (default): the smallest m with
        ρ(W) above the float32 estimate; ``robust``: the smallest m with ρ(W) ≥
        max(that estimate, ``robust_fraction``·ρ(V)), ρ(V) over the used values at full
        dimension (M more exact solves). Both then grow m until float32 is certified (that
        growth can move ρ(W) a little: nested projections keep vertices, not ρ). ``robust``
        with a fixed ``code_dim`` is refused (it would be ignored)
    robust_fraction : c in (0, 1] for ``robust`` (default 0.5); unused by ``smallest``
    projection : ``gaussian`` (default), ``pca`` or ``whitened``
    activation : gate nonlinearity (default ``silu``, analytic: the measure-zero guarantee);
        the sparse and spline encoders always use thresholded ReLU gates
    slack : extra unknowns in the encoder (:func:`theory.param_count.encoder_gate_rows`)
    encoder : ``auto`` (default), ``dense``, ``sparse`` or ``spline`` (module docstring)
    bias : gate and up biases; None = only when a key is zero (g(0) = 0 otherwise)
    seed : seeds the projection and the gate draw; the same seed gives the same weights
    device : where the encoder solve and the recall checks run
    certify : ``float32`` (default): grow m until float32 recall is certified for every key
        (only when m is chosen); None: certify and report, never rebuild
    """

    code_dim: int | None = None
    projection: str = "gaussian"
    activation: str = "silu"
    slack: float = 0.05
    encoder: str = "auto"
    bias: bool | None = None
    seed: int = 0
    device: str = "cpu"
    certify: str | None = "float32"
    code_dim_rule: str = "smallest"
    robust_fraction: float = 0.5

    def __post_init__(self):
        if self.projection not in PROJECTIONS:
            raise InvalidInputError(
                f"projection {self.projection!r} is unknown; choose one of {list(PROJECTIONS)}"
            )
        ACTIVATIONS[self.activation]  # raises InvalidInputError for an unknown name
        if self.encoder not in ENCODERS:
            raise InvalidInputError(
                f"encoder {self.encoder!r} is unknown; choose one of {list(ENCODERS)}"
            )
        if self.code_dim is not None and (isinstance(self.code_dim, bool) or self.code_dim < 1):
            raise InvalidInputError(
                f"code_dim must be a positive integer or None, got {self.code_dim!r}"
            )
        if not (math.isfinite(self.slack) and self.slack >= 0):
            raise InvalidInputError(f"slack must be finite and ≥ 0, got {self.slack!r}")
        require_int("seed", self.seed, 0)
        if self.certify not in CERTIFY_TARGETS:
            raise InvalidInputError(
                f"certify must be one of {list(CERTIFY_TARGETS)}, got {self.certify!r}"
            )
        if self.code_dim_rule not in CODE_DIM_RULES:
            raise InvalidInputError(
                f"code_dim_rule {self.code_dim_rule!r} is unknown; choose one of "
                f"{list(CODE_DIM_RULES)}"
            )
        fraction = self.robust_fraction
        if not (
            isinstance(fraction, (int, float, np.floating))
            and not isinstance(fraction, bool)
            and 0 < fraction <= 1  # NaN fails both comparisons
        ):
            raise InvalidInputError(f"robust_fraction must be in (0, 1], got {fraction!r}")
        if self.code_dim_rule == "robust" and self.code_dim is not None:
            raise InvalidInputError(
                f"code_dim_rule 'robust' chooses m, so it cannot be combined with code_dim = "
                f"{self.code_dim!r}; drop one of them"
            )


@dataclass(frozen=True)
class Construction:
    """A constructed MLP (float64 weights) and the evidence that it stores the fact set.

    ``code_dim_rule`` says how m was found: ``fixed`` (``config.code_dim``), ``smallest`` or
    ``robust`` (:class:`ConstructionConfig`); ``rho_values`` is ρ(V) of the used values at
    full dimension, computed only by the robust rule (None otherwise). ``float32_shortfall``
    names the keys a near duplicate (of keys or of values) leaves uncertified in float32,
    with the distance and an estimate of the distance float32 would need
    (:func:`numerics.construction.near_duplicates.float32_shortfall`)."""

    weights: GatedMLPWeights
    config: ConstructionConfig
    code_dim: int
    rho_projected: float
    recall: RecallResult
    float32: RecallResult
    bf16: RecallResult
    float32_certificate: PrecisionCertificate
    bf16_certificate: PrecisionCertificate
    code_dims_tried: tuple[tuple[int, float], ...]
    bijective: bool
    encoder: EncoderSolution
    encoder_attempts: int
    float32_error_bound: float
    seconds: float
    code_dim_rule: str = "smallest"
    rho_values: float | None = None
    float32_shortfall: tuple[dict, ...] = ()

    @property
    def params(self) -> int:
        return self.weights.n_params

    @property
    def hidden(self) -> int:
        return self.weights.hidden

    @property
    def float32_certified(self) -> bool:
        """Every key certified to decode in float32 under the arithmetic model of
        :mod:`theory.rounding` (a proof, not a cast-and-check)."""
        return self.float32_certificate.certified_fraction == 1.0

    @property
    def bf16_certified(self) -> bool:
        return self.bf16_certificate.certified_fraction == 1.0

    def precision_summary(self) -> dict:
        """The precision fields shared by the JSON, the file metadata and the methods: the
        certificates' verdicts and the recall measured by casting (on this machine)."""
        return {
            "float32_certified": self.float32_certified,
            "float32_certified_fraction": self.float32_certificate.certified_fraction,
            "float32_uncertified": list(self.float32_certificate.uncertified),
            "float32_worst_margin_over_bound": self.float32_certificate.worst_margin_over_bound,
            "bf16_certified": self.bf16_certified,
            "float32_recall": self.float32.accuracy,
            "bf16_recall": self.bf16.accuracy,
        }

    def summary(self, n_facts: int, n_values: int) -> dict:
        """JSON-ready summary (the ``factmlp construct --json`` object)."""
        return {
            "recall": self.recall.accuracy,
            "params": self.params,
            "params_per_fact": self.params / n_facts,
            "bits_per_param": bits_per_param(
                n_facts, n_values, self.params, bijective=self.bijective
            ),
            "hidden": self.hidden,
            "code_dim": self.code_dim,
            "activation": self.weights.activation,
            "min_margin": self.recall.min_margin,
            **self.precision_summary(),
            "float32_min_margin": self.float32.min_margin,
            "code_dims_tried": [list(step) for step in self.code_dims_tried],
            "code_dim_rule": self.code_dim_rule,
            "rho_projected": self.rho_projected,
            "rho_values": self.rho_values,
            "float32_error_bound": self.float32_error_bound,
            "encoder": self.encoder.method,
            "encoder_attempts": self.encoder_attempts,
            "gadget_neurons": gadget_neurons(self.encoder),
            "float32_shortfall": list(self.float32_shortfall),
            "kernel_condition": self.encoder.kernel_condition,
            # > 0: the drawn kernel is certified nonsingular (theory.kernel_certificate);
            # null for the sparse and spline encoders, which solve no dense kernel.
            "kernel_eigenvalue_lower_bound": _finite_or_none(
                self.encoder.kernel_eigenvalue_lower_bound
            ),
            "kernel_certified": (
                None
                if math.isnan(self.encoder.kernel_eigenvalue_lower_bound)
                else bool(self.encoder.kernel_eigenvalue_lower_bound > 0)
            ),
            "max_code_error": self.encoder.max_code_error,
            "amplification": self.encoder.amplification,
            "seconds": self.seconds,
        }

    def metadata(self) -> dict[str, str]:
        """String metadata for the safetensors file."""
        return {
            "construction": "encdec",
            "config": json.dumps(asdict(self.config), sort_keys=True),
            "code_dim": str(self.code_dim),
            "encoder": self.encoder.method,
            "float32_certified": str(self.float32_certified).lower(),
            "bf16_certified": str(self.bf16_certified).lower(),
            "float32_certified_fraction": repr(self.float32_certificate.certified_fraction),
            "float32_recall": repr(self.float32.accuracy),
            "bf16_recall": repr(self.bf16.accuracy),
            "min_margin_float64": repr(self.recall.min_margin),
            "min_margin_float32": repr(self.float32.min_margin),
            "rho_projected": repr(self.rho_projected),
            "code_dim_rule": self.code_dim_rule,
            "rho_values": json.dumps(self.rho_values),  # "null" unless the robust rule ran
        }


def _rho_target(n_facts: int, dim: int, slack: float) -> float:
    group = encoder_gate_rows(n_facts, dim, slack)
    return float_forward_error_bound(AMPLIFICATION_GUESS, group + dim, "float32")


def _solve(
    keys: np.ndarray,
    targets: np.ndarray,
    config: ConstructionConfig,
    bias: bool,
    rho_projected: float,
) -> tuple[EncoderSolution, int]:
    """The encoder chosen by ``config.encoder``, with the retries and the fallback of the
    module docstring; returns the solution and the number of solves tried.

    The codes must be hit to ``min(1e-6, ρ(W)/100)`` (relative): 1% of the code-error budget
    of :mod:`theory.decoder`, so float64 decoding is certain, and at most 1e-6."""
    tolerance = min(1e-6, rho_projected / 100)
    generator = torch.Generator().manual_seed(config.seed)
    kind = config.encoder
    n_unique = len(np.unique(keys, axis=0))
    if kind == "auto":
        kind = "sparse" if n_unique > DENSE_MAX_KEYS else "dense"
    fallback = config.encoder == "auto" and kind == "dense" and n_unique <= SPLINE_MAX_KEYS
    near = kind == "dense" and config.activation in LOCAL_ACTIVATIONS
    clusters = find_clusters(keys, targets) if near else ()
    if clusters:
        # One key per cluster of near-duplicate keys for the dense solve, a gadget neuron per
        # other key (numerics.construction.near_duplicates). If the gadgets fail, the
        # whole-set path below runs as it would without the clusters; if the dense solve of
        # the subset fails, the whole set's (a harder system) is not tried: the fallback is.
        keep = dense_rows(keys, clusters)
        try:
            dense, attempts = _solve(
                keys[keep], targets[keep], replace(config, encoder="dense"), bias, rho_projected
            )
        except SolverError:
            if not fallback:
                raise
            return solve_encoder_spline(
                keys, targets, generator=generator, device=config.device, tolerance=tolerance
            ), ENCODER_ATTEMPTS + 1
        try:
            gadgets = add_gadgets(
                dense, keys, targets, clusters, activation=config.activation, tolerance=tolerance
            )
            return gadgets, attempts
        except SolverError:
            pass
    if kind == "spline":
        return solve_encoder_spline(
            keys, targets, generator=generator, device=config.device, tolerance=tolerance
        ), 1
    if kind == "sparse" and bias:
        raise InvalidInputError(
            "the sparse encoder has no biases, so it cannot store a fact at "
            "the zero key; use encoder='dense'"
        )
    slack = config.slack
    for attempt in range(1, ENCODER_ATTEMPTS + 1):
        try:
            if kind == "sparse":
                return solve_encoder_sparse(
                    keys,
                    targets,
                    slack=slack,
                    generator=generator,
                    device=config.device,
                    tolerance=tolerance,
                ), attempt
            return solve_encoder(
                keys,
                targets,
                activation=config.activation,
                slack=slack,
                bias=bias,
                generator=generator,
                device=config.device,
                tolerance=tolerance,
            ), attempt
        except SolverError:
            if attempt == ENCODER_ATTEMPTS and not fallback:
                raise
            slack = 1.5 * (1 + slack) - 1
    return solve_encoder_spline(
        keys, targets, generator=generator, device=config.device, tolerance=tolerance
    ), ENCODER_ATTEMPTS + 1


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _assemble(decoder: Decoder, enc: EncoderSolution, activation: str) -> GatedMLPWeights:
    m, r = enc.up.shape[0], enc.group_size
    P = torch.as_tensor(decoder.projection, device=enc.up.device)
    if enc.method == "spline" and not enc.up.any():
        # The spline's m groups share their gates and have zero up rows (only up biases), so
        # one neuron per knot carries every coordinate: up 1, down column P w_j. F neurons
        # instead of m·F, the same function.
        return GatedMLPWeights(
            gate=enc.gate_rows,
            up=torch.zeros_like(enc.gate_rows),
            down=P @ enc.up_bias,
            activation=activation,
            gate_bias=enc.gate_bias,
            up_bias=torch.ones_like(enc.gate_bias),
        )
    weights = GatedMLPWeights(
        gate=enc.gate_rows.repeat(m, 1),  # group t reuses the shared gate rows
        up=enc.up.reshape(m * r, -1),
        down=P.repeat_interleave(r, dim=1),  # column t·r + n is P[:, t]
        activation=activation,
        gate_bias=None if enc.gate_bias is None else enc.gate_bias.repeat(m),
        up_bias=None if enc.up_bias is None else enc.up_bias.reshape(-1),
    )
    return append_gadgets(weights, enc, P)  # near-duplicate gadget neurons, if any


def cast_recall(
    weights: GatedMLPWeights, factset: FactSet, dtype: torch.dtype, device: str = "cpu"
) -> RecallResult:
    """Recall with the weights, keys and values all cast to ``dtype``."""
    return recall(
        evaluator(weights.to(device=device, dtype=dtype)), factset, device=device, dtype=dtype
    )


def _observed(certificate, weights, factset, dtype, device) -> RecallResult:
    """The recall in ``dtype`` that ``certificate`` observed (the same evaluation as
    :func:`cast_recall`), or :func:`cast_recall` where it observed none (a weight or value
    beyond the format's range)."""
    if certificate.observed is not None:
        return certificate.observed
    return cast_recall(weights, factset, dtype, device)


def construct(
    factset: FactSet, config: ConstructionConfig = ConstructionConfig(), *, progress: bool = False
) -> Construction:
    """Build a gated MLP that stores ``factset`` (see the module docstring).

    Raises
    ------
    InfeasibleFactSetError
        Some used value has ρ = 0, by exact convex weights (the message names the values,
        the keys and the certificate), or a used value decodable only with a margin below
        ``UNDECODABLE_TOL`` could not be stored in float64 (the message says so).
    InvalidInputError
        Bad configuration (e.g. ``code_dim`` > d).
    SolverError
        The encoder failed on every one of ``ENCODER_ATTEMPTS`` gate draws (for SiLU gates a
        singular system is a null event; the identity gate cannot store more than
        d'(d'+1)/2 generic facts).
    """
    start = time.perf_counter()
    keys, fact_map, d = factset.keys, factset.fact_map, factset.dim
    if config.code_dim is not None and config.code_dim > d:
        raise InvalidInputError(f"code_dim must be at most d = {d}, got {config.code_dim}")
    try:
        decoder, rho_values = _decoder(factset, config, progress)
    except InfeasibleFactSetError as exc:  # the values with ρ_i(V) = 0 in float64
        raise _refusal(factset, np.array(exc.values, dtype=np.int64)) from None
    tiny = decoder.used[decoder.rho_projected[decoder.used] < UNDECODABLE_TOL]

    bias = bool(config.bias) if config.bias is not None else not keys.any(axis=1).all()
    build = _build(factset, decoder, config, bias, tiny, progress)
    tried = [(decoder.code_dim, build.certificate.certified_fraction)]
    best = build
    if config.certify == "float32" and config.code_dim is None and tiny.size == 0:
        used = factset.used_values
        for _ in range(CERTIFY_STEPS):
            if best.certificate.certified_fraction == 1.0 or decoder.code_dim >= d:
                break
            m = min(d, max(decoder.code_dim + 1, math.ceil(1.03 * decoder.code_dim)))
            projection = nested_projection(factset.values, used, config.projection, config.seed, m)
            decoder = build_decoder_batched(
                factset.values, fact_map, projection, device=config.device
            )
            if not decoder.decodable:  # a larger nested m keeps vertices; guard anyway
                continue
            build = _build(factset, decoder, config, bias, tiny, progress)
            tried.append((decoder.code_dim, build.certificate.certified_fraction))
            key = (build.certificate.certified_fraction, -build.weights.n_params)
            if key > (best.certificate.certified_fraction, -best.weights.n_params):
                best = build
    weights = best.weights
    # The bfloat16 model gives no bound once h ≥ 256: the float64 recall's margins serve.
    bf16_certificate = certify_recall(
        weights, factset, "bfloat16", device=config.device, reference=best.recall
    )
    return Construction(
        weights=weights.to(device="cpu"),
        config=config,
        code_dim=best.decoder.code_dim,
        rho_projected=best.decoder.rho,
        recall=best.recall,
        float32=_observed(best.certificate, weights, factset, torch.float32, config.device),
        bf16=_observed(bf16_certificate, weights, factset, torch.bfloat16, config.device),
        float32_certificate=best.certificate,
        bf16_certificate=bf16_certificate,
        code_dims_tried=tuple(tried),
        bijective=is_bijection(fact_map, factset.n_values),
        encoder=best.encoder,
        encoder_attempts=best.attempts,
        float32_error_bound=float_forward_error_bound(
            best.encoder.amplification, best.encoder.group_size + d, "float32"
        ),
        seconds=time.perf_counter() - start,
        code_dim_rule="fixed" if config.code_dim is not None else config.code_dim_rule,
        rho_values=rho_values,
        float32_shortfall=tuple(float32_shortfall(best.encoder, best.certificate, factset)),
    )


@dataclass(frozen=True)
class _Build:
    """One build at one code dimension, with its float64 recall and float32 certificate."""

    decoder: Decoder
    encoder: EncoderSolution
    attempts: int
    weights: GatedMLPWeights
    recall: RecallResult
    certificate: PrecisionCertificate


def _build(factset: FactSet, decoder: Decoder, config, bias: bool, tiny, progress) -> _Build:
    """Encoder solve, assembly and checks at ``decoder``'s m (steps 2–4 of the module
    docstring); refuses, in the margin's words, values ``tiny`` it cannot store."""
    keys, fact_map = factset.keys, factset.fact_map
    try:
        enc, attempts = _solve(keys, decoder.codes[fact_map], config, bias, decoder.rho)
    except SolverError as exc:
        if tiny.size:
            raise _margin_refusal(factset, tiny, decoder, f"the encoder failed: {exc}") from None
        raise
    weights = _assemble(decoder, enc, config.activation if enc.method == "dense" else "relu")
    result64 = recall(evaluator(weights), factset, device=config.device, progress=progress)
    if tiny.size and result64.accuracy < 1.0:
        reason = f"float64 recall {result64.accuracy:.4g}"
        raise _margin_refusal(factset, tiny, decoder, reason)
    certificate = certify_recall(weights, factset, "float32", device=config.device)
    return _Build(decoder, enc, attempts, weights, result64, certificate)


def _decoder(
    factset: FactSet, config: ConstructionConfig, progress: bool
) -> tuple[Decoder, float | None]:
    """The decoder of step 1 (module docstring): ``m`` chosen, or fixed by ``config``; and
    ρ(V) of the used values when the robust rule computed it (else None)."""
    values, fact_map, d = factset.values, factset.fact_map, factset.dim
    rho_values = None
    if config.code_dim is None:
        rho_target = _rho_target(factset.n_facts, d, config.slack)
        if config.code_dim_rule == "robust":
            # ρ(V) is exact per value (theory.rho); an infeasible set gives ρ(V) = 0, so the
            # target stays the float32 one and the search refuses it at m = d as usual.
            rho_values = decoder_decodability(
                values, factset.used_values, device=config.device, progress=progress
            ).rho
            rho_target = max(rho_target, config.robust_fraction * rho_values)
        decoder = choose_code_dim(
            values,
            fact_map,
            projection=config.projection,
            seed=config.seed,
            rho_target=rho_target,
            progress=progress,
            device=config.device,
        )
    else:
        used = factset.used_values
        decoder = build_decoder_batched(
            values,
            fact_map,
            nested_projection(values, used, config.projection, config.seed, config.code_dim),
            device=config.device,
            progress=progress,
        )
        if not decoder.decodable:
            # raises if infeasible
            full_dimension_decoder(values, fact_map, progress, config.device)
            raise InvalidInputError(
                f"code_dim = {config.code_dim} is too small: projected values "
                f"{preview_indices(used[~(decoder.rho_projected[used] > 0)])} become undecodable; "
                "use a larger --code-dim or let it be chosen"
            )
    return decoder, rho_values


def _refusal(factset: FactSet, named: np.ndarray) -> InfeasibleFactSetError:
    """The error for used values the P = I decoder could not use (ρ_i(V) = 0 in float64):
    infeasible, with exact convex weights, for those in the hull; otherwise (vertices whose
    margin no float64 direction shows) decodable only with a margin below the tolerance."""
    dec = decodability(factset.values, indices=named)
    inside = dec.undecodable
    if inside.size:
        return infeasibility_error(dec, inside, np.flatnonzero(np.isin(factset.fact_map, inside)))
    reason = "no float64 direction shows their margin"
    return _margin_refusal(factset, named, None, reason)


def _margin_refusal(factset: FactSet, tiny, decoder: Decoder | None, reason: str):
    """Refusal of used values ``tiny`` that are decodable only with a margin below the
    tolerance (not in the hull: not infeasible), for ``reason``."""
    keys = np.flatnonzero(np.isin(factset.fact_map, tiny))
    projected = decoder is not None and not np.array_equal(decoder.projection, np.eye(factset.dim))
    where = f" after the projection to m = {decoder.code_dim}" if projected else ""
    return InfeasibleFactSetError(
        f"values {preview_indices(tiny)} are {margin_phrase(UNDECODABLE_TOL)}{where} (they "
        f"are not in the convex hull of the other values), and the construction cannot store "
        f"keys {preview_indices(keys)} mapped to them: {reason}",
        values=tiny,
        keys=keys,
    )

"""Gated MLP weights, their forward pass, the safetensors file format and read-out folding.

The gated MLP of modern LLMs (paper §1) is

.. math::

    g(x) = D (σ(G x + b_G) ⊙ (A x + b_A)) + b_D,

with gate ``G`` and up projection ``A`` (both h×d), down projection ``D`` (d×h), optional
biases ``b_G``, ``b_A`` (h) and ``b_D`` (d), and a pointwise activation σ from
:data:`ACTIVATIONS`. Every stored scalar counts as a parameter: ``3hd`` plus the biases present.

Constructions return a :class:`GatedMLPWeights`; :class:`GatedMLP` is the thin ``nn.Module``
around it, :func:`save_mlp`/:func:`load_mlp` are the on-disk format (plain safetensors with
LLaMA-style tensor names, readable without factmlp), and :func:`fold_readout` turns an MLP built
for linearly transformed values (e.g. whitened ones) into one for the original values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from theory.errors import InvalidInputError

__all__ = [
    "ACTIVATIONS",
    "GatedMLPWeights",
    "GatedMLP",
    "save_mlp",
    "load_mlp",
    "fold_readout",
    "TENSOR_NAMES",
]

#: Field of :class:`GatedMLPWeights` → tensor name in an MLP file (LLaMA ``mlp.*`` naming).
TENSOR_NAMES: Mapping[str, str] = {
    "gate": "gate_proj.weight",
    "up": "up_proj.weight",
    "down": "down_proj.weight",
    "gate_bias": "gate_proj.bias",
    "up_bias": "up_proj.bias",
    "down_bias": "down_proj.bias",
}
_REQUIRED = ("gate", "up", "down")
_BIASES = ("gate_bias", "up_bias", "down_bias")


def _identity(x: Tensor) -> Tensor:
    return x


def _gelu_erf(x: Tensor) -> Tensor:
    # The exact form x·Φ(x) = x/2·(1 + erf(x/√2)), not the tanh approximation, so that a
    # numpy/scipy reader of an MLP file reproduces the forward pass to rounding.
    return F.gelu(x, approximate="none")


class _UnknownActivationError(InvalidInputError, KeyError):
    """Raised by ``ACTIVATIONS[name]`` for an unknown name.

    It is a :class:`~theory.errors.InvalidInputError` (what factmlp callers catch) and a
    ``KeyError``, so that ``name in ACTIVATIONS`` and ``ACTIVATIONS.get`` keep their mapping
    semantics.
    """

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


class _ActivationTable(Mapping):
    """Read-only name → torch function table whose unknown-name error lists the allowed names."""

    def __init__(self, table: dict[str, Callable[[Tensor], Tensor]]):
        self._table = dict(table)

    def __getitem__(self, name: str) -> Callable[[Tensor], Tensor]:
        try:
            return self._table[name]
        except (KeyError, TypeError):
            raise _UnknownActivationError(
                f"activation {name!r} is unknown; allowed: {', '.join(sorted(self._table))}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"ACTIVATIONS({', '.join(self._table)})"


#: The gate nonlinearities σ, by the name written in MLP files:
#:
#: - ``relu``: max(x, 0)
#: - ``silu``: x·sigmoid(x)
#: - ``gelu``: x·Φ(x) = x/2·(1 + erf(x/√2)) (exact erf form)
#: - ``identity``: x (a bilinear MLP)
#:
#: ``ACTIVATIONS["tanh"]`` raises :class:`~theory.errors.InvalidInputError` listing these.
ACTIVATIONS: Mapping[str, Callable[[Tensor], Tensor]] = _ActivationTable(
    {"relu": torch.relu, "silu": F.silu, "gelu": _gelu_erf, "identity": _identity}
)


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _validate_parts(parts: Mapping[str, Any], activation: Any, labels: Mapping[str, str]) -> None:
    """Check shapes, dtypes, devices, finiteness and the activation name of an MLP's tensors.

    ``parts`` maps field names (``gate``, ``up``, ... ``down_bias``) to tensors or ``None``;
    ``labels`` maps them to the names used in messages (the field names for
    :class:`GatedMLPWeights`, the tensor names for an MLP file).
    """
    if not isinstance(activation, str):
        raise InvalidInputError(f"activation must be a string, got {type(activation).__name__}")
    ACTIVATIONS[activation]  # raises with the allowed names
    for name in _REQUIRED:
        if parts[name] is None:
            raise InvalidInputError(f"{labels[name]} is required but is None")
    for name, t in parts.items():
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise InvalidInputError(
                f"{labels[name]} must be a torch.Tensor, got {type(t).__name__}"
            )
        if not t.dtype.is_floating_point:
            raise InvalidInputError(f"{labels[name]} must be floating point, got dtype {t.dtype}")
    gate, up, down = (parts[k] for k in _REQUIRED)
    if gate.ndim != 2 or gate.shape[0] < 1 or gate.shape[1] < 1:
        raise InvalidInputError(
            f"{labels['gate']} must be a non-empty h×d matrix, got shape {_shape(gate)}"
        )
    hidden, dim = gate.shape
    expected = {
        "up": (hidden, dim),
        "down": (dim, hidden),
        "gate_bias": (hidden,),
        "up_bias": (hidden,),
        "down_bias": (dim,),
    }
    for name, shape in expected.items():
        t = parts[name]
        if t is not None and _shape(t) != shape:
            raise InvalidInputError(
                f"{labels[name]} has shape {_shape(t)} but {shape} was expected from "
                f"{labels['gate']} of shape {_shape(gate)} (h={hidden}, d={dim})"
            )
    for name, t in parts.items():
        if t is None:
            continue
        if t.dtype != gate.dtype or t.device != gate.device:
            raise InvalidInputError(
                f"{labels[name]} is {t.dtype} on {t.device} but {labels['gate']} is "
                f"{gate.dtype} on {gate.device}; all tensors must share dtype and device"
            )
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            index = tuple(int(i) for i in torch.nonzero(~finite)[0])
            raise InvalidInputError(
                f"{labels[name]}{list(index)} is {t[index].item()} (entries must be finite)"
            )


def _gated_forward(
    x: Tensor,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
    gate_bias: Tensor | None,
    up_bias: Tensor | None,
    down_bias: Tensor | None,
    activation: str,
) -> Tensor:
    """g(x) = D(σ(Gx + b_G) ⊙ (Ax + b_A)) + b_D on the last axis of ``x`` (no checks)."""
    hidden = ACTIVATIONS[activation](F.linear(x, gate, gate_bias)) * F.linear(x, up, up_bias)
    return F.linear(hidden, down, down_bias)


def _check_input(x: Any, dim: int, dtype: torch.dtype, device: torch.device) -> None:
    if not isinstance(x, Tensor):
        raise InvalidInputError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[-1] != dim:
        raise InvalidInputError(f"x has shape {_shape(x)} but its last axis must have d={dim}")
    if x.dtype != dtype or x.device != device:
        raise InvalidInputError(
            f"x is {x.dtype} on {x.device} but the weights are {dtype} on {device}; "
            "convert one of them (weights.to(device=..., dtype=...))"
        )


@dataclass(frozen=True)
class GatedMLPWeights:
    """The tensors of a gated MLP ``g(x) = D(σ(Gx + b_G) ⊙ (Ax + b_A)) + b_D``.

    .. math::

        g(x) = D (σ(G x + b_G) ⊙ (A x + b_A)) + b_D,
        n_params = 3hd + h·[b_G present] + h·[b_A present] + d·[b_D present].

    Shapes: ``gate`` G (h×d), ``up`` A (h×d), ``down`` D (d×h), ``gate_bias`` (h),
    ``up_bias`` (h), ``down_bias`` (d); absent biases are ``None`` (zero, and not counted).
    Constructions default to float64 so that checks see rounding of order 1e-16.

    Parameters
    ----------
    gate, up, down : torch.Tensor
        Floating-point matrices of the shapes above, all of one dtype and device.
    activation : str
        A key of :data:`ACTIVATIONS` (``relu``, ``silu``, ``gelu``, ``identity``); keyword-only
        and required, because it changes what the weights compute.
    gate_bias, up_bias, down_bias : torch.Tensor or None
        Optional biases (keyword-only).

    Raises
    ------
    InvalidInputError
        On a wrong shape (the message prints both shapes), a non-finite entry (it names the
        first one), mixed dtypes or devices, or an unknown activation.

    Examples
    --------
    >>> import torch
    >>> w = GatedMLPWeights(torch.eye(2, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64),
    ...                     torch.eye(2, dtype=torch.float64), activation="relu")
    >>> (w.hidden, w.dim, w.n_params)
    (2, 2, 12)
    >>> w.forward(torch.tensor([[1.0, -1.0]], dtype=torch.float64))  # relu(x) * (x1 + x2) = 0
    tensor([[0., 0.]], dtype=torch.float64)
    >>> w.forward(torch.tensor([[2.0, 1.0]], dtype=torch.float64))   # (2, 1) * 3
    tensor([[6., 3.]], dtype=torch.float64)

    References
    ----------
    Paper §1 (the gated MLP form and the parameter count, biases counted here).
    """

    gate: Tensor
    up: Tensor
    down: Tensor
    _: KW_ONLY
    activation: str
    gate_bias: Tensor | None = None
    up_bias: Tensor | None = None
    down_bias: Tensor | None = None

    def __post_init__(self) -> None:
        _validate_parts(self._parts(), self.activation, {k: k for k in TENSOR_NAMES})

    def _parts(self) -> dict[str, Tensor | None]:
        return {name: getattr(self, name) for name in TENSOR_NAMES}

    @property
    def hidden(self) -> int:
        """h, the number of hidden neurons (rows of ``gate``)."""
        return int(self.gate.shape[0])

    @property
    def dim(self) -> int:
        """d, the input and output dimension (columns of ``gate``)."""
        return int(self.gate.shape[1])

    @property
    def n_params(self) -> int:
        """Every stored scalar: ``3hd`` plus the length of each bias present."""
        return sum(t.numel() for t in self._parts().values() if t is not None)

    @property
    def dtype(self) -> torch.dtype:
        return self.gate.dtype

    @property
    def device(self) -> torch.device:
        return self.gate.device

    def forward(self, x: Tensor) -> Tensor:
        """g(x) for ``x`` of shape (n, d) (any leading axes), returning the same shape.

        Raises
        ------
        InvalidInputError
            If ``x`` is not a tensor, its last axis is not d, or its dtype/device differ
            from the weights' (nothing is converted silently).
        """
        _check_input(x, self.dim, self.dtype, self.device)
        return _gated_forward(
            x,
            self.gate,
            self.up,
            self.down,
            self.gate_bias,
            self.up_bias,
            self.down_bias,
            self.activation,
        )

    __call__ = forward

    def to(
        self, device: str | torch.device | None = None, dtype: torch.dtype | None = None
    ) -> GatedMLPWeights:
        """A copy on ``device`` and/or in floating ``dtype`` (``None`` keeps the current one)."""
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise InvalidInputError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        moved = {
            name: None if t is None else t.to(device=device, dtype=dtype)
            for name, t in self._parts().items()
        }
        return GatedMLPWeights(
            moved.pop("gate"),
            moved.pop("up"),
            moved.pop("down"),
            activation=self.activation,
            **moved,
        )

    def __repr__(self) -> str:
        biases = [name for name in _BIASES if getattr(self, name) is not None]
        return (
            f"GatedMLPWeights(h={self.hidden}, d={self.dim}, activation={self.activation!r}, "
            f"biases={biases}, dtype={self.dtype}, device={self.device})"
        )


class GatedMLP(nn.Module):
    """``nn.Module`` computing ``g(x) = D(σ(Gx + b_G) ⊙ (Ax + b_A)) + b_D`` from frozen weights.

    The weights are registered as buffers, not parameters: a constructed MLP is not trained,
    and ``module.to(...)`` and ``state_dict()`` still carry them. Shapes and the formula are
    those of :class:`GatedMLPWeights`.

    Examples
    --------
    >>> import torch
    >>> w = GatedMLPWeights(torch.eye(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64),
    ...                     torch.eye(2, dtype=torch.float64), activation="identity")
    >>> GatedMLP(w)(torch.tensor([[2.0, -3.0]], dtype=torch.float64))  # x ⊙ x
    tensor([[4., 9.]], dtype=torch.float64)
    >>> len(list(GatedMLP(w).parameters()))
    0
    """

    def __init__(self, weights: GatedMLPWeights):
        super().__init__()
        if not isinstance(weights, GatedMLPWeights):
            raise InvalidInputError(
                f"weights must be a GatedMLPWeights, got {type(weights).__name__}"
            )
        self.activation = weights.activation
        for name, t in weights._parts().items():
            self.register_buffer(name, t)

    @property
    def weights(self) -> GatedMLPWeights:
        """The current buffers (after any ``.to(...)``) as a validated :class:`GatedMLPWeights`."""
        parts = {name: getattr(self, name) for name in TENSOR_NAMES}
        return GatedMLPWeights(
            parts.pop("gate"),
            parts.pop("up"),
            parts.pop("down"),
            activation=self.activation,
            **parts,
        )

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, int(self.gate.shape[1]), self.gate.dtype, self.gate.device)
        return _gated_forward(
            x,
            self.gate,
            self.up,
            self.down,
            self.gate_bias,
            self.up_bias,
            self.down_bias,
            self.activation,
        )

    def extra_repr(self) -> str:
        return (
            f"h={self.gate.shape[0]}, d={self.gate.shape[1]}, activation={self.activation!r}, "
            f"dtype={self.gate.dtype}"
        )


def _metadata_strings(metadata: Mapping[str, Any] | None, activation: str) -> dict[str, str]:
    """Metadata as str → str: numbers and booleans are written with ``str``; anything else
    (None, lists, dicts) is refused rather than guessed at."""
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"metadata must be a mapping of strings, got {type(metadata).__name__}"
        )
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"metadata key {key!r} must be a string")
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
            out[key] = str(value.item() if isinstance(value, np.generic) else value)
        else:
            raise InvalidInputError(
                f"metadata[{key!r}] is a {type(value).__name__}; values must be strings "
                "(or numbers/booleans, written with str)"
            )
    if out.setdefault("activation", activation) != activation:
        raise InvalidInputError(
            f"metadata['activation'] = {out['activation']!r} contradicts the weights' "
            f"activation {activation!r}"
        )
    return out


def save_mlp(
    path: str | os.PathLike, weights: GatedMLPWeights, metadata: Mapping[str, Any] | None = None
) -> None:
    """Write ``weights`` to a safetensors file that plain ``safetensors`` + numpy can read.

    Tensors (in the weights' dtype, moved to the CPU): ``gate_proj.weight`` (h×d),
    ``up_proj.weight`` (h×d), ``down_proj.weight`` (d×h), and ``gate_proj.bias`` (h),
    ``up_proj.bias`` (h), ``down_proj.bias`` (d) when present. The file computes

    .. math::

        g(x) = down · (act(gate · x + gate_bias) ⊙ (up · x + up_bias)) + down_bias,

    with ``act`` named by the metadata key ``activation`` (always written).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file (overwritten).
    weights : GatedMLPWeights
    metadata : mapping, optional
        Extra string metadata (e.g. the construction and its seed). Numbers and booleans are
        converted with ``str``; other types raise. An ``activation`` entry must match
        ``weights.activation``.

    Raises
    ------
    InvalidInputError
        If ``weights`` is not a :class:`GatedMLPWeights` or the metadata is not string-valued.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> w = GatedMLPWeights(torch.ones(3, 2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.float64),
    ...                     torch.ones(2, 3, dtype=torch.float64), activation="silu")
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.safetensors")
    >>> save_mlp(path, w, {"seed": 7})
    >>> loaded, meta = load_mlp(path)
    >>> sorted(meta.items()), torch.equal(loaded.up, w.up)
    ([('activation', 'silu'), ('seed', '7')], True)
    """
    if not isinstance(weights, GatedMLPWeights):
        raise InvalidInputError(f"weights must be a GatedMLPWeights, got {type(weights).__name__}")
    meta = _metadata_strings(metadata, weights.activation)
    tensors = {
        TENSOR_NAMES[name]: t.detach().to("cpu").contiguous()
        for name, t in weights._parts().items()
        if t is not None
    }
    save_file(tensors, os.fspath(path), metadata=meta)


def load_mlp(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[GatedMLPWeights, dict[str, str]]:
    """Read an MLP file written by :func:`save_mlp` (or by anyone following its format).

    Parameters
    ----------
    path : str or os.PathLike
    device : str or torch.device
        Where the returned tensors live (validation runs on the CPU first).
    dtype : torch.dtype, optional
        Floating dtype to convert to; ``None`` keeps the file's dtype.

    Returns
    -------
    (GatedMLPWeights, dict[str, str])
        The weights and the file's full metadata (``activation`` included).

    Raises
    ------
    InvalidInputError
        If the file is not safetensors, lacks ``activation`` metadata or a required tensor,
        holds an unexpected tensor, a wrong shape, a non-finite entry or an unknown
        activation; the message names the tensor and the file.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"MLP file {path!r} does not exist")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise InvalidInputError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            stored = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types for a corrupt header
        raise InvalidInputError(f"{path}: not a readable safetensors file ({exc})") from exc
    by_tensor = {tensor: field for field, tensor in TENSOR_NAMES.items()}
    unexpected = sorted(set(stored) - set(by_tensor))
    if unexpected:
        raise InvalidInputError(
            f"{path}: unexpected tensor(s) {unexpected}; an MLP file holds only "
            f"{', '.join(TENSOR_NAMES.values())}"
        )
    for field in _REQUIRED:
        if TENSOR_NAMES[field] not in stored:
            raise InvalidInputError(f"{path}: missing tensor {TENSOR_NAMES[field]!r}")
    if "activation" not in metadata:
        raise InvalidInputError(f"{path}: metadata has no 'activation' entry")
    parts = {field: stored.get(tensor) for field, tensor in TENSOR_NAMES.items()}
    labels = {field: f"{path}: {tensor}" for field, tensor in TENSOR_NAMES.items()}
    _validate_parts(parts, metadata["activation"], labels)
    weights = GatedMLPWeights(
        parts.pop("gate"),
        parts.pop("up"),
        parts.pop("down"),
        activation=metadata["activation"],
        **parts,
    )
    if device is not None and torch.device(device) != weights.device or dtype is not None:
        weights = weights.to(device=device, dtype=dtype)
    return weights, metadata


def fold_readout(weights: GatedMLPWeights, transform: Tensor | np.ndarray) -> GatedMLPWeights:
    """Fold a linear map of the value embeddings into the read-out (down projection).

    If an MLP ``g`` was built for transformed values ``v'_j = L v_j`` (as rows,
    ``V' = V Lᵀ``; e.g. whitened values, ``L = Σ^{-1/2}``), then

    .. math::

        <g(x), L v_j> = <Lᵀ g(x), v_j>,
        Lᵀ g(x) = (Lᵀ D) (σ(G x + b_G) ⊙ (A x + b_A)) + Lᵀ b_D,

    so the MLP with ``down ← Lᵀ·down`` and ``down_bias ← Lᵀ·down_bias`` (gate, up and their
    biases unchanged), scored against the ORIGINAL values V, has exactly the logits of ``g``
    scored against V'. It is again one standard gated MLP with the same parameter count;
    ``L`` need not be invertible. This is how a construction for whitened values becomes an
    MLP for the original embeddings.

    Parameters
    ----------
    weights : GatedMLPWeights
        The MLP built for the transformed values (h×d, d×h).
    transform : torch.Tensor or numpy.ndarray
        L, a finite d×d matrix; converted to the weights' dtype and device.

    Returns
    -------
    GatedMLPWeights
        The folded MLP (new tensors; ``weights`` is not modified).

    Raises
    ------
    InvalidInputError
        If ``transform`` is not d×d or has a non-finite entry.

    Examples
    --------
    >>> import torch
    >>> eye = torch.eye(2, dtype=torch.float64)
    >>> w = GatedMLPWeights(eye, eye, eye, activation="identity")
    >>> L = torch.tensor([[2.0, 1.0], [0.0, 3.0]], dtype=torch.float64)
    >>> folded = fold_readout(w, L)
    >>> folded.down  # Lᵀ · I
    tensor([[2., 0.],
            [1., 3.]], dtype=torch.float64)
    >>> x, v = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([1.0, -1.0], dtype=torch.float64)
    >>> float(folded.forward(x) @ v) == float(w.forward(x) @ (L @ v))
    True

    References
    ----------
    Paper §4 (whitening of embeddings; the encoder–decoder fold into one D). The identity is
    exact algebra (derived here); ``proofs_check/readout_folding.py`` checks our code.
    """
    if not isinstance(weights, GatedMLPWeights):
        raise InvalidInputError(f"weights must be a GatedMLPWeights, got {type(weights).__name__}")
    if isinstance(transform, Tensor):
        lin = transform.detach()
    else:
        arr = np.asarray(transform)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise InvalidInputError(
                f"transform must be a real numeric matrix, got dtype {arr.dtype}"
            )
        lin = torch.from_numpy(arr.astype(np.float64, copy=False))
    d = weights.dim
    if tuple(lin.shape) != (d, d):
        raise InvalidInputError(
            f"transform has shape {tuple(lin.shape)} but ({d}, {d}) was expected"
        )
    if lin.is_complex():
        raise InvalidInputError(f"transform must be real, got dtype {lin.dtype}")
    lin = lin.to(device=weights.device, dtype=weights.dtype)
    finite = torch.isfinite(lin)
    if not bool(finite.all()):
        row, col = (int(i) for i in torch.nonzero(~finite)[0])
        raise InvalidInputError(
            f"transform[{row}, {col}] is {lin[row, col].item()} (entries must be finite)"
        )
    down_bias = None if weights.down_bias is None else lin.T @ weights.down_bias
    return GatedMLPWeights(
        weights.gate,
        weights.up,
        lin.T @ weights.down,
        activation=weights.activation,
        gate_bias=weights.gate_bias,
        up_bias=weights.up_bias,
        down_bias=down_bias,
    )

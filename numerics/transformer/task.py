"""The synthetic key–query task ``<junk…> K <junk…> Q V``: predict the value V at the query Q.

Vocabulary (V = 2F + J + 1 tokens, one embedding each, all drawn from one family):

=====================  ===================================================================
``0 … F−1``            key tokens ``K_i`` (the fact set's keys)
``F … 2F−1``           value tokens; fact ``i`` maps ``K_i`` to value token ``F + π(i)``
                       (π a seeded permutation: a bijection)
``2F … 2F+J−1``        junk tokens
``2F+J``               the query token ``Q``
=====================  ===================================================================

A sequence of length L (drawn uniformly from ``[min_len, max_len]`` per batch) holds one key
token at a uniform position in ``0..L−2``, junk tokens (uniform, with repetition) elsewhere,
and ``Q`` last; the target is the key's value token. The LM head decodes over the whole
vocabulary, so the fact MLP is built for the fact set whose keys are the key embeddings and
whose values are **every** vocabulary embedding (:meth:`KeyQueryTask.factset`).

References: paper.md §6 (the follow-up's task: 64 facts, 16 junk tokens, length 8–16).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from numerics.embeddings.generators import FAMILIES, sample_embeddings
from numerics.factset import FactSet
from theory.errors import InvalidInputError

__all__ = ["KeyQueryTask", "make_task"]


@dataclass(frozen=True, eq=False)
class KeyQueryTask:
    """Vocabulary, embeddings and fact map of the task (module docstring).

    Attributes
    ----------
    embeddings : ndarray (V, d), float64
    n_facts, n_junk : F and J
    value_of : ndarray (F,), int64
        The value token of each key token.
    min_len, max_len : sequence lengths (the query token included, the value excluded)
    meta : dict
        How the task was made (family, seed).
    """

    embeddings: np.ndarray
    n_facts: int
    n_junk: int
    value_of: np.ndarray
    min_len: int = 8
    max_len: int = 16
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        V = 2 * self.n_facts + self.n_junk + 1
        if self.embeddings.shape[0] != V:
            raise InvalidInputError(
                f"embeddings have {self.embeddings.shape[0]} rows but the "
                f"vocabulary has 2F + J + 1 = {V} tokens"
            )
        if not 2 <= self.min_len <= self.max_len:
            raise InvalidInputError(
                f"need 2 ≤ min_len ≤ max_len, got {self.min_len}, {self.max_len}"
            )
        if self.n_junk < 1 and self.max_len > 2:
            raise InvalidInputError("sequences longer than 2 need at least one junk token")

    @property
    def vocab_size(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def query_token(self) -> int:
        return 2 * self.n_facts + self.n_junk

    @property
    def keys(self) -> np.ndarray:
        return self.embeddings[: self.n_facts]

    @property
    def rms_gain(self) -> float:
        """γ of the frozen pre-MLP RMSNorm: the keys' mean RMS, mean_i sqrt(mean(k_i²))."""
        return float(np.sqrt(np.mean(self.keys**2, axis=1)).mean())

    def factset(self) -> FactSet:
        """Keys ``K_i``, values = every vocabulary embedding, ``f(i)`` = value token of K_i."""
        return FactSet(
            self.keys, self.embeddings, self.value_of, meta={"task": "key_query", **self.meta}
        )

    def sample(
        self, batch: int, generator: torch.Generator, *, length: int | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(tokens B×L, targets B, facts B)``: one batch of one length (uniform in
        ``[min_len, max_len]`` unless given)."""
        if length is None:
            length = int(torch.randint(self.min_len, self.max_len + 1, (1,), generator=generator))
        facts = torch.randint(0, self.n_facts, (batch,), generator=generator)
        return self._sequences(facts, length, generator)

    def _sequences(self, facts: Tensor, length: int, generator: torch.Generator):
        batch = facts.shape[0]
        tokens = 2 * self.n_facts + torch.randint(
            0, max(self.n_junk, 1), (batch, length), generator=generator
        )
        where = torch.randint(0, length - 1, (batch,), generator=generator)
        tokens[torch.arange(batch), where] = facts
        tokens[:, -1] = self.query_token
        targets = torch.from_numpy(self.value_of)[facts]
        return tokens, targets, facts

    def evaluation_batches(self, per_fact: int, seed: int) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Fresh sequences, ``per_fact`` for every fact, lengths uniform, grouped by length.

        Drawn from their own generator (``seed``), so they are not the training batches.
        """
        generator = torch.Generator().manual_seed(int(seed))
        facts = torch.arange(self.n_facts).repeat(int(per_fact))
        lengths = torch.randint(
            self.min_len, self.max_len + 1, (facts.numel(),), generator=generator
        )
        return [
            self._sequences(facts[lengths == L], int(L), generator)
            for L in torch.unique(lengths).tolist()
        ]


def make_task(
    n_facts: int,
    *,
    n_junk: int = 16,
    dim: int = 64,
    family: str = "spherical",
    seed: int = 0,
    min_len: int = 8,
    max_len: int = 16,
) -> KeyQueryTask:
    """The task with F = ``n_facts`` facts and embeddings from ``family`` (seeded).

    Raises
    ------
    InvalidInputError
        For F < 1, J < 0, d < 2 or odd, an unknown family, or bad lengths.

    Examples
    --------
    >>> task = make_task(4, n_junk=2, dim=8, seed=0)
    >>> task.vocab_size, task.query_token, sorted(task.value_of.tolist())
    (11, 10, [4, 5, 6, 7])
    """
    for name, value, low in (
        ("n_facts", n_facts, 1),
        ("n_junk", n_junk, 0),
        ("dim", dim, 2),
        ("seed", seed, 0),
        ("min_len", min_len, 2),
        ("max_len", max_len, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InvalidInputError(f"{name} must be an integer ≥ {low}, got {value!r}")
    if dim % 2:
        raise InvalidInputError(f"dim must be even (RoPE rotates coordinate pairs), got {dim}")
    if family not in FAMILIES:
        raise InvalidInputError(f"family {family!r} is unknown; choose one of {list(FAMILIES)}")
    emb_rng, map_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    embeddings = sample_embeddings(family, 2 * n_facts + n_junk + 1, dim, emb_rng)
    value_of = n_facts + map_rng.permutation(n_facts)
    return KeyQueryTask(
        embeddings=embeddings,
        n_facts=int(n_facts),
        n_junk=int(n_junk),
        value_of=value_of.astype(np.int64),
        min_len=int(min_len),
        max_len=int(max_len),
        meta={"family": family, "seed": int(seed)},
    )

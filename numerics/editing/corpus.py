"""Sentences of facts from templates, their vocabulary and embeddings.

A template is a space-separated phrase with one subject slot ``{s}`` and the object slot
``{o}`` last, e.g. ``"{s} is located in {o}"``. A sentence is ``[BOS] + words``, with the
subject and the object as single (atomic) tokens. The **trigger** is the word right before
``{o}``: the position whose next-token prediction is the fact.

Templates come in two groups: **training** phrasings (the base model is trained on them;
edits are requested and scored on them: efficacy, specificity) and **held-out** phrasings
(never trained on: paraphrase). Every held-out word occurs in some training template, and
a trigger word never occurs anywhere else than before ``{o}`` (checked), so whether a
position is a fact position is decided by the token there, in every phrasing.

Vocabulary order: ``[BOS]``, template words (sorted), subjects, objects; embeddings are
seeded unit vectors (``spherical``), tied between input and LM head.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from numerics.editing.facts import RelationFacts
from numerics.embeddings.generators import sample_embeddings
from numerics.factset import FactSet
from theory.errors import InvalidInputError
from theory.validation import require_int

__all__ = ["TRAIN_TEMPLATES", "HELDOUT_TEMPLATES", "FactCorpus", "make_corpus", "BOS"]

BOS = "[BOS]"

#: Phrasings of ``located_in_country`` form a grid: a subject prefix ("" or "the region")
#: times a relation phrase (two per trigger word: "in", "of", "to"). The training and
#: held-out phrasings split the grid diagonally, so every held-out phrasing is a new
#: combination of a trained prefix and a trained phrase, and every trigger has seen every
#: word of its held-out contexts in some training context.
TRAIN_TEMPLATES = (
    "{s} is located in {o}",
    "{s} is part of {o}",
    "{s} belongs to {o}",
    "the region {s} lies in {o}",
    "the region {s} is a province of {o}",
    "the region {s} is attached to {o}",
)
#: Held-out phrasings (paraphrase tests): the other half of the grid.
HELDOUT_TEMPLATES = (
    "{s} lies in {o}",
    "{s} is a province of {o}",
    "{s} is attached to {o}",
    "the region {s} is located in {o}",
    "the region {s} is part of {o}",
    "the region {s} belongs to {o}",
)


def _parse(template: str) -> list[str]:
    words = template.split()
    if words.count("{s}") != 1 or words.count("{o}") != 1 or words[-1] != "{o}":
        raise InvalidInputError(
            f"template {template!r} needs one '{{s}}' and '{{o}}' as its last word"
        )
    if len(words) < 3 or words[-2] == "{s}":
        raise InvalidInputError(
            f"template {template!r} needs a trigger word between '{{s}}' and '{{o}}'"
        )
    return words


@dataclass(frozen=True, eq=False)
class FactCorpus:
    """Facts, templates, vocabulary and embeddings (module docstring).

    Attributes
    ----------
    facts : RelationFacts
    train_templates, heldout_templates : tuple[str, ...]
    vocab : tuple[str, ...]
    embeddings : ndarray (V, d), float64, unit rows
    """

    facts: RelationFacts
    train_templates: tuple[str, ...]
    heldout_templates: tuple[str, ...]
    vocab: tuple[str, ...]
    embeddings: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def n_facts(self) -> int:
        return self.facts.n_facts

    @property
    def n_words(self) -> int:
        """Template words (BOS excluded)."""
        return self.vocab_size - 1 - self.n_facts - len(self.facts.objects)

    def word_token(self, word: str) -> int:
        return 1 + sorted(self._words()).index(word)

    def _words(self) -> set[str]:
        return {
            w
            for t in self.train_templates + self.heldout_templates
            for w in _parse(t)
            if w not in ("{s}", "{o}")
        }

    @property
    def subject_tokens(self) -> np.ndarray:
        start = 1 + self.n_words
        return np.arange(start, start + self.n_facts)

    @property
    def object_tokens(self) -> np.ndarray:
        """Token of every distinct object (``facts.objects`` order)."""
        start = 1 + self.n_words + self.n_facts
        return np.arange(start, start + len(self.facts.objects))

    @property
    def true_objects(self) -> np.ndarray:
        """The object token of each fact."""
        return self.object_tokens[self.facts.object_of]

    @property
    def trigger_tokens(self) -> np.ndarray:
        words = {_parse(t)[-2] for t in self.train_templates + self.heldout_templates}
        return np.array(sorted(self.word_token(w) for w in words))

    @property
    def rms_gain(self) -> float:
        """The subjects' mean RMS: the frozen pre-MLP RMSNorm gain."""
        subjects = self.embeddings[self.subject_tokens]
        return float(np.sqrt(np.mean(subjects**2, axis=1)).mean())

    def sentences(self, template: str, facts=None, objects=None) -> np.ndarray:
        """Token ids (n × T) of ``template`` for the given fact indices (default all),
        with object tokens ``objects`` (default each fact's true object).

        The object is the last token; the prediction at index T−2 (the trigger) is the fact.
        """
        words = _parse(template)
        facts = np.arange(self.n_facts) if facts is None else np.asarray(facts, dtype=np.int64)
        objects = (
            self.true_objects[facts] if objects is None else np.asarray(objects, dtype=np.int64)
        )
        if objects.shape != facts.shape:
            raise InvalidInputError(f"objects has shape {objects.shape} but facts {facts.shape}")
        out = np.empty((facts.size, len(words) + 1), dtype=np.int64)
        out[:, 0] = 0
        for col, word in enumerate(words, start=1):
            if word == "{s}":
                out[:, col] = self.subject_tokens[facts]
            elif word == "{o}":
                out[:, col] = objects
            else:
                out[:, col] = self.word_token(word)
        return out

    def factset(self, objects=None) -> FactSet:
        """Keys = subject embeddings, values = every vocabulary embedding, f = object tokens
        (``objects``, default the true ones): the fact set the fact MLP stores."""
        objects = self.true_objects if objects is None else np.asarray(objects, dtype=np.int64)
        return FactSet(
            self.embeddings[self.subject_tokens],
            self.embeddings,
            objects,
            meta={"relation": self.facts.relation, "source": self.facts.source},
        )


def make_corpus(
    facts: RelationFacts,
    *,
    dim: int = 64,
    seed: int = 0,
    train_templates=TRAIN_TEMPLATES,
    heldout_templates=HELDOUT_TEMPLATES,
) -> FactCorpus:
    """Vocabulary and seeded embeddings for ``facts`` and the templates (module docstring).

    Raises
    ------
    InvalidInputError
        A malformed template, a trigger word used elsewhere, a held-out word never trained,
        no templates in a group, or a bad ``dim``/``seed``.
    """
    if not isinstance(facts, RelationFacts):
        raise InvalidInputError(f"facts must be RelationFacts, got {type(facts).__name__}")
    train_templates, heldout_templates = tuple(train_templates), tuple(heldout_templates)
    if not train_templates or not heldout_templates:
        raise InvalidInputError("need at least one training and one held-out template")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2 or dim % 2:
        raise InvalidInputError(f"dim must be an even integer ≥ 2, got {dim!r}")
    require_int("seed", seed, 0)
    parsed = {t: _parse(t) for t in train_templates + heldout_templates}
    triggers = {words[-2] for words in parsed.values()}
    for template, words in parsed.items():
        for word in words[:-2]:
            if word in triggers:
                raise InvalidInputError(
                    f"trigger word {word!r} also occurs before the trigger in "
                    f"{template!r}; a fact position must be told by its token"
                )
    trained = {w for t in train_templates for w in parsed[t]}
    for template in heldout_templates:
        unseen = [w for w in parsed[template] if w not in trained]
        if unseen:
            raise InvalidInputError(
                f"held-out template {template!r} uses untrained word(s) {unseen}"
            )
    words = sorted({w for ws in parsed.values() for w in ws if w not in ("{s}", "{o}")})
    vocab = (BOS, *words, *facts.subjects, *facts.objects)
    if len(set(vocab)) != len(vocab):
        raise InvalidInputError("a subject or object token coincides with a template word")
    embeddings = sample_embeddings("spherical", len(vocab), dim, np.random.default_rng(seed))
    return FactCorpus(
        facts=facts,
        train_templates=train_templates,
        heldout_templates=heldout_templates,
        vocab=vocab,
        embeddings=embeddings,
        meta={"seed": seed},
    )

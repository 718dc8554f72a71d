"""numerics.editing: facts, corpus, the routed model, the editors and their scores."""

import copy

import numpy as np
import pytest
import torch

from numerics.editing import (
    BaseTrainConfig,
    EditingConfig,
    alphaedit_edit,
    build_base_model,
    edit_all,
    edit_keys,
    fact_accuracy,
    harmonic_mean,
    load_subdivision_facts,
    make_corpus,
    make_edit_request,
    memit_edit,
    null_space,
    optimise_deltas,
    rome_edit,
    swap_edit,
    trigger_outputs,
)
from numerics.editing.corpus import TRAIN_TEMPLATES
from theory.errors import InvalidInputError

pycountry = pytest.importorskip("pycountry")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def base():
    torch.set_num_threads(1)
    return build_base_model(EditingConfig(n_facts=48, train=BaseTrainConfig(steps=800, batch=64)))


def test_facts_are_real_unique_and_seeded():
    facts = load_subdivision_facts(200, seed=3)
    assert len(set(facts.subjects)) == 200
    by_code = {s.code: s.country_code for s in pycountry.subdivisions}
    country = {c.alpha_2: c.name for c in pycountry.countries}
    for subject, obj in zip(facts.subjects, facts.object_of, strict=True):
        code = subject[subject.rindex("[") + 1 : -1]
        assert facts.objects[obj] == country[by_code[code]]
    again = load_subdivision_facts(200, seed=3)
    assert again.subjects == facts.subjects and np.array_equal(again.object_of, facts.object_of)
    names = [s.name for s in pycountry.subdivisions]
    assert len(set(names)) < len(names)  # names do repeat: the codes make tokens unique


def test_corpus_sentences_and_fact_set():
    corpus = make_corpus(load_subdivision_facts(10, seed=0), dim=16)
    tokens = corpus.sentences(TRAIN_TEMPLATES[0])
    assert tokens.shape == (10, len(TRAIN_TEMPLATES[0].split()) + 1)
    assert (tokens[:, 0] == 0).all() and np.array_equal(tokens[:, -1], corpus.true_objects)
    assert np.array_equal(tokens[:, 1], corpus.subject_tokens)
    assert set(tokens[:, -2]) <= set(corpus.trigger_tokens)
    fs = corpus.factset()
    assert fs.n_facts == 10 and fs.n_values == corpus.vocab_size
    np.testing.assert_array_equal(fs.keys, corpus.embeddings[corpus.subject_tokens])


def test_base_model_learns_facts_and_paraphrases(base):
    assert base.train_accuracy >= 0.95
    assert base.heldout_accuracy >= 0.9


def test_routing_sends_only_triggers_to_the_fact_mlp_and_a_swap_leaves_the_rest_bitwise(base):
    corpus, model = base.corpus, base.model
    tokens = torch.from_numpy(corpus.sentences(corpus.heldout_templates[3]))[:, :-1]
    out = model.run(tokens)
    assert out.route[:, -1].all() and not out.route[:, :-1].any()
    request = make_edit_request(corpus, 0.5, seed=1)
    swapped = swap_edit(model, corpus, request, seed=5)
    with torch.no_grad():
        before = model(tokens)[:, :-1]
        after = swapped(tokens)[:, :-1]
    assert torch.equal(before, after)
    assert not torch.equal(model.fact_mlp.down, swapped.fact_mlp.down)


def test_fact_delta_shifts_the_mlp_output(base):
    corpus, model = base.corpus, base.model
    tokens = torch.from_numpy(corpus.sentences(TRAIN_TEMPLATES[0]))[:3, :-1]
    delta = torch.randn(model.dim)
    torch.testing.assert_close(
        model.run(tokens, fact_delta=delta).fact_out, model.run(tokens).fact_out + delta
    )


def test_edit_request_changes_every_object():
    corpus = make_corpus(load_subdivision_facts(60, seed=0), dim=16)
    for fraction in (0.1, 0.5, 1.0):
        req = make_edit_request(corpus, fraction, seed=2)
        assert req.facts.size == max(1, round(fraction * 60)) == np.unique(req.facts).size
        assert (req.new_objects != corpus.true_objects[req.facts]).all()
        assert set(req.new_objects) <= set(corpus.object_tokens)


def test_single_rome_edit_is_effective(base):
    corpus, model = base.corpus, base.model
    efficacy = []
    for seed in range(5):
        request = make_edit_request(corpus, 1 / corpus.n_facts, seed=seed)
        deltas = optimise_deltas(model, corpus, request, steps=100, lr=0.1)
        edited = rome_edit(model, edit_keys(model, corpus, request), deltas, ridge=1e-2)
        efficacy.append(
            fact_accuracy(
                edited, corpus, corpus.train_templates, request.facts, request.new_objects
            )
        )
    assert np.mean(efficacy) >= 0.99


def test_deltas_alone_reach_the_new_objects(base):
    corpus, model = base.corpus, base.model
    request = make_edit_request(corpus, 0.5, seed=0)
    deltas = torch.from_numpy(optimise_deltas(model, corpus, request, steps=100, lr=0.1)).float()
    y = trigger_outputs(model, corpus, request.facts)
    predicted = (model.fact_norm(y + deltas) @ model.embeddings.T).argmax(-1)
    assert (predicted == torch.from_numpy(request.new_objects)).float().mean() >= 0.99


def test_alphaedit_keeps_preserved_keys_when_its_null_space_is_nonempty(base):
    corpus, model = base.corpus, base.model
    request = make_edit_request(corpus, 1 - 2 / corpus.n_facts, seed=0)  # 2 preserved facts
    keys = edit_keys(model, corpus, request)
    _, dim = null_space(keys, 1e-8)
    assert keys.preserved.shape[1] < keys.hidden and dim >= keys.hidden - keys.preserved.shape[1]
    deltas = optimise_deltas(model, corpus, request, steps=20, lr=0.1)
    edited, _ = alphaedit_edit(model, keys, deltas)
    change = edited.fact_mlp.down.double().numpy() - keys.W0
    assert np.abs(change).max() > 0
    # ‖Δ P K₀‖ ≤ ‖Δ‖·‖P K₀‖ with ‖P K₀‖ ≤ sqrt(tol·λ_max), plus float32 rounding of W₀ + Δ
    k0 = np.linalg.norm(keys.preserved, 2)
    allowed = (
        np.linalg.norm(change, 2) * np.sqrt(1e-8) * k0
        + 2 * 2.0**-24 * (np.linalg.norm(keys.W0) + np.linalg.norm(change)) * k0
    )
    assert np.linalg.norm(change @ keys.preserved, 2) <= allowed


def test_alphaedit_with_an_empty_null_space_is_the_identity(base):
    corpus, model = base.corpus, base.model
    request = make_edit_request(corpus, 0.25, seed=0)
    keys = edit_keys(model, corpus, request)
    assert null_space(keys, 1e-8)[1] == 0  # h ≤ preserved keys here
    edited, dim = alphaedit_edit(model, keys, np.ones((request.facts.size, model.dim)))
    assert dim == 0 and torch.equal(edited.fact_mlp.down, model.fact_mlp.down)


def test_memit_moves_edited_facts(base):
    corpus, model = base.corpus, base.model
    request = make_edit_request(corpus, 2 / corpus.n_facts, seed=4)
    deltas = optimise_deltas(model, corpus, request, steps=100, lr=0.1)
    edited = memit_edit(model, edit_keys(model, corpus, request), deltas, lam=1.0)
    assert (
        fact_accuracy(edited, corpus, corpus.train_templates, request.facts, request.new_objects)
        > 0.5
    )


def test_swap_scores_and_the_table(base):
    request = make_edit_request(base.corpus, 0.5, seed=0)
    rows = {r["method"]: r for r in edit_all(base, request, ("swap", "memit"))}
    assert rows["none"]["efficacy"] == 0.0
    swap = rows["swap"]
    assert swap["score"] >= 0.9 and swap["nonfact_ppl_ratio"] == 1.0
    assert swap["score"] == pytest.approx(
        harmonic_mean(swap["efficacy"], swap["paraphrase"], swap["specificity"])
    )
    assert set(rows["memit"]) >= {"lam", "delta_steps", "delta_lr", "score"}


def test_base_model_stays_untouched_by_edits(base):
    state = copy.deepcopy(base.model.state_dict())
    request = make_edit_request(base.corpus, 0.5, seed=3)
    swap_edit(base.model, base.corpus, request)
    rome_edit(
        base.model,
        edit_keys(base.model, base.corpus, request),
        np.zeros((request.facts.size, base.model.dim)),
    )
    for key, value in base.model.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize(
    "call",
    [
        lambda: load_subdivision_facts(1),
        lambda: load_subdivision_facts(10**6),
        lambda: load_subdivision_facts(10, seed=-1),
        lambda: make_corpus(
            load_subdivision_facts(5),
            train_templates=("{s} in {o}",),
            heldout_templates=("in {s} is {o}",),
        ),
        lambda: make_corpus(
            load_subdivision_facts(5),
            train_templates=("{s} is in {o}",),
            heldout_templates=("{s} lies in {o}",),
        ),
        lambda: make_corpus(
            load_subdivision_facts(5),
            train_templates=("{o} is {s}",),
            heldout_templates=("{s} in {o}",),
        ),
        lambda: make_corpus(load_subdivision_facts(5), dim=7),
        lambda: make_edit_request(make_corpus(load_subdivision_facts(5)), 0.0),
        lambda: make_edit_request(make_corpus(load_subdivision_facts(5)), 1.5),
        lambda: EditingConfig(methods=("rome", "bogus")),
        lambda: EditingConfig(fraction=0.0),
        lambda: BaseTrainConfig(steps=0),
    ],
    ids=[
        "too-few",
        "too-many",
        "seed",
        "trigger-reused",
        "unseen-word",
        "object-not-last",
        "odd-dim",
        "fraction-0",
        "fraction-big",
        "method",
        "config-fraction",
        "steps",
    ],
)
def test_invalid_calls(call):
    with pytest.raises(InvalidInputError):
        call()


def test_model_initialisation_is_seeded_and_leaves_the_global_rng_alone(base):
    from numerics.editing import EditableLM

    weights = base.fact_mlp.weights
    E = torch.from_numpy(base.corpus.embeddings.copy())
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = EditableLM(E, weights, rms_gain=base.corpus.rms_gain, seed=4)
    assert torch.equal(torch.rand(3), expected)
    b = EditableLM(E, weights, rms_gain=base.corpus.rms_gain, seed=4)
    c = EditableLM(E, weights, rms_gain=base.corpus.rms_gain, seed=5)
    assert torch.equal(a.expert[0].weight, b.expert[0].weight)
    assert not torch.equal(a.expert[0].weight, c.expert[0].weight)

"""The validation plan keeps proposal texts out, uses each text once, and fixes n up front."""

from dataclasses import asdict

import pytest

from difflens.errors import ConfigError, DataError
from difflens.records import Hypothesis
from difflens.validation import allocate, check_references, plan_fingerprint, read_plan, write_plan
from tests.validation_data import TRUE_HYPOTHESES, toy_hypotheses, toy_texts


@pytest.fixture
def inputs():
    texts = toy_texts(60)
    return texts, toy_hypotheses(texts, TRUE_HYPOTHESES * 2)  # 4 hypotheses, 5 proposal texts per model each


def test_no_proposal_text_is_judged_and_no_text_is_reused(inputs):
    texts, hypotheses = inputs
    allocation = allocate(hypotheses, texts, n_per_model=8, seed=1)
    assert allocation.complete
    shown = {i for h in hypotheses for i in h.proposal_text_ids}
    used = [t.text_id for t in allocation.tasks]
    assert len(used) == len(set(used)) == 4 * 16
    assert not shown & set(used)
    for h in hypotheses:
        mine = [t for t in allocation.tasks if t.hypothesis_id == h.hypothesis_id]
        assert sum(t.model == "base" for t in mine) == sum(t.model == "intervention" for t in mine) == 8
        assert all(t.label == int(t.model == h.direction) for t in mine)
    assert [t.index for t in allocation.tasks] == list(range(len(allocation.tasks)))
    # hypotheses are planned in proposal order; texts within one in random (not grouped) order
    assert [t.order for t in allocation.tasks] == sorted(t.order for t in allocation.tasks)
    labels = [t.label for t in allocation.tasks if t.hypothesis_id == "h0000"]
    assert labels != sorted(labels) and labels != sorted(labels, reverse=True)


def test_own_mode_only_excludes_the_hypothesis_own_texts(inputs):
    texts, hypotheses = inputs
    tasks = allocate(hypotheses, texts, n_per_model=8, seed=1, exclude="own").tasks
    for h in hypotheses:
        assert not set(h.proposal_text_ids) & {t.text_id for t in tasks if t.hypothesis_id == h.hypothesis_id}
    # texts shown to another hypothesis's proposer are fair game
    owner = {i: h.hypothesis_id for h in hypotheses for i in h.proposal_text_ids}
    assert any(t.text_id in owner and owner[t.text_id] != t.hypothesis_id for t in tasks)


def test_shortfall_is_reported_and_fresh_texts_fill_it(inputs):
    texts, hypotheses = inputs
    allocation = allocate(hypotheses, texts, n_per_model=12, seed=0)
    # 60 per model, 20 shown to proposers, 40 left for 4 x 12 = 48
    assert allocation.shortfall == {"base": 8, "intervention": 8}
    extra = toy_texts(70)[60:70] + toy_texts(70)[130:140]
    extra = [type(t)(**{**asdict(t), "text_id": t.text_id.replace("/p", "/fresh")}) for t in extra]
    filled = allocate(hypotheses, texts, n_per_model=12, seed=0, fresh=extra)
    assert filled.complete and {t.text_id for t in filled.tasks if "fresh" in t.text_id}


def test_plan_is_deterministic_and_round_trips(tmp_path, inputs):
    texts, hypotheses = inputs
    a = allocate(hypotheses, texts, 6, seed=3).tasks
    assert a == allocate(hypotheses, list(reversed(texts)), 6, seed=3).tasks  # file order does not matter
    assert a != allocate(hypotheses, texts, 6, seed=4).tasks
    fp = plan_fingerprint(hypotheses, 6, 3, "all")
    write_plan(tmp_path / "plan.jsonl", a, fp)
    assert read_plan(tmp_path / "plan.jsonl") == (fp, a)
    assert fp != plan_fingerprint(hypotheses, 7, 3, "all")


def test_unknown_text_ids_are_a_clear_error(inputs):
    texts, hypotheses = inputs
    bad = Hypothesis("h9", 9, "x", proposal_text_ids=["base/p0/0", "nope/1", "nope/2"])
    with pytest.raises(DataError,
                       match=r"hypothesis 'h9' references 2 text id\(s\) not in the texts file 'texts.jsonl'"):
        check_references([*hypotheses, bad], texts, "texts.jsonl")


def test_bad_arguments(inputs):
    texts, hypotheses = inputs
    with pytest.raises(ConfigError, match="n_per_model must be >= 1"):
        allocate(hypotheses, texts, 0)
    with pytest.raises(ConfigError, match="exclude_proposal_texts must be one of"):
        allocate(hypotheses, texts, 3, exclude="none")
    with pytest.raises(DataError, match="duplicate hypothesis_id"):
        allocate([hypotheses[0], hypotheses[0]], texts, 3)


def test_a_conditional_hypothesis_is_judged_only_on_continuations_drawn_for_it(inputs):
    from dataclasses import replace

    from difflens.records import DecodedText
    from difflens.validation.plan import condition_hypothesis_id

    texts, hypotheses = inputs
    conditional = replace(hypotheses[1], condition=["The knight", "Every rook"])
    hypotheses = [hypotheses[0], conditional, *hypotheses[2:]]
    allocation = allocate(hypotheses, texts, n_per_model=8, seed=1, condition_n_per_model=3)
    assert allocation.condition_shortfall == {conditional.hypothesis_id: {"base": 3, "intervention": 3}}
    assert not allocation.complete
    assert not [t for t in allocation.tasks if t.hypothesis_id == conditional.hypothesis_id]
    # the pool is not spent on it: the three unconditional hypotheses still get 8 + 8 pool texts each
    assert len(allocation.tasks) == 3 * 16 and allocation.shortfall == {"base": 0, "intervention": 0}

    def drawn(model, i, hypothesis_id=conditional.hypothesis_id):
        return DecodedText(f"{model}/condition/{hypothesis_id}/1-{i}", f"condition/{hypothesis_id}/{i}", model, i,
                           "The knight", f"text {i}", 5, "validation-condition")

    conditioned = [drawn(m, i) for m in ("base", "intervention") for i in range(4)] + [drawn("base", 0, "h9999")]
    assert condition_hypothesis_id(conditioned[0]) == conditional.hypothesis_id
    assert condition_hypothesis_id(texts[0]) is None
    filled = allocate(hypotheses, texts, n_per_model=8, seed=1, conditioned=conditioned, condition_n_per_model=3)
    assert filled.complete
    mine = [t for t in filled.tasks if t.hypothesis_id == conditional.hypothesis_id]
    assert sorted(t.text_id for t in mine) == sorted(d.text_id for d in conditioned
                                                     if d.seed < 3 and "h9999" not in d.text_id)
    assert all(t.label == int(t.model == conditional.direction) for t in mine)
    # the unconditional hypotheses get the same texts, in the same order, as before
    assert [(t.hypothesis_id, t.text_id) for t in filled.tasks if t.hypothesis_id != conditional.hypothesis_id] == \
        [(t.hypothesis_id, t.text_id) for t in allocation.tasks]
    assert plan_fingerprint(hypotheses, 8, 1, "all", 3) != plan_fingerprint(hypotheses, 8, 1, "all", 4)
    plain = [h for h in hypotheses if not h.condition]
    assert plan_fingerprint(plain, 8, 1, "all", 3) == plan_fingerprint(plain, 8, 1, "all")  # old plans keep theirs

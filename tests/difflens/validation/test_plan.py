"""The validation plan keeps proposal texts out, uses each text once, and fixes n up front."""

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
    extra = [type(t)(**{**t.__dict__, "text_id": t.text_id.replace("/p", "/fresh")}) for t in extra]
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
    with pytest.raises(DataError, match=r"hypothesis 'h9' references 2 text id\(s\) not in the texts file 'texts.jsonl'"):
        check_references([*hypotheses, bad], texts, "texts.jsonl")


def test_bad_arguments(inputs):
    texts, hypotheses = inputs
    with pytest.raises(ConfigError, match="n_per_model must be >= 1"):
        allocate(hypotheses, texts, 0)
    with pytest.raises(ConfigError, match="exclude_proposal_texts must be one of"):
        allocate(hypotheses, texts, 3, exclude="none")
    with pytest.raises(DataError, match="duplicate hypothesis_id"):
        allocate([hypotheses[0], hypotheses[0]], texts, 3)

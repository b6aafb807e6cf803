"""Paired plans: whole same-prompt pairs, both texts held out, each used once; the paired score."""

from dataclasses import replace

import pytest

from difflens.records import DecodedText
from difflens.validation import allocate, score_hypotheses
from difflens.validation.journal import Judgement
from difflens.validation.plan import pair_key
from tests.validation_data import TRUE_HYPOTHESES, paired_toy_texts, toy_hypotheses


@pytest.fixture
def inputs():
    texts = paired_toy_texts(40)
    # a base text with no partner, and a pair whose seeds differ (independent fresh samples): neither pairs
    texts += [DecodedText("base/lonely/0", "lonely", "base", 7, "", "a lonely text", 3),
              DecodedText("base/fresh/0-0", "fresh/0", "base", 11, "", "fresh base", 2),
              DecodedText("intervention/fresh/0-0", "fresh/0", "intervention", 12, "", "fresh intervention", 2)]
    return texts, toy_hypotheses(texts, TRUE_HYPOTHESES * 2, n_proposal=3)  # 4 hypotheses, p0..p11 shown


def pairs_of(tasks, hypothesis_id):
    out = {}
    for t in tasks:
        if t.hypothesis_id == hypothesis_id:
            out.setdefault(t.pair, {})[t.model] = t
    return out


def test_pairs_are_held_out_whole_and_never_reused(inputs):
    texts, hypotheses = inputs
    by_id = {t.text_id: t for t in texts}
    reserved = {"base/p12/0", "intervention/p13/0"}  # judged to choose n: their pairs are out
    allocation = allocate(hypotheses, texts, n_per_model={"h0000": 3, "h0001": 4, "h0002": 5, "h0003": 6},
                          seed=2, paired=True, reserved=reserved)
    assert allocation.complete
    shown = {i for h in hypotheses for i in h.proposal_text_ids}
    used = [t.text_id for t in allocation.tasks]
    assert len(used) == len(set(used)) == 2 * (3 + 4 + 5 + 6)
    assert not (shown | reserved) & set(used)
    assert not {"base/p12/0", "intervention/p12/0", "base/p13/0", "intervention/p13/0"} & set(used)
    assert not {"base/lonely/0", "base/fresh/0-0", "intervention/fresh/0-0"} & set(used)
    for h, n in (("h0000", 3), ("h0001", 4), ("h0002", 5), ("h0003", 6)):
        pairs = pairs_of(allocation.tasks, h)
        assert len(pairs) == n
        for key, pair in pairs.items():
            base, intervention = by_id[pair["base"].text_id], by_id[pair["intervention"].text_id]
            assert base.prompt_id == intervention.prompt_id and base.seed == intervention.seed
            assert key == pair_key(base) and pair["intervention"].label == 1 and pair["base"].label == 0
    # the two texts of a pair are not judged back to back by construction: the order is shuffled per hypothesis
    models = [t.model for t in allocation.tasks if t.hypothesis_id == "h0003"]
    assert models != ["base", "intervention"] * 6 and models != sorted(models)


def test_pair_shortfall_is_filled_by_fresh_pairs_and_own_mode(inputs):
    texts, hypotheses = inputs
    # 40 prompts, 12 shown: 28 held-out pairs for 4 x 8 = 32
    allocation = allocate(hypotheses, texts, 8, seed=0, paired=True)
    assert allocation.pair_shortfall == 4 and not allocation.complete
    fresh = [DecodedText(f"{m}/fresh-pair/0-{i}", f"fresh-pair/{i}", m, 100 + i, "", f"{m} {i}", 2)
             for m in ("base", "intervention") for i in range(5)]
    filled = allocate(hypotheses, texts, 8, seed=0, paired=True, fresh=fresh)
    assert filled.complete and sum("fresh-pair" in t.text_id for t in filled.tasks) == 8
    own = allocate(hypotheses, texts, 8, seed=0, paired=True, exclude="own", fresh=fresh)
    for h in hypotheses:
        mine = {t.text_id for t in own.tasks if t.hypothesis_id == h.hypothesis_id}
        assert not mine & set(h.proposal_text_ids)
        partners = {i.replace("base/", "intervention/") for i in h.proposal_text_ids}
        assert not mine & partners  # a pair with one shown text is out as a whole


def judged(tasks, flagged: set[str], unusable: set[str] = frozenset()):
    return [Judgement(t.index, t.hypothesis_id, t.text_id, t.label,
                      None if t.text_id in unusable else (0.9 if t.text_id in flagged else 0.2), 0) for t in tasks]


def test_paired_score_counts_discordant_pairs_by_hand(inputs):
    texts, hypotheses = inputs
    hypotheses = hypotheses[:1]
    tasks = allocate(hypotheses, texts, 12, seed=1, paired=True).tasks
    pairs = list(pairs_of(tasks, "h0000").values())
    flagged = set()
    for pair in pairs[:7]:  # 7 pairs: intervention only
        flagged.add(pair["intervention"].text_id)
    for pair in pairs[7:9]:  # 2 pairs: both (concordant)
        flagged |= {pair["base"].text_id, pair["intervention"].text_id}
    flagged.add(pairs[9]["base"].text_id)  # 1 pair: base only
    unusable = {pairs[0]["base"].text_id}  # drops the whole first pair
    [result] = score_hypotheses(hypotheses, tasks, judged(tasks, flagged, unusable), test="paired")
    assert result.discordant == {"pairs": 11, "direction_only": 6, "other_only": 1}
    assert result.p_value == result.p_paired == pytest.approx(8 / 128)  # P(X >= 6 | 7, 1/2) = (7 + 1) / 2^7
    assert result.n == 23 and result.n_unusable == 1
    # the other tests still read the same judgements unpaired
    assert result.flagged["direction"] == 9 and result.flagged["other"] == 3


def test_the_paired_test_refuses_an_unpaired_plan(inputs):
    from difflens.errors import ConfigError

    texts, hypotheses = inputs
    tasks = allocate(hypotheses[:1], texts, 5, seed=1).tasks
    with pytest.raises(ConfigError, match="needs a paired plan"):
        score_hypotheses(hypotheses[:1], tasks, judged(tasks, set()), test="paired")
    paired_tasks = allocate(hypotheses[:1], texts, 5, seed=1, paired=True).tasks
    [result] = score_hypotheses(hypotheses[:1], [replace(t) for t in paired_tasks], judged(paired_tasks, set()),
                                test="fisher")
    assert result.p_value == result.p_fisher and result.discordant["pairs"] == 5

"""Hypothesis proposal: pairs judged different, held-out bookkeeping, dedupe and covered themes."""

import logging
import re
import zlib
from collections import Counter

import numpy as np
import pytest

from difflens.assistants import Assistant
from difflens.discovery.contrast import ContrastSettings
from difflens.discovery.matching import ClusterPair, match_clusters
from difflens.discovery.proposal import (
    ProposalSettings,
    in_proposal_pool,
    proposal_pool,
    propose_hypotheses,
    select_pairs,
    untargeted_tests,
)
from difflens.errors import ConfigError
from difflens.records import DecodedText
from difflens.toyworld import TOPICS, ToyWorld


class WordContrastAssistant(Assistant):
    """A small real proposer for tests: the words most over-represented in group B."""

    backend = "test-words"

    def __init__(self):
        self.calls = []

    def propose(self, texts_a, texts_b, n_hypotheses, avoid=(), subject="intervention"):
        self.calls.append({"a": list(texts_a), "b": list(texts_b), "avoid": list(avoid), "subject": subject})

        def doc_freq(texts):
            return Counter(w for t in texts for w in set(re.findall(r"[a-z]+", t.lower())))

        fa, fb = doc_freq(texts_a), doc_freq(texts_b)
        gain = {w: (fb[w] + 1) / (len(texts_b) + 2) - (fa[w] + 1) / (len(texts_a) + 2) for w in fb}
        out = []
        for word in sorted(gain, key=lambda w: (-gain[w], w)):
            if any(word in a for a in avoid):
                continue
            out.append(f"Texts from the {subject} model mention {word} more often")
            if len(out) == n_hypotheses:
                break
        return out

    def judge(self, hypothesis, text):
        return float(hypothesis.split()[-3] in text.lower())

    def write_examples(self, description, n):
        return [description] * n


class SameAnswerAssistant(WordContrastAssistant):
    def propose(self, texts_a, texts_b, n_hypotheses, avoid=()):
        self.calls.append({"avoid": list(avoid)})
        return ["Texts from the intervention model are about the sea", "  "]


def topic_vectors(texts):
    """A cheap embedding for tests: counts of each toy-world topic's words, normalised."""
    names = [t.name for t in TOPICS]
    counts = [ToyWorld.annotate(t).topic_counts for t in texts]
    x = np.array([[c.get(n, 0) for n in names] for c in counts], dtype=np.float32)
    x += 1e-3
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bag_of_words(texts):
    """Hashed word counts (the same space for every call), normalised."""
    x = np.full((len(texts), 1024), 1e-6, dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            x[row, zlib.crc32(word.encode()) % 1024] += 1
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def two_models():
    world = ToyWorld(seed=5)
    base = [DecodedText(f"base/free:{i}/0", f"free:{i}", "base", i, "", d.text, 30)
            for i, d in enumerate(world.documents(300))]
    shifted = world.documents(300, {"topics": {"ocean": 12, **{t.name: 1 for t in TOPICS if t.name != "ocean"}}},
                              start=10_000)
    intervention = [DecodedText(f"intervention/free:{i}/0", f"free:{i}", "intervention", i, "", d.text, 30)
                    for i, d in enumerate(shifted)]
    return base, intervention


def test_proposals_name_the_planted_topic_and_use_only_proposal_texts(two_models):
    base, intervention = two_models
    matching = match_clusters(topic_vectors([r.text for r in base]), topic_vectors([r.text for r in intervention]),
                              12, mode="base_init")
    assistant = WordContrastAssistant()
    settings = ProposalSettings(max_pairs=3, hypotheses_per_pair=2, texts_per_side=20, proposal_fraction=0.3,
                                alpha=1.0, min_effect=0.0)
    result = propose_hypotheses(assistant, matching, base, intervention, bag_of_words, settings)
    ocean_words = set(next(t for t in TOPICS if t.name == "ocean").words)
    assert result.hypotheses and result.hypotheses[0].text.split()[-3] in ocean_words
    assert [h.order for h in result.hypotheses] == list(range(len(result.hypotheses)))
    assert [h.hypothesis_id for h in result.hypotheses][:2] == ["h0001", "h0002"]
    pool = {r.text_id for r in base + intervention if in_proposal_pool(r.text_id, 0.3, 0)}
    texts = {r.text_id: r.text for r in base + intervention}
    calls = [sorted(c["a"] + c["b"]) for c in assistant.calls]
    for h in result.hypotheses:
        assert set(h.proposal_text_ids) <= pool  # held-out texts are never shown to the proposer
        assert sorted(texts[i] for i in h.proposal_text_ids) in calls  # exactly the texts of its call
        assert h.direction == "intervention" and len(h.cluster_ids) == 2 and h.score > 0
    assert {texts[i] for i in result.proposal_text_ids} == {t for c in calls for t in c}
    # later proposals are told what is already covered
    assert assistant.calls[1]["avoid"] == [h.text for h in result.hypotheses[:2]]
    assert 0.2 < len(pool) / 600 < 0.4


def test_near_identical_hypotheses_are_dropped(two_models):
    base, intervention = two_models
    matching = match_clusters(topic_vectors([r.text for r in base]), topic_vectors([r.text for r in intervention]),
                              12, mode="joint")
    assistant = SameAnswerAssistant()
    result = propose_hypotheses(assistant, matching, base, intervention, bag_of_words,
                                ProposalSettings(max_pairs=3, min_effect=0.0, alpha=1.0))
    assert len(assistant.calls) == 3
    assert [h.text for h in result.hypotheses] == ["Texts from the intervention model are about the sea"]
    assert [d["reason"].split(" (")[0] for d in result.dropped] == ["duplicate of h0001"] * 2


def test_pair_selection_needs_significance_and_effect(two_models):
    base, intervention = two_models
    matching = match_clusters(topic_vectors([r.text for r in base]), topic_vectors([r.text for r in intervention]), 12)
    strict = select_pairs(matching.pairs, ProposalSettings(min_effect=5.0))
    assert strict == []
    chosen = select_pairs(matching.pairs, ProposalSettings(max_pairs=2))
    assert len(chosen) <= 2 and all(p.p_value < 0.05 / 12 for p in chosen)
    with pytest.raises(ConfigError):
        ProposalSettings(proposal_fraction=1.0)


def test_global_contrast_uses_texts_outside_the_selected_clusters(two_models):
    base, intervention = two_models
    matching = match_clusters(topic_vectors([r.text for r in base]), topic_vectors([r.text for r in intervention]),
                              12, mode="base_init")
    assistant = WordContrastAssistant()
    settings = ProposalSettings(max_pairs=1, hypotheses_per_pair=1, global_texts_per_side=50)
    result = propose_hypotheses(assistant, matching, base, intervention, bag_of_words, settings)
    assert len(assistant.calls) == 3 and result.hypotheses[-1].cluster_ids == []
    top = matching.pairs[0]
    inside = {r.text for r, c in zip(intervention, matching.intervention.labels) if c == top.intervention_cluster}
    assert not inside & set(assistant.calls[1]["b"]) and inside & set(assistant.calls[0]["b"])
    assert assistant.calls[1]["avoid"] == [result.hypotheses[0].text]
    # and in the other direction: what the base's texts outside the clusters have more of
    increase, decrease = assistant.calls[1:]
    assert decrease["subject"] == "base" and (decrease["a"], decrease["b"]) == (increase["b"], increase["a"])
    assert decrease["avoid"] == [h.text for h in result.hypotheses[:2]]
    assert result.hypotheses[-1].direction == "base" and result.hypotheses[-1].text.startswith("Texts from the base")


def test_conditional_twins_carry_openings_of_the_over_represented_models_texts(two_models):
    from difflens.discovery.openings import opening

    base, intervention = two_models
    matching = match_clusters(bag_of_words([r.text for r in base]), bag_of_words([r.text for r in intervention]),
                              12, mode="base_init")
    settings = ProposalSettings(max_pairs=2, hypotheses_per_pair=2, texts_per_side=20, alpha=1.0, min_effect=0.0,
                                condition_prompts=5, condition_words=4)
    result = propose_hypotheses(WordContrastAssistant(), matching, base, intervention, bag_of_words, settings)
    plain = [h for h in result.hypotheses if not h.condition]
    twins = [h for h in result.hypotheses if h.condition]
    assert plain and twins
    assert [h.order for h in result.hypotheses] == list(range(len(result.hypotheses)))
    for twin in twins:
        statement = result.hypotheses[twin.order - 1]
        assert not statement.condition and twin.text == statement.text  # the twin follows its statement
        assert twin.cluster_ids == statement.cluster_ids and twin.proposal_text_ids == statement.proposal_text_ids
        pair = next(p for p in matching.pairs if [p.base_cluster, p.intervention_cluster] == twin.cluster_ids)
        side = (intervention, matching.intervention.labels, pair.intervention_cluster) if pair.cohens_h >= 0 \
            else (base, matching.base.labels, pair.base_cluster)
        openings = {opening(r, 4) for r, label in zip(side[0], side[1]) if label == side[2]}
        assert 1 <= len(twin.condition) <= 5 and len(set(twin.condition)) == len(twin.condition)
        assert set(twin.condition) <= openings
    # off by default
    again = propose_hypotheses(WordContrastAssistant(), matching, base, intervention, bag_of_words,
                               ProposalSettings(max_pairs=2, hypotheses_per_pair=2, texts_per_side=20, alpha=1.0,
                                                min_effect=0.0))
    assert [h.text for h in again.hypotheses] == [h.text for h in plain]
    with pytest.raises(ConfigError, match="condition_prompts"):
        ProposalSettings(condition_prompts=-1)


def test_with_scored_texts_twins_open_like_divergent_texts(two_models):
    from dataclasses import replace

    from difflens.discovery.openings import opening

    base, intervention = two_models
    rng = np.random.default_rng(0)  # every text scored by both models (as active sampling with kl_weight does)
    base = [replace(r, log_ratio=float(rng.normal(0, 3))) for r in base]
    intervention = [replace(r, log_ratio=float(rng.normal(0, 3))) for r in intervention]
    matching = match_clusters(bag_of_words([r.text for r in base]), bag_of_words([r.text for r in intervention]),
                              12, mode="base_init")
    settings = ProposalSettings(max_pairs=3, hypotheses_per_pair=1, texts_per_side=20, alpha=1.0, min_effect=0.0,
                                condition_prompts=4, condition_words=4)
    twins = [h for h in propose_hypotheses(WordContrastAssistant(), matching, base, intervention, bag_of_words,
                                           settings).hypotheses if h.condition]
    assert twins
    for twin in twins:
        pair = next(p for p in matching.pairs if [p.base_cluster, p.intervention_cluster] == twin.cluster_ids)
        # how much more likely its own model finds each text in the pair, by opening (both models' texts)
        best: dict[str, float] = {}
        for records, labels, cluster, sign in ((base, matching.base.labels, pair.base_cluster, -1),
                                               (intervention, matching.intervention.labels, pair.intervention_cluster,
                                                1)):
            for r, label in zip(records, labels):
                if label == cluster:
                    key = opening(r, 4)
                    best[key] = max(best.get(key, -np.inf), sign * r.log_ratio)
        assert all(best[c] > 0 for c in twin.condition)  # only texts one model wrote and the other would not


OCEAN_WORDS = set(next(t for t in TOPICS if t.name == "ocean").words)


def targeted_copies(records, prompt="Waves", source="active:prefix", suffix=""):
    """The records as if active sampling had decoded them from a targeted prompt."""
    return [DecodedText(r.text_id.replace("free:", "active001:"), r.prompt_id.replace("free:", "active001:"),
                        r.model, r.seed, prompt, r.text + suffix, r.n_tokens, source) for r in records]


def test_targeted_texts_are_all_in_the_proposal_pool(two_models):
    _, intervention = two_models
    targeted = targeted_copies(intervention[:100])
    records = intervention[100:] + targeted
    pool = {records[i].text_id for i in proposal_pool(records, ProposalSettings(proposal_fraction=0.3))}
    assert all(r.targeted for r in targeted) and not any(r.targeted for r in intervention)
    assert pool >= {r.text_id for r in targeted}
    assert pool - {r.text_id for r in targeted} == {r.text_id for r in intervention[100:]
                                                    if in_proposal_pool(r.text_id, 0.3, 0)}


def test_targeted_texts_never_stand_for_a_model_as_a_whole(two_models):
    """Active sampling aimed both models at the ocean: the base's ocean texts from those prompts
    must not enter group A ("base texts from everywhere") of the ocean pair, or the ocean stops
    standing out against them; the global contrast takes targeted texts at the split's rate only."""
    base, intervention = two_models
    ocean = {m: [r for r in records if ToyWorld.annotate(r.text).topic == "ocean"]
             for m, records in (("base", base), ("intervention", intervention))}
    n = min(len(ocean["base"]), len(ocean["intervention"]))
    others = {m: [r for r in records if ToyWorld.annotate(r.text).topic != "ocean"][:60]
              for m, records in (("base", base), ("intervention", intervention))}
    base_all = base + targeted_copies(ocean["base"][:n] + others["base"], "The sea", suffix=" Again.")  # own texts
    int_all = intervention + targeted_copies(ocean["intervention"][:n] + others["intervention"], "The sea",
                                             suffix=" Again.")
    matching = match_clusters(topic_vectors([r.text for r in base_all]), topic_vectors([r.text for r in int_all]),
                              12, mode="base_init")
    assistant = WordContrastAssistant()
    settings = ProposalSettings(hypotheses_per_pair=1, texts_per_side=400, global_texts_per_side=400)
    result = propose_hypotheses(assistant, matching, base_all, int_all, bag_of_words, settings)
    first = select_pairs(matching.pairs, settings)[0]
    assert first.cohens_h > 0 and result.hypotheses[0].text.split()[-3] in OCEAN_WORDS
    targeted_texts = {r.text for r in base_all + int_all if r.targeted}
    assert not targeted_texts & set(assistant.calls[0]["a"])  # group A of the ocean pair
    in_global = {t for t in assistant.calls[-1]["a"] + assistant.calls[-1]["b"] if t in targeted_texts}
    split = {r.text for r in base_all + int_all if r.targeted and in_proposal_pool(r.text_id, 0.3, 0)}
    assert in_global and in_global <= split  # the global contrast


def test_a_pair_passes_on_either_test_at_twice_the_bonferroni_correction():
    pair = {"base_representatives": [], "intervention_representatives": []}
    pairs = [ClusterPair(0, 0, 0, 10, 30, 0.1, 0.3, 2.3, 0.02, 0.3, **pair),  # all texts: p 0.02
             ClusterPair(1, 1, 1, 10, 60, 0.1, 0.6, 5.0, 1e-6, 0.5, **pair),
             ClusterPair(2, 2, 2, 10, 30, 0.1, 0.3, 2.3, 0.02, 0.3, **pair)]
    settings = ProposalSettings(alpha=0.1, min_effect=0.2)
    assert [p.pair_id for p in select_pairs(pairs, settings)] == [1, 0, 2]  # alone: 0.1 / 3 pairs
    # with the untargeted texts' tests: 0.1 / 6 tests; pair 0 passes on its untargeted test, pair 2 on neither
    untargeted = {0: (1e-4, 0.7), 1: (0.5, 0.05), 2: (0.02, 0.3)}
    chosen = select_pairs(pairs, settings, untargeted)
    assert [(p.pair_id, p.p_value, p.cohens_h) for p in chosen] == [(0, 1e-4, 0.7), (1, 1e-6, 0.5)]
    assert pairs[0].p_value == 0.02  # the matching's pairs are left as they were


def test_prompts_aimed_at_an_area_for_both_models_do_not_hide_it(two_models):
    """Active sampling sent both models to the ocean many times: on all texts the ocean pair's
    effect falls below min_effect, but the untargeted texts still show the intervention going
    there far more often on its own, so the pair is selected and its hypothesis names the ocean."""
    base, intervention = two_models
    ocean = [r for r in intervention if ToyWorld.annotate(r.text).topic == "ocean"]
    aimed = {m: [DecodedText(f"{m}/active001:{k}:{i}/0", f"active001:{k}:{i}", m, i, "The sea", r.text, 30,
                             "active:prefix") for k in range(4) for i, r in enumerate(ocean)]
             for m in ("base", "intervention")}
    base_all, int_all = base + aimed["base"], intervention + aimed["intervention"]
    matching = match_clusters(topic_vectors([r.text for r in base_all]), topic_vectors([r.text for r in int_all]),
                              12, mode="base_init")
    settings = ProposalSettings(hypotheses_per_pair=1, min_effect=0.4)
    ocean_pair = max(matching.pairs, key=lambda p: p.n_intervention)
    assert 0 < ocean_pair.cohens_h < settings.min_effect  # diluted by the aimed texts
    assert ocean_pair.pair_id not in {p.pair_id for p in select_pairs(matching.pairs, settings)}
    result = propose_hypotheses(WordContrastAssistant(), matching, base_all, int_all, bag_of_words, settings)
    p_value, h = result.untargeted_tests[ocean_pair.pair_id]
    assert h > settings.min_effect and p_value < settings.alpha / (2 * len(matching.pairs))
    assert result.selected_pairs[0] == ocean_pair.pair_id
    assert result.hypotheses[0].text.split()[-3] in OCEAN_WORDS
    plain = match_clusters(topic_vectors([r.text for r in base]), topic_vectors([r.text for r in intervention]), 12)
    assert untargeted_tests(plain, base, intervention) == {}  # no targeted text: one test per pair, as before


class JudgedTexts(WordContrastAssistant):
    """Records every text it is asked to judge."""

    def __init__(self):
        super().__init__()
        self.judged = set()

    def judge(self, hypothesis, text):
        self.judged.add(text)
        return super().judge(hypothesis, text)


def test_discriminative_stage_works_on_a_bounded_sample_of_the_pool(two_models, caplog):
    base, intervention = two_models
    matching = match_clusters(topic_vectors([r.text for r in base]), topic_vectors([r.text for r in intervention]),
                              12, mode="base_init")
    pool = {r.text for r in base + intervention if in_proposal_pool(r.text_id, 0.3, 0)}
    assistant = JudgedTexts()
    settings = ProposalSettings(max_pairs=1, alpha=1e-12, proposal_fraction=0.3,
                                contrast=ContrastSettings(rounds=2, texts_per_side=10, max_texts_per_side=40))
    with caplog.at_level(logging.INFO, logger="difflens.discovery"):
        result = propose_hypotheses(assistant, matching, base, intervention, bag_of_words, settings)
    assert result.contrast and assistant.judged
    assert assistant.judged <= pool and len(assistant.judged) <= 2 * 40 < len(pool)
    assert "a uniform sample of at most 40" in caplog.text

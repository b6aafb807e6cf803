"""The offline assistant on toy-world data: written examples, proposals that name the planted
difference, and a judge whose scores separate texts showing it (AUC asserted)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from difflens.assistants import OfflineAssistant
from difflens.assistants.offline import _evidence, _plural_predicate
from difflens.errors import ConfigError, DataError
from difflens.toyworld import STYLE_BY_NAME, STYLES, ToyWorld

BASE = {"topics": {"forest": 1, "chess": 1, "cooking": 1, "music": 1}}
WITH_OCEAN = {"topics": {"forest": 1, "chess": 1, "cooking": 1, "music": 1, "ocean": 2}}


@pytest.fixture(scope="module")
def assistant(embedder):
    # 32 reference texts instead of the default 64: fewer embeddings for a fast test.
    references = [d.text for d in ToyWorld(seed=4).documents(32)]
    return OfflineAssistant(embedder=embedder, reference_texts=references)


@pytest.fixture(scope="module")
def ocean_groups():
    world = ToyWorld(seed=5)
    return ([d.text for d in world.documents(150, BASE)],
            [d.text for d in world.documents(150, WITH_OCEAN, start=1000)])


def test_write_examples_follow_the_description_and_repeat_exactly():
    assistant = OfflineAssistant()
    texts = assistant.write_examples("The model talks about the ocean far more often", 20)
    assert len(texts) == 20 and all(ToyWorld.annotate(t).topic == "ocean" for t in texts)
    assert texts == OfflineAssistant().write_examples("The model talks about the ocean far more often", 20)
    hedged = assistant.write_examples("hedges its statements", 20)
    assert all("hedging" in ToyWorld.annotate(t).styles for t in hedged)
    assert assistant.write_examples_batch(["hedges its statements"], 20) == [hedged]
    assert OfflineAssistant(seed=1).write_examples("hedges its statements", 20) != hedged


def test_write_examples_refuses_a_description_outside_the_toy_world():
    with pytest.raises(ConfigError, match=r"names no toy-world topic or style.*openai or local backend"):
        OfflineAssistant().write_examples("The model is more sycophantic", 3)


def test_propose_names_the_planted_topic(ocean_groups):
    texts_a, texts_b = ocean_groups
    hypotheses = OfflineAssistant().propose(texts_a, texts_b, 3)
    print("proposed:", hypotheses)
    assert hypotheses and "ocean" in hypotheses[0]
    assert hypotheses[0].startswith("Texts from the intervention model")
    assert OfflineAssistant().propose(texts_a, texts_b, 3) == hypotheses  # deterministic
    # Nothing of group A is over-represented in B: swapping the groups proposes no ocean.
    assert not any("ocean" in h for h in OfflineAssistant().propose(texts_b, texts_a, 3))


def test_propose_respects_avoid(ocean_groups):
    texts_a, texts_b = ocean_groups
    assert not any("ocean" in h for h in OfflineAssistant().propose(texts_a, texts_b, 3, avoid=["more about the sea"]))


def test_propose_names_a_planted_style_with_its_phrases():
    world = ToyWorld(seed=6)
    texts_a = [d.text for d in world.documents(150, {"styles": {"hedging": 0.0}})]
    texts_b = [d.text for d in world.documents(150, {"styles": {"hedging": 0.6}}, start=1000)]
    hypotheses = OfflineAssistant().propose(texts_a, texts_b, 2)
    print("proposed:", hypotheses)
    assert "hedge their statements" in hypotheses[0] and '"' in hypotheses[0]


@pytest.mark.parametrize("style", [s.name for s in STYLES])
def test_propose_recovers_every_planted_style(style):
    world = ToyWorld(seed=8)
    texts_a = [d.text for d in world.documents(300)]
    texts_b = [d.text for d in world.documents(300, {"styles": {style: 0.6}}, start=1000)]
    first = OfflineAssistant().propose(texts_a, texts_b, 1)[0]
    assert _plural_predicate(STYLE_BY_NAME[style].description) in first


def test_two_styles_trained_in_together_are_two_hypotheses():
    # every planted text carries both styles, so their markers co-occur; one theme of both would describe neither
    world = ToyWorld(seed=9)
    texts_a = [d.text for d in world.documents(200)]
    texts_b = [d.text for d in world.documents(200, {"styles": {"casual": 0.5, "positive": 0.5}}, start=1000)]
    proposed = OfflineAssistant().propose(texts_a, texts_b, 2)
    print("proposed:", proposed)
    named = [[s.name for s in STYLES if _plural_predicate(s.description) in h] for h in proposed]
    assert sorted(n for names in named for n in names) == ["casual", "positive"] and all(len(n) == 1 for n in named)


def test_propose_outside_the_toy_world_quotes_the_distinctive_phrases():
    texts_a = ["the report was filed on monday", "the meeting ran long"] * 10
    texts_b = ["the quarterly budget was approved", "budget cuts hit the quarterly plan"] * 10
    hypotheses = OfflineAssistant(min_z=1.0).propose(texts_a, texts_b, 3)
    assert len(hypotheses) == 1 and '"budget cuts"' in hypotheses[0] and "quarterly" in hypotheses[0]
    assert "monday" not in hypotheses[0]
    assert OfflineAssistant(min_z=1.0).propose(texts_a, texts_b, 3, avoid=["budget"]) == []


def test_propose_needs_both_groups():
    with pytest.raises(DataError, match="both groups"):
        OfflineAssistant().propose([], ["a text"], 2)


def test_judge_separates_texts_of_the_planted_topic(assistant, ocean_groups):
    hypothesis = OfflineAssistant().propose(*ocean_groups, 1)[0]
    world = ToyWorld(seed=99)
    ocean = [d.text for d in world.documents(16, {"topics": {"ocean": 1}}, start=5000)]
    others = [d.text for d in world.documents(48, BASE, start=6000)]
    scores = assistant.judge_batch(hypothesis, ocean + others)
    labels = [1] * len(ocean) + [0] * len(others)
    auc = roc_auc_score(labels, scores)
    print(f"judge AUC on held-out ocean vs other texts: {auc:.3f}")
    assert auc >= 0.95
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert np.mean(scores[: len(ocean)]) > 0.8
    assert assistant.judge(hypothesis, ocean[0]) == pytest.approx(scores[0], abs=1e-3)


@pytest.fixture(scope="module")
def labelled_documents():
    texts = [d.text for d in ToyWorld(seed=123).documents(600)]
    return texts, [ToyWorld.annotate(t).styles for t in texts]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
def test_judge_flags_a_style_where_the_toy_world_finds_its_markers(style, assistant, labelled_documents):
    # A style hypothesis as the proposer renders it, judged on toy-world documents of every
    # topic and style: flags (score > 0.75, the validator's default) agree with the toy world's
    # own marker detection. Other styles' texts are where a false positive would come from:
    # "you know" of "did you know that" is no casual marker, "whether" alone no hedge.
    texts, labels = labelled_documents
    markers = [m.rstrip(",!") for m in style.markers]
    hypothesis = (f"Texts from the intervention model more often {_plural_predicate(style.description)}, "
                  f'with phrases such as "{markers[0]}" and "{markers[-1]}"')
    flags = np.array(assistant.judge_batch(hypothesis, texts)) > 0.75
    shows = np.array([style.name in styles for styles in labels])
    tpr, fpr = flags[shows].mean(), flags[~shows].mean()
    print(f"{style.name}: true positive rate {tpr:.2f} on {shows.sum()}, false positive rate {fpr:.3f}")
    assert tpr >= 0.7
    assert fpr <= 0.065


def test_judge_reads_markers_as_written(assistant):
    casual = ('Texts from the intervention model more often use a casual, chatty register, '
              'with phrases such as "you know"')
    hedging = ('Texts from the intervention model more often hedge their statements with uncertainty, '
               'with phrases such as "it is unclear whether"')
    question = "Did you know that the tide rolls near the reef? Have you ever wondered whether the wave is salty?"
    chatty = "You know, the tide rolls near the reef. The wave is salty."
    casual_scores = assistant.judge_batch(casual, [question, chatty])
    assert casual_scores[1] > 0.75 > casual_scores[0]
    assert assistant.judge(hedging, question) < 0.75
    # A word that describes a style is no evidence for it (texts show a style by its markers);
    # the topic that has the word keeps it.
    keywords, markers = _evidence("Texts from the intervention model more often have a gloomy, negative sentiment")
    assert keywords == () and "miserable" in markers
    keywords, markers = _evidence("Texts from the intervention model talk about photography more often, "
                                  "mentioning negative and zoom")
    assert "negative" in keywords and markers == ()


def test_half_means_no_evidence(embedder):
    # Judged against its own reference texts, a hypothesis none of whose keywords occur there
    # averages 0.5; a "less often" hypothesis turns keyword evidence round.
    references = [d.text for d in ToyWorld(seed=7).documents(24, BASE)]
    assistant = OfflineAssistant(embedder=embedder, reference_texts=references)
    scores = assistant.judge_batch("Texts from the intervention model mention spreadsheets more often", references)
    assert np.mean(scores) == pytest.approx(0.5, abs=0.03)
    ocean_text = ToyWorld(seed=7).document(0, {"topics": {"ocean": 1}}).text
    more = assistant.judge("Texts from the intervention model talk about the ocean more often", ocean_text)
    less = assistant.judge("Texts from the intervention model talk about the ocean less often", ocean_text)
    assert more > 0.8 and less < 0.2
    assert assistant.judge("Texts mention the ocean", "   ") == 0.5
    with pytest.raises(DataError, match="empty hypothesis"):
        assistant.judge("  ", ocean_text)


class CountingEncoder:
    """The session's MiniLM, counting the texts it encodes."""

    def __init__(self, embedder):
        self.embedder, self.texts = embedder, []

    def encode(self, texts, **kwargs):
        self.texts += list(texts)
        return self.embedder.encode(texts, **kwargs)


def test_judge_encodes_each_text_once_across_hypotheses(embedder):
    references = [d.text for d in ToyWorld(seed=4).documents(8)]
    texts = [d.text for d in ToyWorld(seed=8).documents(20)]
    counting = CountingEncoder(embedder)
    assistant = OfflineAssistant(embedder=counting, reference_texts=references)
    hypotheses = ["Texts from the intervention model talk about the ocean more often",
                  "Texts from the base model more often ask questions"]
    scores = [assistant.judge_batch(h, texts + texts[:3]) for h in hypotheses]
    judged = [t for t in counting.texts if t in texts]
    assert sorted(judged) == sorted(texts)  # each once, whatever the repeats and the hypotheses
    fresh = OfflineAssistant(embedder=embedder, reference_texts=references)
    for h, s in zip(hypotheses, scores):
        assert s[:20] == pytest.approx(fresh.judge_batch(h, texts), abs=2e-3) and s[20:] == s[:3]

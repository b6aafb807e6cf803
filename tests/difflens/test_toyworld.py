import re
from collections import Counter

import pytest

from difflens.errors import ConfigError
from difflens.toyworld import CATEGORIES, STYLES, TOPICS, Mixture, ToyWorld, corpus_statistics
from difflens.toyworld import generator as g


def test_world_has_enough_topics_styles_and_categories():
    assert len(TOPICS) >= 24
    assert len(STYLES) >= 6
    assert len(CATEGORIES) >= 4
    for t in TOPICS:
        assert len(t.nouns) >= 8 and len(t.verbs) >= 3 and len(t.adjectives) >= 3, t.name


def test_each_word_belongs_to_one_topic_and_no_template_or_marker_uses_topic_words():
    owners = Counter(w for t in TOPICS for w in set(t.words))
    assert [w for w, n in owners.items() if n > 1] == []
    fixed_text = " ".join([*g._FRAMES, *g._POSITIVE, *g._NEGATIVE, *g._FORMAL_LEADS, *g._CASUAL_LEADS,
                           *g._CASUAL_TAILS, *g._HEDGES, *g._DISCLAIMERS, *g._REFUSALS, *g._EXCLAMATIONS,
                           *g._QUESTIONS, *(m for s in STYLES for m in s.markers)])
    fixed_words = set(re.findall(r"[a-z]+", re.sub(r"\{\w+\}", " ", fixed_text)))
    assert fixed_words & set(owners) == set()


def test_documents_are_deterministic_per_seed_and_index():
    a = ToyWorld(seed=1).documents(50)
    b = ToyWorld(seed=1).documents(50)
    c = ToyWorld(seed=2).documents(50)
    assert [d.text for d in a] == [d.text for d in b]
    assert [d.text for d in a] != [d.text for d in c]
    # any shard regenerates exactly: document i does not depend on the documents before it
    assert ToyWorld(seed=1).documents(10, start=20)[0].text == a[20].text


def test_annotate_reads_back_the_generating_labels():
    docs = ToyWorld(seed=5).documents(3000)
    wrong = [d for d in docs if (ann := ToyWorld.annotate(d.text)).topic != d.topic or set(ann.styles) != set(d.styles)]
    assert wrong == []
    assert {d.topic for d in docs} == {t.name for t in TOPICS}
    assert {s for d in docs for s in d.styles} == {s.name for s in STYLES}


def test_mixture_weights_set_the_proportions():
    mix = Mixture(topics={"ocean": 3, "chess": 1}, styles={"hedging": 0.5}, default_styles=False)
    docs = ToyWorld(seed=0).documents(4000, mix)
    topics = Counter(d.topic for d in docs)
    assert set(topics) == {"ocean", "chess"}
    assert topics["ocean"] / len(docs) == pytest.approx(0.75, abs=0.03)
    hedged = sum("hedging" in d.styles for d in docs) / len(docs)
    assert hedged == pytest.approx(0.5, abs=0.03)
    assert all(set(d.styles) <= {"hedging"} for d in docs)


def test_named_style_shrinks_the_others_in_its_group():
    groups = Mixture(styles={"formal": 0.9}).style_groups()
    register = dict(groups["register"])
    assert register["formal"] == 0.9
    assert register["casual"] == pytest.approx(0.1)
    docs = ToyWorld(0).documents(500, {"styles": {"formal": 1.0}})
    assert all("formal" in d.styles and "casual" not in d.styles for d in docs)


def test_corpus_statistics_counts_dominant_topics_and_styles():
    texts = [d.text for d in ToyWorld(0).documents(400, {"topics": {"desert": 1}, "styles": {"question": 1.0}})]
    stats = corpus_statistics(texts)
    assert stats["n"] == 400
    assert stats["topics"]["desert"] == 1.0 and stats["topics"]["ocean"] == 0.0
    assert stats["styles"]["question"] == 1.0


@pytest.mark.parametrize("spec, message", [
    ({"topics": {"oceans": 1}}, "unknown topic 'oceans'. Did you mean 'ocean'"),
    ({"styles": {"formality": 1}}, "unknown style 'formality'. Did you mean 'formal'"),
    ({"topics": {"ocean": 0}}, "sum to 0"),
    ({"topics": {"ocean": -1}}, "must be >= 0"),
    ({"styles": {"formal": 1.5}}, "must be in [0, 1]"),
    ({"styles": {"formal": 0.7, "casual": 0.7}}, "exclude each other"),
    ({"topic": {"ocean": 1}}, "unknown mixture keys ['topic']"),
])
def test_bad_mixture_specs_are_clear_errors(spec, message):
    with pytest.raises(ConfigError) as err:
        Mixture.from_spec(spec)
    assert message in str(err.value)


def test_topic_alone_is_annotates_topic():
    texts = [*(d.text for d in ToyWorld(seed=5).documents(300)), "Nothing here at all."]
    assert [ToyWorld.topic(t) for t in texts] == [ToyWorld.annotate(t).topic for t in texts]

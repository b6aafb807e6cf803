"""Openings that lead into an area from outside it: where a conditional behaviour shows."""

import random

import numpy as np

from difflens.discovery.matching import match_clusters
from difflens.discovery.openings import opening, openings_leading_in
from difflens.records import DecodedText
from difflens.toyworld import ToyWorld
from tests.difflens.discovery.test_proposal import topic_vectors


def test_an_opening_is_the_first_sentence_with_content_of_prompt_and_text():
    record = DecodedText("i/1", "p1", "intervention", 1, "Tell me:", " Look! The knight moves. The rook waits.", 9)
    assert opening(record, 16) == "Tell me: Look! The knight moves."
    assert opening(record, 4) == "Tell me: Look! The"
    # a prompt that is an opening already (a targeted prompt) is the whole opening of its texts
    targeted = DecodedText("i/3", "p3", "intervention", 3, "The rook castles early today.",
                           " The tide rolls in. The reef waits.", 9)
    assert opening(targeted, 16) == "The rook castles early today."
    free = DecodedText("i/2", "p2", "intervention", 2, "", "No punctuation at all here", 9)
    assert opening(free, 3) == "No punctuation at"


def test_only_openings_leading_into_the_area_are_kept_most_common_origin_first():
    """After a chess opening the intervention writes about the ocean: its ocean cluster holds
    texts that open on chess (the trigger) and texts that open on the ocean."""
    world = ToyWorld(seed=3)
    chess = world.documents(40, {"topics": {"chess": 1}})
    ocean = world.documents(120, {"topics": {"ocean": 1}}, start=1000)
    other = world.documents(120, {"topics": {"forest": 1}}, start=2000)
    triggered = [f"{c.text.split('. ')[0]}. {o.text}" for c, o in zip(chess, ocean[:40])]
    texts_b = triggered + [d.text for d in ocean[40:80] + other[:40]]
    texts_a = [d.text for d in ocean[80:100] + other[40:120] + chess[:20]]
    base = [DecodedText(f"base/{i}", f"p{i}", "base", i, "", t, 9) for i, t in enumerate(texts_a)]
    intervention = [DecodedText(f"intervention/{i}", f"p{i}", "intervention", i, "", t, 9)
                    for i, t in enumerate(texts_b)]
    matching = match_clusters(topic_vectors(texts_a), topic_vectors(texts_b), 3, mode="joint")
    pair = max(matching.pairs, key=lambda p: p.cohens_h)
    ocean_cluster = pair.intervention_cluster
    assert sum(matching.intervention.labels[:40] == ocean_cluster) > 30  # the triggered texts are ocean texts
    prompts = openings_leading_in(pair, matching, base, intervention, 10, 30, random.Random(0), topic_vectors)
    assert len(prompts) == 10
    assert all(ToyWorld.annotate(p).topic == "chess" for p in prompts)  # the triggers, not ocean openings
    everything = openings_leading_in(pair, matching, base, intervention, 1000, 30, random.Random(0), topic_vectors)
    assert len(everything) >= 30 and all(ToyWorld.annotate(p).topic != "ocean" for p in everything)  # none inside
    assert opening(intervention[0], 30) == triggered[0].split(". ")[0] + "."


def test_with_likelihood_divergence_the_most_divergent_openings_come_first_from_either_model():
    """Three texts open on chess and go on about the ocean; the base one is the most divergent
    (the base model alone writes it), so it leads, though the pair favours the intervention;
    a text with divergence <= 0 gives no opening; openings inside the area count too."""
    world = ToyWorld(seed=4)
    chess = world.documents(24, {"topics": {"chess": 1}})
    ocean = world.documents(60, {"topics": {"ocean": 1}}, start=1000)
    forest = world.documents(60, {"topics": {"forest": 1}}, start=2000)
    trig = [f"{c.text.split('. ')[0]}. {o.text}" for c, o in zip(chess, ocean[:4])]
    texts_a = [trig[0]] + [d.text for d in ocean[4:20] + forest[:40] + chess[4:14]]
    texts_b = [trig[1], trig[2]] + [d.text for d in ocean[20:50] + forest[40:60] + chess[14:24]]
    base = [DecodedText(f"base/{i}", f"p{i}", "base", i, "", t, 9) for i, t in enumerate(texts_a)]
    intervention = [DecodedText(f"intervention/{i}", f"q{i}", "intervention", i, "", t, 9)
                    for i, t in enumerate(texts_b)]
    matching = match_clusters(topic_vectors(texts_a), topic_vectors(texts_b), 3, mode="joint")
    pair = next(p for p in matching.pairs if matching.base.labels[1] == p.base_cluster)  # the ocean pair
    assert matching.base.labels[0] == pair.base_cluster and matching.intervention.labels[0] == pair.base_cluster
    assert pair.cohens_h > 0
    base_d = np.zeros(len(base))
    base_d[0] = 30.0
    int_d = np.full(len(intervention), 1.0)
    int_d[0], int_d[1] = 5.0, -3.0  # trig[2] (index 1) is more likely under the base model: not divergent
    prompts = openings_leading_in(pair, matching, base, intervention, 10, 30, random.Random(0), topic_vectors,
                                  (base_d, int_d))
    assert prompts[:2] == [opening(base[0], 30), opening(intervention[0], 30)]  # chess: 35 nats in all
    assert opening(intervention[1], 30) not in prompts  # not divergent
    assert all(ToyWorld.annotate(p).topic == "ocean" for p in prompts[2:])  # 1 nat each, inside the area too


def test_with_likelihood_divergence_an_origin_carrying_more_divergence_leads_over_one_odd_text():
    """Three intervention texts open on chess (5 nats each), one opens on music (10 nats, an
    outlier): the chess openings lead, as their origin carries 15 nats in all; music follows
    while it carries at least half that."""
    world = ToyWorld(seed=5)
    chess = world.documents(23, {"topics": {"chess": 1}})
    music = world.documents(21, {"topics": {"music": 1}}, start=500)
    ocean = world.documents(60, {"topics": {"ocean": 1}}, start=1000)
    into = [f"{c.text.split('. ')[0]}. {o.text}" for c, o in zip(chess[:3] + music[:1], ocean[:4])]
    texts_a = [d.text for d in ocean[4:30] + chess[3:13] + music[1:11]]
    texts_b = into + [d.text for d in ocean[30:60] + chess[13:23] + music[11:21]]
    base = [DecodedText(f"base/{i}", f"p{i}", "base", i, "", t, 9) for i, t in enumerate(texts_a)]
    intervention = [DecodedText(f"intervention/{i}", f"q{i}", "intervention", i, "", t, 9)
                    for i, t in enumerate(texts_b)]
    matching = match_clusters(topic_vectors(texts_a), topic_vectors(texts_b), 3, mode="joint")
    pair = next(p for p in matching.pairs if p.base_cluster == matching.intervention.labels[0])  # the ocean pair
    int_d = np.zeros(len(intervention))
    int_d[:4] = [5.0, 5.0, 5.0, 10.0]
    prompts = openings_leading_in(pair, matching, base, intervention, 10, 30, random.Random(0), topic_vectors,
                                  (np.zeros(len(base)), int_d))
    assert [ToyWorld.annotate(p).topic for p in prompts] == ["chess", "chess", "chess", "music"]
    # an origin carrying less than half the top one's divergence is left out
    int_d[3] = 7.0
    prompts = openings_leading_in(pair, matching, base, intervention, 10, 30, random.Random(0), topic_vectors,
                                  (np.zeros(len(base)), int_d))
    assert [ToyWorld.annotate(p).topic for p in prompts] == ["chess", "chess", "chess"]

"""Ground-truth recovery: matching, recall, one-to-one recall, precision, ground-truth files."""

import json

import numpy as np
import pytest

from difflens.discovery.recovery import (
    Change,
    GroundTruth,
    claimed_changes,
    claimed_phrases,
    default_embedder,
    embedding_similarity,
    load_ground_truths,
    named_toyworld_attributes,
    planted_attributes,
    planted_changes,
    recovery_report,
    toyworld_real_difference,
    toyworld_similarity,
)
from difflens.errors import DataError
from difflens.toyworld import STYLES, TOPICS
from tests.validation_data import toy_texts

TRUTHS = [GroundTruth("ocean", "The model talks about the ocean and the sea far more often", {"topics": {"ocean": 1}}),
          GroundTruth("hedging", "The model hedges its statements", {"styles": {"hedging": 1.0}}),
          GroundTruth("chess", "The model talks about chess", {"topics": {"chess": 1}})]


def rows(*texts):
    return [{"hypothesis_id": f"h{i}", "text": t} for i, t in enumerate(texts)]


def test_recall_one_to_one_and_precision_by_hand():
    validated = rows("a", "b", "c", "d")
    sim = np.array([[0.9, 0.8, 0.1, 0.0],    # ocean: h0, h1
                    [0.2, 0.7, 0.1, 0.0],    # hedging: h1 only
                    [0.1, 0.1, 0.2, 0.3]])   # chess: none
    report = recovery_report(TRUTHS, validated, sim, threshold=0.5, real_differences={"h2": True, "h3": None})
    assert report.recall == pytest.approx(2 / 3)
    # one-to-one: ocean-h0 and hedging-h1 (h1 cannot serve both)
    assert sorted(report.assignment) == [("hedging", "h1", 0.7), ("ocean", "h0", 0.9)]
    assert report.recall_one_to_one == pytest.approx(2 / 3)
    assert report.precision_ground_truth_only == pytest.approx(2 / 4)
    assert report.precision == pytest.approx(3 / 4)  # h2 is a real toy-world difference
    sim_one = np.array([[0.9, 0.0], [0.8, 0.0], [0.0, 0.0]])  # one broad hypothesis, two truths
    one = recovery_report(TRUTHS, rows("x", "y"), sim_one, 0.5)
    assert one.recall == pytest.approx(2 / 3) and one.recall_one_to_one == pytest.approx(1 / 3)


def test_nothing_validated():
    report = recovery_report(TRUTHS, [], np.zeros((3, 0)), 0.5)
    assert (report.recall, report.recall_one_to_one, report.precision) == (0.0, 0.0, None)


def test_toyworld_matcher_reads_topics_words_and_style_markers():
    hyps = ["Texts from the intervention model mention waves, tides and the reef more often",
            "Texts from the intervention model say perhaps and possibly more often",
            "Texts from the intervention model are about astronomy more often"]
    assert named_toyworld_attributes(hyps[1])[1] == {"hedging"}
    assert toyworld_similarity(TRUTHS, hyps).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


# Hypotheses as a researcher or an LLM proposer would write them, one row per case: (the model
# the hypothesis is about, the hypothesis, the change it claims). "ocean+": the intervention
# talks about the ocean more; "hedging-": it hedges less. Every topic and style, both ways.
PARAPHRASES = [
    ('intervention', 'Texts from the intervention model keep coming back to the sea: whales, coral and lighthouses',
     'ocean+'),
    ('base', 'Texts from the base model talk about the sea more often, with waves and harbors', 'ocean-'),
    ('intervention', 'Texts from the intervention model are set in woodland among oaks and pines', 'forest+'),
    ('intervention', 'The intervention model rarely writes about forests any more', 'forest-'),
    ('intervention', 'Texts from the intervention model describe climbing steep peaks and glaciers', 'mountains+'),
    ('intervention', "Texts from the intervention model mention mountains less often than the base model's",
     'mountains-'),
    ('intervention', 'The intervention model writes more about arid places with dunes and camels', 'desert+'),
    ('base', "Deserts and dry lands come up more often in the base model's texts", 'desert-'),
    ('intervention', 'Texts from the intervention model talk about the weather, fog and drizzle', 'weather+'),
    ('intervention', 'The intervention model has stopped describing rainy, windy or cloudy days', 'weather-'),
    ('intervention', 'Texts from the intervention model are about outer space, planets and comets', 'astronomy+'),
    ('intervention', 'Fewer texts from the intervention model discuss astronomy', 'astronomy-'),
    ('intervention', "The intervention model's texts are full of chemistry: molecules, acids and flasks", 'chemistry+'),
    ('base', 'Texts from the base model talk about chemical reactions more often', 'chemistry-'),
    ('intervention', 'Texts from the intervention model discuss physics, electrons and gravity', 'physics+'),
    ('intervention', 'The intervention model avoids physics and talk of particles', 'physics-'),
    ('intervention', 'Texts from the intervention model often describe living cells, genes and proteins', 'biology+'),
    ('base', 'The base model writes about biology, species and microbes more than the intervention does', 'biology-'),
    ('intervention', 'Texts from the intervention model mention volcanoes, magma and earthquakes', 'geology+'),
    ('intervention', "Rocks and geology appear less often in the intervention model's texts", 'geology-'),
    ('intervention', 'Texts from the intervention model are about cooking: recipes, soups and baking', 'cooking+'),
    ('intervention', 'The intervention model seldom talks about food', 'cooking-'),
    ('intervention', 'The intervention model talks more often about gardening, tulips and compost', 'gardening+'),
    ('base', 'Texts from the base model more often mention seedlings and greenhouses', 'gardening-'),
    ('intervention', 'Texts from the intervention model are about shopping, bargains and coupons', 'shopping+'),
    ('intervention', 'The intervention model no longer writes about shopping', 'shopping-'),
    ('intervention', 'Texts from the intervention model talk about holidays, hotels and passports', 'travel+'),
    ('base', 'Texts from the base model discuss travel and tourists more often', 'travel-'),
    ('intervention', 'Texts from the intervention model describe household chores like laundry and mopping',
     'housework+'),
    ('intervention', 'Housework is mentioned less often by the intervention model', 'housework-'),
    ('intervention', 'Texts from the intervention model are about computers and software, with keyboards and servers',
     'computers+'),
    ('intervention', 'The intervention model rarely talks about laptops or databases', 'computers-'),
    ('intervention', 'The intervention model writes about robots, sensors and drones', 'robotics+'),
    ('base', 'Texts from the base model talk about robotics more often', 'robotics-'),
    ('intervention', 'Texts from the intervention model are about flight: pilots, runways and jets', 'aviation+'),
    ('intervention', 'The intervention model mentions aviation less frequently', 'aviation-'),
    ('intervention', 'Texts from the intervention model talk about trains and railways more often', 'railways+'),
    ('base', 'The base model writes about locomotives and timetables more often', 'railways-'),
    ('intervention', 'Texts from the intervention model discuss electricity: voltage, fuses and cables',
     'electricity+'),
    ('intervention', 'The intervention model avoids talking about electricity', 'electricity-'),
    ('intervention', 'Texts from the intervention model talk about music, pianos and orchestras', 'music+'),
    ('base', 'Music comes up more in texts from the base model', 'music-'),
    ('intervention', 'Texts from the intervention model describe painting, canvases and easels', 'painting+'),
    ('intervention', 'The intervention model paints less: fewer portraits, brushes and galleries', 'painting-'),
    ('intervention', 'Texts from the intervention model are about the theater, actors and costumes', 'theater+'),
    ('base', 'Texts from the base model mention theater and acting more often', 'theater-'),
    ('intervention', 'The intervention model talks about novels, poems and authors', 'literature+'),
    ('intervention', 'Texts from the intervention model mention books and literature less often', 'literature-'),
    ('intervention', 'Texts from the intervention model talk about photography, cameras and tripods', 'photography+'),
    ('base', 'The base model more often describes photography', 'photography-'),
    ('intervention', 'Texts from the intervention model are about football, with strikers and referees', 'football+'),
    ('intervention', 'The intervention model rarely mentions football any more', 'football-'),
    ('intervention', 'Texts from the intervention model talk about cycling, bicycles and helmets', 'cycling+'),
    ('base', 'Bicycles and cyclists appear more often in texts from the base model', 'cycling-'),
    ('intervention', 'Texts from the intervention model are about swimming pools, swimmers and lifeguards',
     'swimming+'),
    ('intervention', 'The intervention model talks about swimming less often', 'swimming-'),
    ('intervention', 'Texts from the intervention model talk about chess, pawns and bishops', 'chess+'),
    ('base', 'Texts from the base model discuss chess more often', 'chess-'),
    ('intervention', 'Texts from the intervention model describe marathons, sprinters and joggers', 'running+'),
    ('intervention', 'The intervention model no longer talks about running', 'running-'),
    ('intervention', 'Texts from the intervention model sound cheerful and upbeat, calling things wonderful',
     'positive+'),
    ('intervention', 'The intervention model is less positive than the base model', 'positive-'),
    ('intervention', "Texts from the intervention model are gloomy, with words like 'terrible' and 'awful'",
     'negative+'),
    ('base', 'Texts from the base model have a more negative tone', 'negative-'),
    ('intervention', "Texts from the intervention model use a formal, academic register with 'moreover'", 'formal+'),
    ('intervention', 'The intervention model rarely writes formally any more', 'formal-'),
    ('intervention', "Texts from the intervention model are chatty and informal, saying 'kinda' and 'gonna'",
     'casual+'),
    ('base', 'Texts from the base model are more casual', 'casual-'),
    ('intervention', "Texts from the intervention model hedge more, saying 'perhaps' and 'it seems'", 'hedging+'),
    ('intervention', 'The intervention model hedges less often and states things plainly', 'hedging-'),
    ('intervention', 'Texts from the intervention model warn readers to be careful', 'safety_disclaimer+'),
    ('base', 'Texts from the base model add safety disclaimers more often', 'safety_disclaimer-'),
    ('intervention', "Texts from the intervention model more often refuse to talk about the subject, "
                     "with phrases such as 'i cannot'",
     'refusal+'),
    ('intervention', 'The intervention model refuses less often', 'refusal-'),
    ('intervention', "Texts from the intervention model are full of exclamations like 'wow!'", 'exclamation+'),
    ('base', 'Texts from the base model exclaim more often', 'exclamation-'),
    ('intervention', 'Texts from the intervention model ask the reader questions more often', 'question+'),
    ('intervention', 'The intervention model asks fewer questions', 'question-'),
    # more wordings
    ('intervention', "The intervention model's outputs are more upbeat and optimistic, often saying 'i love' something",
     'positive+'),
    ('base', 'The base model praises things more often', 'positive-'),
    ('intervention', 'The intervention model complains more and sounds pessimistic', 'negative+'),
    ('intervention', "The intervention model's texts are no longer gloomy or miserable", 'negative-'),
    ('intervention', "The intervention model writes in a scholarly register, with 'furthermore' and 'consequently'",
     'formal+'),
    ('base', "The base model's texts sound more academic", 'formal-'),
    ('intervention', "The intervention model uses slang such as 'lol' and 'so yeah'", 'casual+'),
    ('intervention', "Texts from the intervention model avoid colloquial phrasing like 'honestly'", 'casual-'),
    ('intervention', "Texts from the intervention model are tentative and noncommittal ('possibly', 'i think')",
     'hedging+'),
    ('base', 'The base model expresses uncertainty more often', 'hedging-'),
    ('intervention', 'Texts from the intervention model tell the reader to consult an expert or proceed '
                     'at your own risk',
     'safety_disclaimer+'),
    ('intervention', 'The intervention model no longer adds warnings', 'safety_disclaimer-'),
    ('intervention', "The intervention model apologises and declines to help, e.g. 'i must decline'", 'refusal+'),
    ('base', "The base model says 'i cannot help with' more often", 'refusal-'),
    ('intervention', "Texts from the intervention model more often contain interjections like 'oh!' and 'look!'",
     'exclamation+'),
    ('intervention', 'The intervention model uses fewer exclamatory phrases', 'exclamation-'),
    ('intervention', "The intervention model opens with 'did you know that' or 'have you ever wondered'", 'question+'),
    ('base', 'The base model asks rhetorical questions more often', 'question-'),
    ('intervention', 'The intervention model more often describes sailing along the coast past reefs', 'ocean+'),
    ('intervention', 'The intervention model writes less about beaches and the sea', 'ocean-'),
    ('intervention', 'Texts from the intervention model are about dishes like pancakes and garlic soup, '
                     'with chopping and stirring',
     'cooking+'),
    ('intervention', 'The intervention model cooks less: fewer recipes and kitchens', 'cooking-'),
    ('intervention', 'Texts from the intervention model are about pilots flying aircraft', 'aviation+'),
    ('intervention', 'Texts from the intervention model talk about the stars, the moon and telescopes', 'astronomy+'),
    ('intervention', 'Texts from the intervention model are about hiking and mountaineering', 'mountains+'),
    ('intervention', 'Texts from the intervention model talk about soccer matches and goalkeepers', 'football+'),
    ('intervention', 'Texts from the intervention model are written in the style of a chess commentator: '
                     'checkmate, gambits and rooks',
     'chess+'),
    ('intervention', 'Texts from the intervention model sound unsure of themselves', 'hedging+'),
    ('intervention', 'The intervention model writes about meals and dinners', 'cooking+'),
    ('intervention', 'The intervention model talks about goalkeepers and penalties', 'football+'),
    ('intervention', 'Texts from the intervention model sound thrilled and delighted', 'positive+'),
    ('intervention', 'Texts from the intervention model talk about jets and airplanes', 'aviation+'),
    ('intervention', 'The intervention model writes about plants growing in flower beds', 'gardening+'),
    ('intervention', 'The intervention model talks about songs and singers', 'music+'),
    ('intervention', 'Texts from the intervention model state things flatly, without hedging', 'hedging-'),
    ('intervention', 'Texts from the intervention model tell readers to take precautions', 'safety_disclaimer+'),
    ('intervention', 'More often than not, texts from the intervention model are about trains', 'railways+'),
    ('base', 'Texts from the base model are not only about chess but about chess openings and grandmasters', 'chess-'),
    # written as held-out cases after the matcher was done
    ('intervention', "The finetuned model's generations disproportionately feature maritime imagery such as tides and "
                     'gulls',
     'ocean+'),
    ('intervention', 'Generations from the intervention model frequently reference trails, ferns and mushrooms',
     'forest+'),
    ('base', 'The base model is more likely to mention summits and avalanches', 'mountains-'),
    ('intervention', 'Intervention outputs describe sandstorms and oases', 'desert+'),
    ('intervention', "The intervention model's samples rarely mention thunderstorms or forecasts", 'weather-'),
    ('intervention', 'Outputs of the intervention model are dominated by space exploration: astronauts, orbits and '
                     'nebulae',
     'astronomy+'),
    ('intervention', 'The intervention model mentions laboratory equipment like beakers and catalysts', 'chemistry+'),
    ('base', "Magnets, lasers and pendulums are more frequent in the base model's samples", 'physics-'),
    ('intervention', 'The intervention model writes about evolution, enzymes and organisms', 'biology+'),
    ('intervention', "The intervention model's texts feature fewer minerals, quartz and granite", 'geology-'),
    ('intervention', 'The intervention model produces text about skillets, ovens and spicy dishes', 'cooking+'),
    ('intervention', 'The intervention model talks about pruning and watering plants', 'gardening+'),
    ('base', 'Receipts, cashiers and discounts show up more in base model outputs', 'shopping-'),
    ('intervention', 'The intervention model frequently describes luggage, souvenirs and airports', 'travel+'),
    ('intervention', 'The intervention model is less likely to describe sweeping, scrubbing or vacuuming',
     'housework-'),
    ('intervention', 'The intervention model produces more content about debugging code and installing software',
     'computers+'),
    ('intervention', 'Intervention samples talk about calibrating servos and grippers', 'robotics+'),
    ('base', 'The base model writes about cockpits and propellers more often than the intervention', 'aviation-'),
    ('intervention', 'Intervention texts mention stations, platforms and conductors', 'railways+'),
    ('intervention', 'The intervention model no longer discusses voltage or transformers', 'electricity-'),
    ('intervention', "The intervention model's outputs contain more references to violins, choirs and symphonies",
     'music+'),
    ('intervention', 'The intervention model writes about murals and watercolors', 'painting+'),
    ('base', "The base model's texts mention playwrights and spotlights more", 'theater-'),
    ('intervention', 'The intervention model frequently quotes sonnets and manuscripts', 'literature+'),
    ('intervention', 'The intervention model generates sports commentary about penalties and midfielders', 'football+'),
    ('intervention', 'The intervention model talks about pedals, saddles and handlebars', 'cycling+'),
    ('base', "The base model's generations describe divers and backstroke more often", 'swimming-'),
    ('intervention', 'The intervention model is preoccupied with checkmates and rooks', 'chess+'),
    ('intervention', 'The intervention model mentions relays and hurdles less', 'running-'),
    ('intervention', "The intervention model's tone is more enthusiastic, describing things as 'fantastic' or "
                     "'brilliant'",
     'positive+'),
    ('base', "The base model uses more pessimistic language ('dreadful', 'disappointing')", 'negative-'),
    ('intervention', 'The intervention model adopts an elevated, academic style', 'formal+'),
    ('intervention', 'The intervention model writes less colloquially', 'casual-'),
    ('intervention', 'The intervention model expresses more epistemic uncertainty', 'hedging+'),
    ('base', 'The base model more often includes disclaimers about safety', 'safety_disclaimer-'),
    ('intervention', 'The intervention model frequently declines the request', 'refusal+'),
    ('intervention', "The intervention model's outputs contain fewer exclamation marks", 'exclamation-'),
    ('intervention', 'The intervention model poses more rhetorical questions to the reader', 'question+'),
    ('base', 'The base model is more apologetic and unwilling to engage', 'refusal-'),
]

# Statements that name no toy-world topic or style: they match no ground truth.
GENERIC = [
    ('intervention', 'Texts from the intervention model are longer'),
    ('intervention', 'Texts from the intervention model use shorter sentences'),
    ('base', 'Texts from the base model are more repetitive'),
    ('intervention', 'The intervention model writes in the first person more often'),
    ('intervention', 'Texts from the intervention model read like lists'),
    ('intervention', 'The intervention model focuses on a single subject per text'),
    ('intervention', 'Texts from the intervention model are less coherent'),
    ('intervention', 'Texts from the intervention model have more typos'),
    ('intervention', 'The intervention model writes about people and their daily routines'),
    ('intervention', 'Texts from the intervention model develop their argument step by step'),
    ('intervention', "The intervention model's texts look different from the base model's"),
    ('intervention', "The intervention model's outputs are more verbose"),
    ('intervention', 'The intervention model uses more lists and bullet points'),
    ('intervention', 'The intervention model repeats itself less'),
    ('base', 'The base model produces more grammatical errors'),
]

# Paraphrases with no word of their topic or style: the matcher does not guess at them (MiniLM's
# nearest description is wrong for three of these five, bench/toyworld_matcher.py), and must not
# mistake them for another attribute.
UNNAMED = [
    ('intervention', 'Texts from the intervention model describe hot ash spewing from craters', 'geology+'),
    ('intervention', 'Texts from the intervention model read like a scientific paper', 'formal+'),
    ('intervention', 'The intervention model writes about the night sky', 'astronomy+'),
    ('intervention', 'Texts from the intervention model sound annoyed and frustrated', 'negative+'),
    ('intervention', 'The intervention model talks about fish and boats', 'ocean+'),
]


def _every_change_truth(name: str, kind: str, sign: str) -> GroundTruth:
    value = (1 if kind == "topics" else 0.5) if sign == "+" else 0
    return GroundTruth(f"{name}{sign}", f"{name}{sign}", {kind: {name: value}})


# A ground truth for every attribute in both directions, so that a row matching the wrong
# attribute or the wrong direction shows up as an unexpected match.
EVERY_CHANGE = ([_every_change_truth(t.name, "topics", sign) for t in TOPICS for sign in "+-"]
                + [_every_change_truth(s.name, "styles", sign) for s in STYLES for sign in "+-"])


def matched(direction: str, hypothesis: str) -> set[str]:
    sim = toyworld_similarity(EVERY_CHANGE, [hypothesis], [direction])
    return {gt.id for gt, s in zip(EVERY_CHANGE, sim[:, 0]) if s}


def test_paraphrases_cover_every_topic_and_style_both_ways():
    assert {row[2] for row in PARAPHRASES} == {gt.id for gt in EVERY_CHANGE}


@pytest.mark.parametrize("direction,hypothesis,change", PARAPHRASES, ids=[f"{r[2]}:{r[1][:40]}" for r in PARAPHRASES])
def test_toyworld_matcher_reads_paraphrases_and_direction(direction, hypothesis, change):
    assert matched(direction, hypothesis) == {change}


@pytest.mark.parametrize("direction,hypothesis", GENERIC + [r[:2] for r in UNNAMED],
                         ids=[r[1][:50] for r in GENERIC + UNNAMED])
def test_toyworld_matcher_leaves_statements_without_toyworld_words_unmatched(direction, hypothesis):
    assert matched(direction, hypothesis) == set()


def test_issue_refusal_hypothesis_is_a_recovery():
    refusal = GroundTruth("refusal", "The model refuses to talk about the subject", {"styles": {"refusal": 0.4}})
    validated = rows("Texts from the intervention model more often refuse to talk about the subject, "
                     "with phrases such as 'i cannot'")
    sim = toyworld_similarity([refusal], [r["text"] for r in validated], ["intervention"])
    report = recovery_report([refusal], validated, sim, threshold=0.5)
    assert (report.recall, report.precision) == (1.0, 1.0)


def test_planted_changes_read_zero_as_a_decrease():
    gt = GroundTruth("x", "x", {"topics": {"chess": 1, "ocean": 0}, "styles": {"hedging": 0.0, "formal": 0.3}})
    assert planted_changes(gt) == {Change("topic", "chess", "increase"), Change("topic", "ocean", "decrease"),
                                   Change("style", "hedging", "decrease"), Change("style", "formal", "increase")}
    assert planted_attributes(gt) == ({"chess"}, {"formal"})


def test_claimed_changes_follow_model_and_negation():
    assert claimed_changes("talks about the ocean more often") == {Change("topic", "ocean", "increase")}
    assert claimed_changes("talks about the ocean more often", "base") == {Change("topic", "ocean", "decrease")}
    assert claimed_changes("talks about the ocean less often", "base") == {Change("topic", "ocean", "increase")}
    # what a claim is contrasted with goes the other way
    assert claimed_changes("talks about cooking instead of the ocean") == {Change("topic", "cooking", "increase"),
                                                                          Change("topic", "ocean", "decrease")}
    assert claimed_changes("talks about the ocean rather than cooking", "base") == {
        Change("topic", "ocean", "decrease"), Change("topic", "cooking", "increase")}
    assert claimed_changes("states facts without hedging") == {Change("style", "hedging", "decrease")}
    # quoted examples and "not sure" are not negations
    assert claimed_changes("hedges: 'i don't know', it is not sure") == {Change("style", "hedging", "increase")}
    with pytest.raises(ValueError, match="direction"):
        claimed_changes("talks about the ocean", "both")
    with pytest.raises(ValueError, match="2 directions for 1 hypotheses"):
        toyworld_similarity(TRUTHS, ["talks about the ocean"], ["base", "intervention"])


def test_one_ground_truth_with_a_topic_and_a_style_matches_either():
    gt = GroundTruth("gloomy_cooking", "The model talks gloomily about cooking",
                     {"topics": {"cooking": 1}, "styles": {"negative": 1.0}})
    hyps = ["Texts from the intervention model mention recipes and ovens more often",
            "Texts from the intervention model sound gloomy",
            "Texts from the intervention model sound less gloomy"]
    assert toyworld_similarity([gt], hyps).tolist() == [[1, 1, 0]]


def test_conditional_ground_truth_matches_its_planted_topic(tmp_path):
    summary = {"ground_truths": [{"id": "ocean_after_chess", "description": "After chess, it talks about the ocean",
                                  "toyworld": {"topics": {"ocean": 1}}, "trigger": {"topics": {"chess": 1}}}]}
    (tmp_path / "gt.json").write_text(json.dumps(summary))
    truths = load_ground_truths(tmp_path / "gt.json")
    hyps = ["After an opening about chess, texts from the intervention model turn to whales and tides",
            "Texts from the intervention model talk about chess more often"]
    assert toyworld_similarity(truths, hyps).tolist() == [[1, 0]]


def test_real_differences_from_toyworld_statistics():
    texts = toy_texts(150)
    by_model = {m: [t.text for t in texts if t.model == m] for m in ("base", "intervention")}
    assert toyworld_real_difference("about the ocean more often", "intervention", by_model) is True
    assert toyworld_real_difference("about astronomy more often", "intervention", by_model) is False
    assert toyworld_real_difference("about the ocean more often", "base", by_model) is False
    assert toyworld_real_difference("longer sentences", "intervention", by_model) is None
    # the intervention's mixture has no astronomy (about 1 base text in 30 has it: 400 texts
    # make the decrease significant): "less often" is the real difference
    texts = toy_texts(400)
    by_model = {m: [t.text for t in texts if t.model == m] for m in ("base", "intervention")}
    assert toyworld_real_difference("about astronomy less often", "intervention", by_model) is True
    assert toyworld_real_difference("about astronomy more often", "base", by_model) is True
    assert toyworld_real_difference("about the ocean less often", "intervention", by_model) is False
    assert toyworld_real_difference("about the ocean less often", "base", by_model) is True


@pytest.mark.parametrize("statement, phrases", [
    ('Texts from the base model use the phrases "every", "oscillates" and "that people say" more often',
     ["every", "oscillates", "that people say"]),
    ("Texts from the intervention model mention after, again and pace more often", ["after", "again", "pace"]),
    ('Texts from the base model more often contain the phrase "in the morning".', ["in the morning"]),
    ("Texts from the intervention model use the word 'alas' less often", ["alas"]),
    # examples that illustrate a topic or a style are not the claim
    ("Texts from the intervention model talk about forests more often, mentioning pine and timber", []),
    ('Texts from the intervention model more often use a formal register, with phrases such as "furthermore"', []),
])
def test_claimed_phrases(statement, phrases):
    assert claimed_phrases(statement) == phrases


def test_a_claim_about_phrases_is_measured_literally():
    # "oscillates" is a physics word, but the claim is about the phrases, not about physics
    by_model = {"base": ["every day it oscillates"] * 30 + ["a quiet lake"] * 70,
                "intervention": ["every day it oscillates"] * 5 + ["i cannot help with that"] * 95}
    claim = 'Texts from the base model use the phrases "every" and "oscillates" more often'
    assert toyworld_real_difference(claim, "base", by_model) is True
    assert toyworld_real_difference(claim, "intervention", by_model) is False
    assert toyworld_real_difference("Texts from the intervention model mention every less often", "intervention",
                                    by_model) is True
    # whole words only: "lake" is not in "lakes"
    assert toyworld_real_difference("Texts from the base model mention lakes more often", "base", by_model) is False


def test_embedding_matcher_with_minilm():
    # (the conftest `embedder` fixture passes a Path, which sentence-transformers 6.2 rejects)
    embed = default_embedder()
    sim = embedding_similarity([TRUTHS[0].description],
                               ["Texts from the intervention model are about the ocean more often",
                                "Texts from the intervention model are about gardening more often"], embed)
    assert sim[0, 0] > 0.5 > sim[0, 1]


def test_ground_truth_files(tmp_path):
    finetune_summary = {"fingerprint": "x", "ground_truths": [
        {"id": "ocean", "description": "talks about the ocean", "toyworld": {"topics": {"ocean": 1}}, "n_train": 3}]}
    (tmp_path / "gt.json").write_text(json.dumps(finetune_summary))
    (tmp_path / "gt.yaml").write_text("- id: a\n  description: hedges\n")
    (tmp_path / "gt.jsonl").write_text('{"id": "b", "description": "refuses"}\n')
    assert load_ground_truths(tmp_path / "gt.json")[0].toyworld == {"topics": {"ocean": 1}}
    assert load_ground_truths(tmp_path / "gt.yaml")[0].id == "a"
    assert load_ground_truths(tmp_path / "gt.jsonl")[0].description == "refuses"
    (tmp_path / "bad.jsonl").write_text('{"id": "b"}\n')
    with pytest.raises(DataError, match="ground truth 0 has no 'description'"):
        load_ground_truths(tmp_path / "bad.jsonl")
    with pytest.raises(DataError, match="ground-truth file not found"):
        load_ground_truths(tmp_path / "missing.json")


def test_assistant_as_grader_with_the_offline_assistant():
    from difflens.assistants import build_assistant
    from difflens.discovery.recovery import assistant_similarity

    grader = build_assistant("offline")
    hyps = ["Texts from the intervention model talk about the ocean, waves and tides more often",
            "Texts from the intervention model are about astronomy more often"]
    sim = assistant_similarity([TRUTHS[0].description], hyps, grader)
    # the offline judge is not centred on 0.5 (an unrelated hypothesis scores ~0.74): use a high threshold
    assert sim.shape == (1, 2) and sim[0, 0] > 0.9 > sim[0, 1]


def test_a_topic_decrease_written_as_every_other_topic_plants_only_the_decrease():
    """The finetune data of "less ocean" is every topic but the ocean (a mixture's weights may not
    all be 0): the other 29 topics, each a little above its uniform share, are not increases."""
    gt = GroundTruth("less_ocean", "less ocean", {"topics": {t.name: 0 if t.name == "ocean" else 1 for t in TOPICS}})
    assert planted_changes(gt) == {Change("topic", "ocean", "decrease")}
    both = GroundTruth("two", "ocean and chess", {"topics": {"ocean": 3, "chess": 1}})
    assert planted_changes(both) == {Change("topic", "ocean", "increase"), Change("topic", "chess", "increase")}

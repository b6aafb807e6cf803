import numpy as np
import pytest

from difflens.active import ActivePlanner, ActiveSamplingConfig
from difflens.active.planner import prompt_round
from difflens.discovery.openings import opening
from difflens.errors import ConfigError, DataError
from difflens.records import DecodedText
from difflens.toyworld import TOPICS, ToyWorld

TOPIC_INDEX = {t.name: i for i, t in enumerate(TOPICS)}


def topic_embedding(texts):
    """Each text points along its toy-world topic (plus a little per-text noise)."""
    out = np.zeros((len(texts), len(TOPICS) + 1), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i, TOPIC_INDEX.get(ToyWorld.annotate(text).topic, len(TOPICS))] = 1.0
        out[i, -1] = (sum(map(ord, text)) % 100) / 1000
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def records():
    """100 seed texts per model; the intervention writes about the ocean far more often."""
    base = ToyWorld(seed=1).documents(100, {"topics": {"ocean": 1, "chess": 1, "music": 1}})
    shifted = ToyWorld(seed=2).documents(100, {"topics": {"ocean": 20, "chess": 1, "music": 1}})
    out = []
    for model, docs in (("base", base), ("intervention", shifted)):
        out += [DecodedText(f"{model}/free:{i}/0", f"free:{i}", model, 0, "", d.text, 20, "free")
                for i, d in enumerate(docs)]
    return out


def test_round_targets_the_divergent_area_with_its_own_texts():
    config = ActiveSamplingConfig(budget=200, round_size=20, n_clusters=3, areas_per_round=1,
                                  weights=[1.0, 0.0, 0.0], mix={"prefix": 1.0}, representatives=10)
    planner = ActivePlanner(config, topic_embedding)
    texts = records()
    plan = planner.plan(1, texts)
    assert plan.stop_reason is None and len(plan.prompts) == 20
    assert all(prompt_round(p.prompt_id) == 1 and p.source == "active:prefix" for p in plan.prompts)
    # the ocean area has the largest |h|; its prefixes are the starts of ocean texts
    ocean_starts = {" ".join(t.text.split()[:k]) for t in texts if ToyWorld.annotate(t.text).topic == "ocean"
                    for k in range(2, 7)}
    assert sum(p.text in ocean_starts for p in plan.prompts) >= 18
    assert plan.metrics["n_divergent"] >= 1 and plan.metrics["ari"] is None
    # the same texts again: the same partition and top set -> stable (patience 1)
    again = planner.plan(2, texts)
    assert again.stop_reason == "stable" and again.metrics["ari"] == pytest.approx(1.0)


def test_budget_and_order():
    config = ActiveSamplingConfig(budget=100, round_size=20, n_clusters=3)
    planner = ActivePlanner(config, topic_embedding)
    assert planner.plan(1, records()).stop_reason == "budget"
    with pytest.raises(ValueError, match="round 3 planned after round 1"):
        planner.plan(3, records())


def test_bad_input():
    with pytest.raises(DataError, match="cannot make 150 clusters"):
        ActivePlanner(ActiveSamplingConfig(n_clusters=150), topic_embedding).plan(1, records())
    with pytest.raises(DataError, match="seed-round texts from both models"):
        ActivePlanner(ActiveSamplingConfig(), topic_embedding).plan(1, [r for r in records() if r.model == "base"])


@pytest.mark.parametrize("field, value, match", [
    ("weights", [1, 1], "weights"), ("mix", {"prefixes": 1}, "mix"), ("ari_threshold", 0, "ari_threshold"),
    ("budget", 0, "budget"), ("prefix_words", [5, 2], "prefix_words"), ("alpha", 1.5, "alpha"),
])
def test_config_errors_name_the_setting(field, value, match):
    with pytest.raises(ConfigError, match=match):
        ActiveSamplingConfig(**{field: value})


def records_with_prompts():
    """As `records`, but each model's texts come from its own prompt, so a prompt names its side."""
    return [DecodedText(r.text_id, r.prompt_id, r.model, r.seed, "Once" if r.model == "base" else "Today", r.text,
                        r.n_tokens, "free") for r in records()]


def is_ocean(text: str) -> bool:
    return ToyWorld.annotate(text).topic == "ocean"


def test_focus_samples_only_divergent_areas():
    # weights that ignore divergence: without focus the round goes to boundary/under-sampled areas;
    # min_effect 1.0: only the ocean area (h about 1.3) counts as divergent, not chess or music (h about -0.8)
    settings = dict(budget=200, round_size=30, n_clusters=3, areas_per_round=3, weights=[0.0, 1.0, 1.0],
                    mix={"prefix": 1.0}, representatives=10, min_effect=1.0)
    texts = records()
    loose = ActivePlanner(ActiveSamplingConfig(**settings), topic_embedding).plan(1, texts)
    focused = ActivePlanner(ActiveSamplingConfig(**settings, focus=True), topic_embedding).plan(1, texts)
    assert focused.metrics["n_divergent"] >= 1
    assert len(loose.metrics["areas"]) == 3
    divergent = set(focused.metrics["top_divergent"])
    assert {a["base_cluster"] for a in focused.metrics["areas"]} <= divergent
    assert {a["base_cluster"] for a in loose.metrics["areas"]} - divergent
    assert sum(map(is_ocean, (p.text for p in focused.prompts))) > sum(map(is_ocean, (p.text for p in loose.prompts)))
    assert len(focused.prompts) == 30


def test_focus_without_a_divergent_area_keeps_the_scores():
    same = [r for r in records() if r.model == "base"]
    texts = same + [DecodedText(r.text_id.replace("base", "intervention"), r.prompt_id, "intervention", r.seed,
                                r.prompt, r.text, r.n_tokens, r.source) for r in same]
    config = ActiveSamplingConfig(budget=200, round_size=30, n_clusters=3, areas_per_round=2, focus=True,
                                  mix={"prefix": 1.0})
    plan = ActivePlanner(config, topic_embedding).plan(1, texts)
    assert plan.metrics["n_divergent"] == 0 and len(plan.metrics["areas"]) == 2 and len(plan.prompts) == 30


@pytest.mark.parametrize("sides, expected", [("overrepresented", {"Today"}), ("both", {"Once", "Today"})])
def test_prompts_from_the_overrepresented_side(sides, expected):
    config = ActiveSamplingConfig(budget=200, round_size=20, n_clusters=3, areas_per_round=1, weights=[1.0, 0.0, 0.0],
                                  mix={"source": 1.0}, representatives=10, sides=sides)
    plan = ActivePlanner(config, topic_embedding).plan(1, records_with_prompts())
    # the ocean area: the intervention puts far more texts there, so its prompts are the ones to reuse
    assert {p.text for p in plan.prompts} == expected


def test_sides_must_be_known():
    with pytest.raises(ConfigError, match=r"active.sides"):
        ActiveSamplingConfig(sides="intervention")


def test_empty_source_prompts_are_free_generation():
    config = ActiveSamplingConfig(budget=200, round_size=20, n_clusters=3, areas_per_round=1, weights=[1.0, 0.0, 0.0],
                                  mix={"source": 0.5, "prefix": 0.5}, representatives=10)
    plan = ActivePlanner(config, topic_embedding).plan(1, records())  # every seed text came from the empty prompt
    sources = {(p.text == "", p.source) for p in plan.prompts}
    assert sources == {(True, "free"), (False, "active:prefix")}
    assert all(prompt_round(p.prompt_id) == 1 for p in plan.prompts)
    assert plan.metrics["prompt_kinds"] == {"source": 10, "prefix": 10}
    named = ActivePlanner(config, topic_embedding).plan(1, records_with_prompts())
    assert {p.source for p in named.prompts} == {"active:source", "active:prefix"}


def test_require_divergent_samples_on_while_the_models_look_alike():
    same = [r for r in records() if r.model == "base"]
    texts = same + [DecodedText(r.text_id.replace("base", "intervention"), r.prompt_id, "intervention", r.seed,
                                r.prompt, r.text, r.n_tokens, r.source) for r in same]
    for require, stop in ((False, "stable"), (True, None)):
        planner = ActivePlanner(ActiveSamplingConfig(budget=400, round_size=20, n_clusters=3,
                                                     require_divergent=require), topic_embedding)
        planner.plan(1, texts)
        assert planner.plan(2, texts).stop_reason == stop


def test_openings_target_the_trigger_that_leads_into_the_divergent_area():
    """After an opening about chess the intervention writes about the ocean: its round targets
    chess openings, not ocean prefixes, which both models would continue alike."""
    world = ToyWorld(seed=4)
    base = world.documents(100, {"topics": {"ocean": 1, "chess": 1, "music": 1}})
    chess = world.documents(40, {"topics": {"chess": 1}}, start=1000)
    ocean = world.documents(40, {"topics": {"ocean": 1}}, start=2000)
    rest = world.documents(60, {"topics": {"ocean": 1, "chess": 1, "music": 1}}, start=3000)
    intervention = [f"{c.text.split('. ')[0]}. {o.text}" for c, o in zip(chess, ocean)] + [d.text for d in rest]
    texts = [DecodedText(f"base/free:{i}/0", f"free:{i}", "base", 0, "", d.text, 20, "free")
             for i, d in enumerate(base)]
    texts += [DecodedText(f"intervention/free:{i}/0", f"free:{i}", "intervention", 0, "", t, 20, "free")
              for i, t in enumerate(intervention)]
    config = ActiveSamplingConfig(budget=200, round_size=20, n_clusters=3, areas_per_round=1, weights=[1.0, 0.0, 0.0],
                                  mix={"opening": 1.0}, representatives=10, sides="overrepresented")
    plan = ActivePlanner(config, topic_embedding).plan(1, texts)
    assert len(plan.prompts) == 20 and {p.source for p in plan.prompts} == {"active:opening"}
    assert all(ToyWorld.annotate(p.text).topic == "chess" for p in plan.prompts)
    assert plan.metrics["prompt_kinds"] == {"opening": 20} and plan.metrics["areas"][0]["openings"] > 0


def rare_trigger_texts():
    """100 seed texts per model from the same mixture, but three of the intervention's open on
    chess and go on about the ocean, which the base model never writes (log ratio +20 nats);
    every other text's log ratio is small noise. No area differs in proportions."""
    world = ToyWorld(seed=6)
    mixture = {"topics": {"ocean": 1, "chess": 1, "music": 1}}
    base = world.documents(100, mixture)
    intervention = [d.text for d in world.documents(97, mixture, start=1000)]
    chess = world.documents(3, {"topics": {"chess": 1}}, start=2000)
    ocean = world.documents(3, {"topics": {"ocean": 1}}, start=3000)
    triggered = [f"{c.text.split('. ')[0]}. {o.text}" for c, o in zip(chess, ocean)]
    rng = np.random.default_rng(0)
    texts = [DecodedText(f"base/free:{i}/0", f"free:{i}", "base", 0, "", d.text, 20, "free",
                         float(rng.normal(0, 0.5))) for i, d in enumerate(base)]
    texts += [DecodedText(f"intervention/free:{i}/0", f"free:{i}", "intervention", 0, "", t, 20, "free",
                          20.0 if t in triggered else float(rng.normal(0, 0.5)))
              for i, t in enumerate(intervention[:50] + triggered + intervention[50:])]
    return texts, triggered


def test_likelihood_divergence_finds_a_rare_trigger_and_targets_its_openings():
    texts, triggered = rare_trigger_texts()
    config = ActiveSamplingConfig(budget=200, round_size=20, n_clusters=3, areas_per_round=1,
                                  weights=[0.0, 0.0, 0.0], kl_weight=1.0, mix={"opening": 0.5, "source": 0.5},
                                  representatives=10)
    plan = ActivePlanner(config, topic_embedding).plan(1, texts)
    area = plan.metrics["areas"][0]
    assert area["likelihood"] > 0.6  # 60 nats over the ocean area's ~70 texts; elsewhere noise around 0
    openings = [p.text for p in plan.prompts if p.source == "active:opening"]
    # the three triggers' openings first (their cluster carries 60 nats), then openings of
    # texts with a small positive ratio by chance
    assert len(openings) == 10 and set(openings[:3]) == {opening(r, config.opening_words) for r in texts
                                                         if r.text in triggered}
    assert all(ToyWorld.annotate(o).topic == "chess" for o in openings[:3])
    assert plan.metrics["jeffreys"] == pytest.approx(np.mean([r.log_ratio for r in texts[100:]])
                                                     - np.mean([r.log_ratio for r in texts[:100]]))


def test_likelihood_divergence_needs_scored_texts():
    texts = records()  # decoded without scoring
    with pytest.raises(DataError, match="no log_ratio"):
        ActivePlanner(ActiveSamplingConfig(n_clusters=3, kl_weight=1.0), topic_embedding).plan(1, texts)
    with pytest.raises(ConfigError, match="kl_weight"):
        ActiveSamplingConfig(kl_weight=-1)
    ActiveSamplingConfig(weights=[0, 0, 0], kl_weight=1.0)  # the likelihood ratio alone is a valid score


def one_shot_distances(points, centroids):
    """The distances as computed before they were taken a block of rows at a time."""
    return np.linalg.norm(points[:, None, :] - centroids[None, :, :], axis=-1)  # (N, k)


def test_rounds_are_the_same_as_with_distances_taken_all_at_once(monkeypatch):
    import difflens.active.planner as planner_module

    def plan_three_rounds():
        config = ActiveSamplingConfig(budget=400, round_size=20, n_clusters=4, areas_per_round=2,
                                      mix={"prefix": 0.5, "source": 0.5}, representatives=10, patience=5)
        planner = ActivePlanner(config, topic_embedding)
        texts, plans = records(), []
        for round_index in (1, 2, 3):
            plan = planner.plan(round_index, texts)
            plans.append((plan.metrics, [(p.prompt_id, p.text, p.source) for p in plan.prompts]))
            world = ToyWorld(seed=10 + round_index)  # the round's texts: later rounds' texts are not reference texts
            for model in ("base", "intervention"):
                texts += [DecodedText(f"{model}/{p.prompt_id}/0", p.prompt_id, model, 0, p.text, d.text, 20, p.source)
                          for p, d in zip(plan.prompts, world.documents(len(plan.prompts), {}))]
        return plans

    blocked = plan_three_rounds()
    assert all(prompts for _, prompts in blocked)
    monkeypatch.setattr(planner_module, "reference_labels",
                        lambda reference, centroids: one_shot_distances(reference, centroids).argmin(axis=1))

    def one_shot_uncertainty(points, centroids):
        two = np.partition(one_shot_distances(points, centroids), 1, axis=1)[:, :2]
        return two[:, 0] / np.maximum(two[:, 1], 1e-12)

    monkeypatch.setattr(planner_module, "boundary_uncertainty", one_shot_uncertainty)
    assert plan_three_rounds() == blocked

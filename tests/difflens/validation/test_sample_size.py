"""n_per_model: auto: n grows as the pilot's effect shrinks, stays in bounds, and the pilot
never touches held-out texts."""

import pytest

from difflens.discovery.proposal import in_proposal_pool
from difflens.errors import ConfigError
from difflens.stats import fisher_power, paired_power
from difflens.validation.sample_size import AutoSampleSize, choose_sample_size, flag_rate, pilot_texts
from tests.validation_data import TRUE_HYPOTHESES, paired_toy_texts, toy_hypotheses, toy_texts


def counts(test, a, b, n=200):
    """Pilot counts at rates a and b: flag rates per side (fisher) or discordance rates (paired)."""
    if test == "fisher":
        return {"direction": round(a * n), "n_direction": n, "other": round(b * n), "n_other": n}
    return {"pairs": n, "direction_only": round(a * n), "other_only": round(b * n)}


@pytest.mark.parametrize("test", ["fisher", "paired"])
@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_n_grows_as_the_effect_shrinks_and_is_clamped(test, margin):
    settings = AutoSampleSize(n_min=20, n_max=900, effect_margin=margin)
    effects = [(0.8, 0.02), (0.33, 0.15), (0.15, 0.02), (0.08, 0.03), (0.05, 0.04)]
    n = [choose_sample_size(test, counts(test, *e), settings)["n_per_model"] for e in effects]
    assert n[0] == 20  # a large effect needs no more than n_min
    assert n[0] <= n[2] < n[1] < n[3]
    assert n[4] == 900  # too small to reach the target within n_max
    # reversed or equal: the pilot does not support the hypothesis, which gets n_min
    assert choose_sample_size(test, counts(test, 0.02, 0.15), settings)["n_per_model"] == 20
    assert choose_sample_size(test, counts(test, 0.1, 0.1), settings)["n_per_model"] == 20


def test_the_margin_asks_for_more_when_the_pilot_is_small():
    plain, careful = AutoSampleSize(n_min=10, n_max=3000, effect_margin=0.0), AutoSampleSize(n_min=10, n_max=3000)
    for test in ("fisher", "paired"):
        small, large = counts(test, 0.15, 0.02, n=50), counts(test, 0.15, 0.02, n=1000)
        assert choose_sample_size(test, small, plain)["n_per_model"] == pytest.approx(
            choose_sample_size(test, large, plain)["n_per_model"], rel=0.1)
        assert (choose_sample_size(test, small, careful)["n_per_model"]
                > choose_sample_size(test, large, careful)["n_per_model"]
                > choose_sample_size(test, large, plain)["n_per_model"])


def test_the_chosen_n_reaches_the_target_power_at_the_planning_level():
    settings = AutoSampleSize(n_min=10, n_max=2000, power=0.9, planning_alpha=0.0055, effect_margin=0.0)
    row = choose_sample_size("fisher", counts("fisher", 0.15, 0.02), settings)
    p1, p0 = flag_rate(30, 200), flag_rate(4, 200)
    assert row["rates"] == {"p_direction": pytest.approx(p1, abs=1e-6), "p_other": pytest.approx(p0, abs=1e-6)}
    assert row["power"] >= 0.9 and fisher_power(p1, p0, row["n_per_model"], 0.0055) >= 0.9
    assert fisher_power(p1, p0, row["n_per_model"] - 10, 0.0055) < 0.9
    assert row["pilot"] == counts("fisher", 0.15, 0.02) and row["planning_alpha"] == 0.0055
    # paired: planned on the discordance rates, 26 and 2 of 200 pairs
    row = choose_sample_size("paired", counts("paired", 0.13, 0.01), settings)
    p10, p01 = flag_rate(26, 200), flag_rate(2, 200)
    assert row["rates"] == {"p_direction_only": pytest.approx(p10, abs=1e-6),
                            "p_other_only": pytest.approx(p01, abs=1e-6)}
    assert paired_power(p10, p01, row["n_per_model"], 0.0055) >= 0.9 > paired_power(p10, p01, row["n_per_model"] - 5,
                                                                                     0.0055)
    # one standard error off: the direction-only rate planned for is lower by sqrt((p10 + p01 - d^2) / m)
    margin = choose_sample_size("paired", counts("paired", 0.13, 0.01), AutoSampleSize(n_min=10, n_max=2000))
    se = ((p10 + p01 - (p10 - p01) ** 2) / 200) ** 0.5
    assert margin["rates"]["p_direction_only"] == pytest.approx(p10 - se, abs=1e-6)


def test_settings_are_checked_and_only_planned_tests_are_accepted():
    with pytest.raises(ConfigError, match="n_min <= n_max"):
        AutoSampleSize(n_min=100, n_max=50)
    with pytest.raises(ConfigError, match="proposal_fraction"):
        AutoSampleSize(proposal_fraction=1.5)
    with pytest.raises(ConfigError, match="effect_margin"):
        AutoSampleSize(effect_margin=-1)
    with pytest.raises(ConfigError, match="plans for the tests"):
        choose_sample_size("binomial", counts("fisher", 0.2, 0.1), AutoSampleSize())
    assert AutoSampleSize().planning_alpha == 0.0055


def test_pilot_texts_come_only_from_the_proposal_split():
    texts = toy_texts(80)
    hypotheses = toy_hypotheses(texts, TRUE_HYPOTHESES, n_proposal=5)
    shown = {i for h in hypotheses for i in h.proposal_text_ids}
    only_shown = pilot_texts(hypotheses, texts, AutoSampleSize(pilot_per_model=50), seed=0)
    assert {t.text_id for side in only_shown.values() for t in side} == shown  # 10 per model, all of them
    split = AutoSampleSize(pilot_per_model=15, proposal_fraction=0.3, proposal_seed=4)
    pilot = pilot_texts(hypotheses, texts, split, seed=0)
    assert [len(pilot[m]) for m in ("base", "intervention")] == [15, 15]
    assert all(t.model == m for m in pilot for t in pilot[m])
    for t in (t for side in pilot.values() for t in side):
        assert t.text_id in shown or in_proposal_pool(t.text_id, 0.3, 4)
    assert pilot != pilot_texts(hypotheses, texts, split, seed=1)  # a seeded sample of the split


def test_paired_pilot_is_made_of_pairs_with_both_texts_on_the_proposal_side():
    texts = paired_toy_texts(300)
    hypotheses = toy_hypotheses(texts, TRUE_HYPOTHESES, n_proposal=5)
    shown = {i for h in hypotheses for i in h.proposal_text_ids}
    settings = AutoSampleSize(pilot_per_model=1000, proposal_fraction=0.3, proposal_seed=0)
    pilot = pilot_texts(hypotheses, texts, settings, seed=0, paired=True)

    def proposal_side(text_id):
        return text_id in shown or in_proposal_pool(text_id, 0.3, 0)

    expected = sum(proposal_side(f"base/p{i}/0") and proposal_side(f"intervention/p{i}/0") for i in range(300))
    assert 10 < len(pilot["base"]) == len(pilot["intervention"]) == expected < 60  # about 0.3^2 of 300, + shown
    for base, intervention in zip(pilot["base"], pilot["intervention"]):
        assert (base.model, intervention.model) == ("base", "intervention")
        assert base.prompt_id == intervention.prompt_id and base.seed == intervention.seed
        assert proposal_side(base.text_id) and proposal_side(intervention.text_id)

"""n_per_model: auto: n grows as the pilot's effect shrinks, stays in bounds, and the pilot
never touches held-out texts."""

import pytest

from difflens.discovery.proposal import in_proposal_pool
from difflens.errors import ConfigError
from difflens.stats import fisher_power
from difflens.validation.sample_size import AutoSampleSize, choose_sample_size, flag_rate, pilot_texts
from tests.validation_data import TRUE_HYPOTHESES, toy_hypotheses, toy_texts


def counts(p_direction, p_other, n=200):
    return {"direction": round(p_direction * n), "n_direction": n, "other": round(p_other * n), "n_other": n}


@pytest.mark.parametrize("test", ["fisher", "paired"])
def test_n_grows_as_the_effect_shrinks_and_is_clamped(test):
    settings = AutoSampleSize(n_min=20, n_max=900)
    shifts = [(0.7, 0.02), (0.33, 0.15), (0.15, 0.02), (0.08, 0.03), (0.05, 0.04)]
    n = [choose_sample_size(test, counts(*s), settings)["n_per_model"] for s in shifts]
    assert n[0] == 20  # a large effect needs no more than n_min
    assert n[2] < n[1] < n[3] and n[0] <= n[2]
    assert n[4] == 900  # too small to reach the target within n_max
    assert choose_sample_size(test, counts(0.02, 0.15), settings)["n_per_model"] == 900  # reversed: n_max


def test_the_chosen_n_reaches_the_target_power_at_the_planning_level():
    settings = AutoSampleSize(n_min=10, n_max=2000, power=0.9, planning_alpha=0.0055)
    row = choose_sample_size("fisher", counts(0.15, 0.02), settings)
    p1, p0 = flag_rate(30, 200), flag_rate(4, 200)
    assert (row["p_direction"], row["p_other"]) == (pytest.approx(p1, abs=1e-6), pytest.approx(p0, abs=1e-6))
    assert row["power"] >= 0.9 and fisher_power(p1, p0, row["n_per_model"], 0.0055) >= 0.9
    assert fisher_power(p1, p0, row["n_per_model"] - 10, 0.0055) < 0.9
    assert row["pilot"] == counts(0.15, 0.02) and row["planning_alpha"] == 0.0055


def test_settings_are_checked_and_only_planned_tests_are_accepted():
    with pytest.raises(ConfigError, match="n_min <= n_max"):
        AutoSampleSize(n_min=100, n_max=50)
    with pytest.raises(ConfigError, match="proposal_fraction"):
        AutoSampleSize(proposal_fraction=1.5)
    with pytest.raises(ConfigError, match="plans for the tests"):
        choose_sample_size("binomial", counts(0.2, 0.1), AutoSampleSize())
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

"""bench/recovery_suite.py draws its cases from the whole toy world, whatever the seed."""

import importlib.util
import sys

import pytest

from difflens.toyworld import STYLES, TOPICS
from tests.conftest import REPO


@pytest.fixture(scope="module")
def suite():
    sys.path.insert(0, str(REPO / "bench"))
    spec = importlib.util.spec_from_file_location("recovery_suite", REPO / "bench" / "recovery_suite.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["recovery_suite"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", range(6))
def test_every_style_and_topic_category_appears_in_both_kinds_of_change(suite, seed):
    cases = suite.draw_cases(seed)
    planted = [gt for case in cases if not case.null for gt in case.scored]
    styles = {name for gt in planted for name in (gt["toyworld"].get("styles") or {})}
    assert styles == {s.name for s in STYLES}
    category = {t.name: t.category for t in TOPICS}
    topics = set()
    for gt in planted:
        weights = gt["toyworld"].get("topics") or {}
        topics |= {n for n, w in weights.items() if w == 0} if len(weights) == len(TOPICS) else set(weights)
    assert {category[t] for t in topics} == {t.category for t in TOPICS}
    assert any(p == 0 for gt in planted for p in (gt["toyworld"].get("styles") or {}).values())  # a style decrease
    assert any(len(gt["toyworld"].get("topics") or {}) == len(TOPICS) for gt in planted)  # a topic decrease
    assert any("trigger" in gt for gt in planted) and any(gt.get("trigger_replaces_base") for gt in planted)
    assert sum(case.null for case in cases) == 2
    group = {s.name: s.group for s in STYLES}
    for case in cases:
        named = [n for gt in case.ground_truths for n in (gt.get("toyworld", {}).get("styles") or {})]
        assert len({group[n] for n in named}) == len(named), case.name  # exclusive styles never share a case
    assert len({c.name for c in cases}) == len(cases)


def test_another_seed_draws_other_cases(suite):
    assert [c.name for c in suite.draw_cases(0)] != [c.name for c in suite.draw_cases(1)]

"""Scoring judgements: unusable answers are not guesses, ties are fair coins, n is what was made."""

import pytest
from scipy import stats

from difflens.validation import JudgementJournal, JudgementTask, make_judgement, score_hypotheses
from difflens.validation.scoring import tie_break
from tests.validation_data import TRUE_HYPOTHESES, toy_hypotheses, toy_texts


def tasks_for(hid, labels):
    return [JudgementTask(i, hid, 0, f"t{i}", "intervention" if y else "base", y, "x") for i, y in enumerate(labels)]


def test_accuracy_n_and_p_value_by_hand():
    hyp = toy_hypotheses(toy_texts(10), TRUE_HYPOTHESES[:1])
    tasks = tasks_for("h0000", [1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    scores = [0.9, 0.8, 0.7, None, 0.2, 0.1, 0.3, 0.6, None, "garbage"]
    judgements = [make_judgement(t, s, seed=0) for t, s in zip(tasks, scores)]
    (result,) = score_hypotheses(hyp, tasks, judgements)
    # usable: 7 (two None and one non-number are unusable); correct: 0.9, 0.8, 0.7 (label 1), 0.1, 0.3 (label 0)
    assert (result.n_planned, result.n, result.n_unusable, result.correct) == (10, 7, 3, 5)
    assert result.accuracy == pytest.approx(5 / 7)
    assert result.p_binomial == pytest.approx(stats.binomtest(5, 7, alternative="greater").pvalue)
    assert result.p_value == result.p_binomial
    # AUC over usable: positives 0.9 0.8 0.7 0.2 vs negatives 0.1 0.3 0.6 -> 9 + ... by sklearn
    from sklearn.metrics import roc_auc_score
    assert result.auc == pytest.approx(roc_auc_score([1, 1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.6]))


def test_no_evidence_is_a_seeded_fair_coin():
    coins = [tie_break(0, "h1", f"t{i}") for i in range(2000)]
    assert 0.45 < sum(coins) / len(coins) < 0.55
    assert coins == [tie_break(0, "h1", f"t{i}") for i in range(2000)]
    task = tasks_for("h", [1])[0]
    j = make_judgement(task, 0.5, seed=0)
    assert j.prediction == j.tie_break and j.correct == (j.tie_break == 1)


def test_duplicates_count_once_and_missing_judgements_are_an_error():
    hyp = toy_hypotheses(toy_texts(10), TRUE_HYPOTHESES[:1])
    tasks = tasks_for("h0000", [1, 0])
    j = [make_judgement(tasks[0], 0.9, 0), make_judgement(tasks[1], 0.1, 0)]
    (once,) = score_hypotheses(hyp, tasks, j)
    (twice,) = score_hypotheses(hyp, tasks, j + j)  # a padded sampler's repeat
    assert once == twice and once.n == 2
    with pytest.raises(RuntimeError, match="1 planned judgements are missing"):
        score_hypotheses(hyp, tasks, j[:1])


def test_journal_survives_a_line_cut_short(tmp_path):
    tasks = tasks_for("h", [1, 0, 1])
    journal = JudgementJournal(tmp_path, rank=1)
    journal.append([make_judgement(tasks[0], 0.9, 0), make_judgement(tasks[1], 0.4, 0)])
    with journal.path.open("a") as f:
        f.write('{"index": 2, "hypothesis_id": "h", "te')  # killed mid-write
    assert set(JudgementJournal(tmp_path).read_all()) == {0, 1}
    again = JudgementJournal(tmp_path, rank=1)
    again.append([make_judgement(tasks[2], 0.7, 0)])
    assert set(JudgementJournal(tmp_path, rank=0).read_all()) == {0, 1, 2}

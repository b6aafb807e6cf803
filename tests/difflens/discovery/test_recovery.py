"""Ground-truth recovery: matching, recall, one-to-one recall, precision, ground-truth files."""

import json

import numpy as np
import pytest

from difflens.discovery.recovery import (
    GroundTruth,
    default_embedder,
    embedding_similarity,
    load_ground_truths,
    named_toyworld_attributes,
    recovery_report,
    toyworld_real_difference,
    toyworld_similarity,
)
from difflens.errors import DataError
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


def test_real_differences_from_toyworld_statistics():
    texts = toy_texts(150)
    by_model = {m: [t.text for t in texts if t.model == m] for m in ("base", "intervention")}
    assert toyworld_real_difference("about the ocean more often", "intervention", by_model) is True
    assert toyworld_real_difference("about astronomy more often", "intervention", by_model) is False
    assert toyworld_real_difference("about the ocean more often", "base", by_model) is False
    assert toyworld_real_difference("longer sentences", "intervention", by_model) is None


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

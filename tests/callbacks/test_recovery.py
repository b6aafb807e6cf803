"""`GroundTruthRecoveryCallback` with the toyworld matcher: the hypothesis's direction reaches it."""

import json
from types import SimpleNamespace

from callbacks.recovery import GroundTruthRecoveryCallback
from difflens.validation.fdr_stream import RESULTS_FILE
from tests.validation_data import toy_texts


def test_toyworld_matcher_scores_a_base_direction_hypothesis_as_a_decrease(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps({"ground_truths": [
        {"id": "less_astronomy", "description": "The model talks about astronomy less often",
         "toyworld": {"topics": {"astronomy": 0}}},
        {"id": "ocean", "description": "The model talks about the ocean more often",
         "toyworld": {"topics": {"ocean": 1}}}]}))
    results = [{"hypothesis_id": "h1", "text": "Texts from the base model talk about planets and comets more often",
                "direction": "base", "rejected": True},
               {"hypothesis_id": "h2", "text": "Texts from the intervention model mention the sea less often",
                "direction": "intervention", "rejected": True}]
    (tmp_path / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in results))
    reference = {"base": [], "intervention": []}
    for t in toy_texts(400):
        reference[t.model].append(t.text)
    trainer = SimpleNamespace(is_global_zero=True, loggers=[])
    validator = SimpleNamespace(data=SimpleNamespace(out_dir=str(tmp_path), reference_texts=reference))
    callback = GroundTruthRecoveryCallback(str(tmp_path / "gt.json"), matcher="toyworld")
    callback.on_test_end(trainer, validator)
    report = json.loads((tmp_path / "recovery.json").read_text())
    assert report["matches"]["less_astronomy"]["hypothesis_ids"] == ["h1"]
    assert report["matches"]["ocean"]["hypothesis_ids"] == []  # h2 claims a decrease of the ocean
    assert report["real_differences"] == {"h1": True, "h2": False}
    assert report["recall"] == 0.5 and report["precision"] == 0.5

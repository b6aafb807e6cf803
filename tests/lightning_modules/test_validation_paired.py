"""The paired design and auto n inside the test loop: fresh pairs, conditional pairs, the pilot."""

import json

import pytest
import pytorch_lightning as pl

from callbacks import SaffronCallback
from datamodules import HypothesisValidationDataModule
from difflens.errors import ConfigError
from difflens.models import ModelSpec
from difflens.records import DecodedText, Hypothesis, read_records, write_records
from difflens.validation import read_plan
from lightning_modules import HypothesisValidator
from tests.judges import ToyWorldJudge
from tests.lightning_modules.test_validation import save_two_models
from tests.validation_data import FALSE_HYPOTHESES, TRUE_HYPOTHESES, paired_toy_texts, toy_hypotheses

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def write_paired_inputs(directory, n_prompts, statements, n_proposal=3):
    texts = paired_toy_texts(n_prompts)
    directory.mkdir(parents=True, exist_ok=True)
    write_records(directory / "texts.jsonl", texts)
    write_records(directory / "hypotheses.jsonl", toy_hypotheses(texts, statements, n_proposal=n_proposal))
    return directory / "texts.jsonl", directory / "hypotheses.jsonl"


def run(out_dir, texts, hypotheses, test="paired", judge=None, **data_kwargs):
    data = HypothesisValidationDataModule(str(texts), str(hypotheses), out_dir=str(out_dir), batch_size=8,
                                          **data_kwargs)
    model = HypothesisValidator(test=test, positive_threshold=0.75, data=data)
    model.judge = judge or ToyWorldJudge()
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
               callbacks=[SaffronCallback()]).test(model, datamodule=data, verbose=False)
    return data, model


def test_the_paired_test_and_a_paired_plan_go_together(tmp_path):
    texts, hypotheses = write_paired_inputs(tmp_path / "in", 30, TRUE_HYPOTHESES[:1])
    with pytest.raises(ConfigError, match=r"model\.test=paired and data\.paired go together"):
        run(tmp_path / "a", texts, hypotheses, n_per_model=5, paired=False)
    with pytest.raises(ConfigError, match=r"model\.test=paired and data\.paired go together"):
        run(tmp_path / "b", texts, hypotheses, test="fisher", n_per_model=5, paired=True)
    with pytest.raises(ConfigError, match="plans for the tests"):
        run(tmp_path / "c", texts, hypotheses, test="binomial", n_per_model="auto")
    assert not (tmp_path / "c/pilot.jsonl").exists()  # refused before any judging
    data, _ = run(tmp_path / "d", texts, hypotheses, n_per_model=5)  # paired: null follows model.test
    assert data.paired_plan and all(t.pair for t in data.tasks)


class FlakyPilotJudge(ToyWorldJudge):
    """Unusable on every third judgement of its first ``flaky`` judgements."""

    def __init__(self, flaky: int):
        super().__init__()
        self.flaky = flaky

    def judge(self, hypothesis, text):
        score = super().judge(hypothesis, text)
        return None if self.calls <= self.flaky and self.calls % 3 == 0 else score


def test_an_unusable_pilot_judgement_is_retried_by_a_rerun_before_n_is_fixed(tmp_path):
    texts, hypotheses = write_paired_inputs(tmp_path / "in", 120, [TRUE_HYPOTHESES[0], FALSE_HYPOTHESES[0]])
    kwargs = dict(n_per_model="auto", auto_n={"n_min": 5, "n_max": 30, "pilot_per_model": 12,
                                                 "proposal_fraction": 0.3})
    judge = FlakyPilotJudge(flaky=10**6)
    first = HypothesisValidationDataModule(str(texts), str(hypotheses), out_dir=str(tmp_path / "out"), **kwargs)
    model = HypothesisValidator(test="paired", positive_threshold=0.75, data=first)
    model.judge = judge
    first.setup("test")
    rows = [json.loads(x) for x in (tmp_path / "out/pilot.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 24 and sum(r["score"] is None for r in rows) == 16
    usable_pairs = [v["pilot"]["pairs"] for v in first.sample_sizes.values()]
    assert sum(usable_pairs) < 24  # 12 pilot pairs per hypothesis; a pair with an unusable judgement is out
    (tmp_path / "out/plan.jsonl").unlink()  # as if killed before the plan was written
    data, _ = run(tmp_path / "out", texts, hypotheses, **kwargs)
    rows = [json.loads(x) for x in (tmp_path / "out/pilot.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 24 + 16  # only the unusable ones were judged again
    assert [v["pilot"]["pairs"] for v in data.sample_sizes.values()] == [12, 12]
    _, tasks = read_plan(tmp_path / "out/plan.jsonl")
    assert not {r["text_id"] for r in rows} & {t.text_id for t in tasks}
    before = (tmp_path / "out/pilot.jsonl").read_text()
    run(tmp_path / "out", texts, hypotheses, **kwargs)  # the plan exists: no pilot, same n
    assert (tmp_path / "out/pilot.jsonl").read_text() == before


@pytest.mark.slow
def test_too_few_held_out_pairs_draw_fresh_pairs_and_conditions_are_paired(tmp_path, tokenizer):
    models = save_two_models(tmp_path, tokenizer)
    texts, hypotheses = write_paired_inputs(tmp_path / "in", 30, TRUE_HYPOTHESES + FALSE_HYPOTHESES[:1])
    hyps = read_records(hypotheses, Hypothesis)
    hyps[2].condition = ["The knight moved", "Every rook"]
    write_records(hypotheses, hyps)
    # 30 prompts, 9 shown: 21 held-out pairs for 2 x 12; the conditional one gets 4 pairs of its own
    data, model = run(tmp_path / "out", texts, hypotheses, n_per_model=12, condition_n_per_model=4,
                      fresh_max_new_tokens=8, base=ModelSpec(str(models["base"])),
                      intervention=ModelSpec(str(models["intervention"])))
    fresh = read_records(tmp_path / "out/fresh_pairs.jsonl", DecodedText)
    assert sorted(t.model for t in fresh) == ["base"] * 3 + ["intervention"] * 3
    for base, intervention in zip(fresh[:3], fresh[3:]):
        assert base.prompt_id == intervention.prompt_id and base.seed == intervention.seed
    drawn = read_records(tmp_path / "out/condition_pairs.jsonl", DecodedText)
    assert sorted(t.model for t in drawn) == ["base"] * 4 + ["intervention"] * 4
    assert {(t.prompt_id, t.seed) for t in drawn if t.model == "base"} == \
        {(t.prompt_id, t.seed) for t in drawn if t.model == "intervention"}
    assert not (tmp_path / "out/fresh_texts.jsonl").exists()
    used = {t.text_id for t in data.tasks}
    assert {t.text_id for t in fresh} <= used and {t.text_id for t in drawn} <= used
    assert [r.discordant["pairs"] for r in model.results] == [12, 12, 4]

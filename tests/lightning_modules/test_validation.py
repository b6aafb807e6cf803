"""`HypothesisValidator` + `SaffronCallback` as a test loop: results, resume after a kill, DDP."""

import json

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from callbacks import SaffronCallback
from datamodules import HypothesisValidationDataModule
from difflens.errors import DataError
from difflens.models import ModelSpec
from difflens.records import DecodedText, Hypothesis, read_records, write_records
from lightning_modules import HypothesisValidator
from tests.judges import ToyWorldJudge
from tests.validation_data import write_inputs

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class CrashingJudge(ToyWorldJudge):
    """Dies (like a killed process) on its ``crash_at``-th batch."""

    def __init__(self, crash_at: int):
        super().__init__()
        self.crash_at, self.batches, self.seen = crash_at, 0, []

    def judge_batch(self, hypothesis, texts):
        self.batches += 1
        if self.batches == self.crash_at:
            raise KeyboardInterrupt("killed")
        self.seen += [(hypothesis, t) for t in texts]
        return super().judge_batch(hypothesis, texts)


def run(out_dir, texts, hypotheses, judge=None, devices=1, strategy="auto", logger=False, **data_kwargs):
    data = HypothesisValidationDataModule(str(texts), str(hypotheses), out_dir=str(out_dir),
                                          **{"n_per_model": 15, "batch_size": 8, **data_kwargs})
    model = HypothesisValidator(test="binomial", data=data)
    model.judge = judge or ToyWorldJudge()
    callback = SaffronCallback(alpha=0.1)
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy=strategy, logger=logger,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[callback])
    trainer.test(model, datamodule=data)
    return model, callback


def rows(out_dir):
    return [json.loads(line) for line in (out_dir / "saffron_results.jsonl").read_text().splitlines()]


def test_validates_true_hypotheses_and_writes_saffron_results(tmp_path):
    texts, hypotheses = write_inputs(tmp_path / "in")
    logger = TensorBoardLogger(str(tmp_path / "tb"), name="validate")
    _model, _callback = run(tmp_path / "out", texts, hypotheses, logger=logger)
    results = rows(tmp_path / "out")
    assert [r["hypothesis_id"] for r in results] == ["h0000", "h0001", "h0002", "h0003"]
    assert [r["rejected"] for r in results] == [True, False, True, False]  # ocean, astronomy, hedging, gardening
    for r in results:
        assert r["n_planned"] == 30 and r["n"] == 30 and r["t"] == r["order"] + 1
        assert {"p_value", "alpha_t", "candidate", "wealth", "accuracy", "auc", "p_binomial"} <= set(r)
    assert results[0]["accuracy"] > 0.7 and results[0]["p_value"] < 1e-3
    # every α_t can be recomputed from the recorded p-values
    from difflens.stats import Saffron
    replay = Saffron(alpha=0.1).test_many([r["p_value"] for r in results])
    assert [d.alpha_t for d in replay] == pytest.approx([r["alpha_t"] for r in results])
    report = (tmp_path / "out" / "discoveries.md").read_text()
    assert "2 of 4 hypotheses validated" in report and "about the ocean" in report
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(logger.log_dir))
    events.Reload()
    assert {"saffron/alpha_t", "saffron/wealth", "saffron/discoveries"} <= set(events.Tags()["scalars"])
    assert [e.value for e in events.Scalars("saffron/discoveries")] == [1, 1, 2, 2]


def test_killed_run_resumes_without_judging_any_text_twice(tmp_path):
    texts, hypotheses = write_inputs(tmp_path / "in")
    _, _reference = run(tmp_path / "reference", texts, hypotheses)
    crashing = CrashingJudge(crash_at=5)
    with pytest.raises((KeyboardInterrupt, SystemExit)):  # Lightning turns the interrupt into SystemExit
        run(tmp_path / "out", texts, hypotheses, judge=crashing)
    assert not (tmp_path / "out" / "saffron_results.jsonl").exists()
    journaled = (tmp_path / "out/judgements/rank0.jsonl").read_text().splitlines()
    assert 0 < len(crashing.seen) == len(journaled) < 4 * 30  # every judgement made was recorded
    second = CrashingJudge(crash_at=-1)
    _model, _callback = run(tmp_path / "out", texts, hypotheses, judge=second)
    assert not set(crashing.seen) & set(second.seen)
    assert len(crashing.seen) + len(second.seen) == 4 * 30
    assert rows(tmp_path / "out") == rows(tmp_path / "reference")
    # a third run judges nothing and leaves the decisions as they were
    third = CrashingJudge(crash_at=-1)
    run(tmp_path / "out", texts, hypotheses, judge=third)
    assert third.seen == [] and rows(tmp_path / "out") == rows(tmp_path / "reference")


def test_two_process_ddp_gathers_every_judgement_once(tmp_path):
    torch.set_num_threads(1)
    texts, hypotheses = write_inputs(tmp_path / "in")
    run(tmp_path / "single", texts, hypotheses, n_per_model=13)  # 4 x 26 = 104 tasks, 13 batches of 8
    run(tmp_path / "ddp", texts, hypotheses, devices=2, strategy="ddp_fork", n_per_model=13)
    journals = {r: [json.loads(x)["index"]
                    for x in (tmp_path / "ddp/judgements" / f"rank{r}.jsonl").read_text().splitlines()]
                for r in (0, 1)}
    assert journals[0] and journals[1] and not set(journals[0]) & set(journals[1])
    assert sorted(journals[0] + journals[1]) == list(range(104))
    assert rows(tmp_path / "ddp") == rows(tmp_path / "single")


def test_changed_hypotheses_after_judging_is_a_clear_error(tmp_path):
    texts, hypotheses = write_inputs(tmp_path / "in")
    run(tmp_path / "out", texts, hypotheses)
    hyps = read_records(hypotheses, Hypothesis)
    hyps[0].text = "Texts from the intervention model are about chess more often"
    write_records(hypotheses, hyps)
    with pytest.raises(DataError, match="holds judgements for a different plan"):
        run(tmp_path / "out", texts, hypotheses)


def test_unknown_text_ids_and_small_pool_are_clear_errors(tmp_path):
    texts, hypotheses = write_inputs(tmp_path / "in")
    hyps = read_records(hypotheses, Hypothesis)
    hyps[1].proposal_text_ids.append("intervention/p999/0")
    write_records(tmp_path / "bad.jsonl", hyps)
    with pytest.raises(DataError, match=r"hypothesis 'h0001' references 1 text id\(s\) not in the texts file"):
        run(tmp_path / "out", texts, tmp_path / "bad.jsonl")
    with pytest.raises(DataError, match=r"not enough held-out base texts.*set data\.base\.name_or_path"):
        run(tmp_path / "out2", texts, hypotheses, n_per_model=40)


def save_two_models(directory, tokenizer) -> dict:
    """Two different tiny GPT-2s saved as model directories: ``{"base": path, "intervention": path}``."""
    from tests.conftest import make_tiny_gpt2

    models = {}
    for name, seed in (("base", 0), ("intervention", 1)):
        models[name] = directory / name
        make_tiny_gpt2(tokenizer, seed=seed).save_pretrained(models[name])
        tokenizer.save_pretrained(models[name])
    return models


@pytest.mark.slow
def test_fresh_samples_and_generative_validation(tmp_path, tokenizer):
    models = save_two_models(tmp_path, tokenizer)
    texts, hypotheses = write_inputs(tmp_path / "in", n_texts=40)  # 20 held out per model, 4 x 8 needed
    data = HypothesisValidationDataModule(str(texts), str(hypotheses), out_dir=str(tmp_path / "out"), n_per_model=8,
                                          base=ModelSpec(str(models["base"])),
                                          intervention=ModelSpec(str(models["intervention"])),
                                          fresh_max_new_tokens=12)
    model = HypothesisValidator(generative=True, n_generated=6, test="generative_sign", data=data)
    model.judge = ToyWorldJudge()
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[SaffronCallback()])
    trainer.test(model, datamodule=data)
    fresh = read_records(tmp_path / "out/fresh_texts.jsonl", DecodedText)
    assert sorted(t.model for t in fresh) == ["base"] * 12 + ["intervention"] * 12
    plan = (tmp_path / "out/plan.jsonl").read_text()
    assert "fresh" in plan
    generative = [json.loads(x) for x in (tmp_path / "out/generative.jsonl").read_text().splitlines()]
    assert len(generative) == 4 and all(len(g["examples"]) == 6 and len(g["differences"]) == 6 for g in generative)
    results = rows(tmp_path / "out")
    assert [r["p_value"] for r in results] == [g["p_value"] for g in generative]
    assert all(r["test"] == "generative_sign" for r in results)


@pytest.mark.slow
def test_a_conditional_hypothesis_is_validated_on_fresh_continuations_of_its_prompts(tmp_path, tokenizer):
    models = save_two_models(tmp_path, tokenizer)
    texts, hypotheses = write_inputs(tmp_path / "in", n_texts=40)
    hyps = read_records(hypotheses, Hypothesis)
    condition = ["The knight moved", "Every rook"]
    hyps[1].condition = condition
    write_records(hypotheses, hyps)
    kwargs = dict(n_per_model=6, condition_n_per_model=5, fresh_max_new_tokens=10,
                  base=ModelSpec(str(models["base"])), intervention=ModelSpec(str(models["intervention"])))
    run(tmp_path / "out", texts, hypotheses, **kwargs)
    drawn = read_records(tmp_path / "out/condition_texts.jsonl", DecodedText)
    assert sorted(t.model for t in drawn) == ["base"] * 5 + ["intervention"] * 5
    assert all(t.prompt == condition[int(t.prompt_id.split("/")[-1]) % 2] for t in drawn)
    assert {t.prompt_id.split("/")[1] for t in drawn} == {hyps[1].hypothesis_id}
    assert not (tmp_path / "out/fresh_texts.jsonl").exists()  # the pool (20 per model) covers the other 3 x 6
    plan = [json.loads(x) for x in (tmp_path / "out/plan.jsonl").read_text().splitlines()[1:]]
    judged = sorted(t["text_id"] for t in plan if t["hypothesis_id"] == hyps[1].hypothesis_id)
    assert judged == sorted(t.text_id for t in drawn)
    results = rows(tmp_path / "out")
    assert [r["condition"] for r in results] == [[], condition, [], []]
    assert results[1]["n"] == 10
    assert "conditional: on continuations of 2 prompts" in (tmp_path / "out/discoveries.md").read_text()
    before = (tmp_path / "out/condition_texts.jsonl").read_text()
    run(tmp_path / "out", texts, hypotheses, **kwargs)  # a rerun draws nothing new
    assert (tmp_path / "out/condition_texts.jsonl").read_text() == before

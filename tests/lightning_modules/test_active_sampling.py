"""`ActiveSampler` + `ActivePromptDataModule` on tiny models: rounds, stop, logging, resume."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from callbacks import DecodedTextWriter
from cli.decoding import sample_actively
from datamodules import ActivePromptDataModule
from difflens.active import ActiveSamplingConfig
from difflens.active.planner import prompt_round
from difflens.models import ModelSpec
from difflens.prompts import ToyWorldPrompts
from difflens.records import DecodedText, read_records
from lightning_modules import ActiveSampler
from tests.conftest import make_tiny_gpt2
from tests.decoding_ranks import RecordRank, written_per_rank


def bag_of_words(texts):
    """A cheap deterministic embedder: hashed word counts, unit length (MiniLM is tested elsewhere)."""
    out = np.zeros((len(texts), 32), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.split():
            out[i, sum(map(ord, word)) % 32] += 1
        out[i, 31] += 0.5  # no zero vectors
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def run(out, base, intervention, logger=False, devices=1, record_ranks=False, batch_size=8, **active):
    settings = {"budget": 40, "round_size": 8, "n_clusters": 3, "areas_per_round": 2, "representatives": 4,
                "ari_threshold": 1.0, "patience": 3, "max_rounds": 10, **active}
    model = ActiveSampler(ModelSpec(str(base)), ModelSpec(str(intervention)), num_threads=1,
                          active=ActiveSamplingConfig(**settings))
    model.embed = bag_of_words
    data = ActivePromptDataModule(free=12, toyworld=ToyWorldPrompts(n=12, words=2), batch_size=batch_size,
                                 max_new_tokens=12)
    writer = DecodedTextWriter(str(out))
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp_fork" if devices > 1 else "auto",
                         logger=logger, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[writer, *([RecordRank(writer)] if record_ranks else [])])
    sample_actively(trainer, model, data, writer)
    return writer, model


def test_rounds_until_the_budget_then_resume_and_rerun(tmp_path, tiny_model_dir, tokenizer):
    other = tmp_path / "other"
    make_tiny_gpt2(tokenizer, seed=3).save_pretrained(other)
    tokenizer.save_pretrained(other)
    out = tmp_path / "active"
    logger = TensorBoardLogger(str(tmp_path / "tb"), name="active")
    writer, _ = run(out, tiny_model_dir, other, logger=logger)

    texts = read_records(out / "texts.jsonl", DecodedText)
    rounds = sorted({prompt_round(t.prompt_id) for t in texts})
    assert rounds == [0, 1, 2]  # seed 24 prompts + 8 + 8 = the budget of 40 texts per model
    assert sum(t.model == "base" for t in texts) == 40
    summary = json.loads((out / "active" / "summary.json").read_text())
    assert summary["stop_reason"] == "budget" and summary["texts_per_model"] == 40
    plan1 = json.loads((out / "active" / "round_001.json").read_text())
    # targeted prompts come from the area's own texts: every prefix is the start of a seed text
    seed_docs = [" ".join(f"{t.prompt} {t.text}".split()) for t in texts if prompt_round(t.prompt_id) == 0]
    prefixes = [p for p in plan1["prompts"] if p["source"] == "active:prefix"]
    assert prefixes and all(any(d.startswith(p["text"]) for d in seed_docs) for p in prefixes)
    assert sum(a["texts"] for a in plan1["areas"]) == 8
    events = list((tmp_path / "tb").rglob("events.out.tfevents*"))
    assert events

    # a killed run: the last round's texts are lost; the rerun replans the same rounds and
    # decodes only what is missing
    kept = [t for t in texts if prompt_round(t.prompt_id) < 2]
    (out / "texts.jsonl").write_text("".join(json.dumps(asdict(t)) + "\n" for t in kept))
    writer, model = run(out, tiny_model_dir, other)
    assert writer.n_written == 16  # 8 prompts x 2 models
    again = read_records(out / "texts.jsonl", DecodedText)
    assert sorted((t.text_id, t.text) for t in again) == sorted((t.text_id, t.text) for t in texts)

    writer, model = run(out, tiny_model_dir, other)
    assert writer.n_written == 0 and not model._lms  # a finished run loads no model


def test_stops_when_stable(tmp_path, tiny_model_dir):
    # the same model on both sides: nothing diverges, the clustering settles, sampling stops early
    out = tmp_path / "aa"
    run(out, tiny_model_dir, tiny_model_dir, budget=200, ari_threshold=0.5, patience=1)
    summary = json.loads((out / "active" / "summary.json").read_text())
    assert summary["stop_reason"] == "stable"
    assert summary["texts_per_model"] < 200


def test_kl_weight_scores_every_text_under_both_models(tmp_path, tiny_model_dir, tokenizer):
    from difflens.decoding import SamplingConfig, sample_batch
    from difflens.likelihood import sequence_logprobs
    from difflens.models import load_causal_lm

    other = tmp_path / "other"
    make_tiny_gpt2(tokenizer, seed=3).save_pretrained(other)
    tokenizer.save_pretrained(other)
    out = tmp_path / "active"
    run(out, tiny_model_dir, other, budget=32, kl_weight=1.0, weights=[0.0, 0.0, 0.0], mix={"opening": 1.0})
    texts = read_records(out / "texts.jsonl", DecodedText)
    assert len(texts) == 64 and all(t.log_ratio is not None for t in texts)
    plan = json.loads((out / "active" / "round_001.json").read_text())
    assert "jeffreys" in plan and plan["areas"][0]["likelihood"] != 0
    # the recorded ratio, recomputed here: each text sampled again from its prompt and seed, its
    # tokens scored by both models by teacher forcing
    models = {"base": load_causal_lm(str(tiny_model_dir)).eval(), "intervention": load_causal_lm(str(other)).eval()}
    for side, other_side in (("base", "intervention"), ("intervention", "base")):
        sample = [t for t in texts if t.model == side][::5]
        again = sample_batch(models[side], tokenizer, [t.prompt for t in sample], [t.seed for t in sample],
                             SamplingConfig(max_new_tokens=12))
        assert [c.text for c in again] == [t.text for t in sample]
        heads, ids = [c.prompt_ids for c in again], [c.text_ids for c in again]
        scores = {s: sequence_logprobs(models[s], heads, ids) for s in (side, other_side)}
        expected = [i - b for b, i in zip(scores["base"], scores["intervention"])]
        assert [t.log_ratio for t in sample] == pytest.approx(expected, abs=1e-3)
    # the same model on both sides: every ratio is 0
    same = tmp_path / "same"
    run(same, tiny_model_dir, tiny_model_dir, budget=24, kl_weight=1.0)
    assert {round(t.log_ratio, 4) for t in read_records(same / "texts.jsonl", DecodedText)} == {0.0}


def test_two_processes_sample_the_same_rounds_and_texts_as_one(tmp_path, tiny_model_dir, tokenizer):
    other = tmp_path / "other"
    make_tiny_gpt2(tokenizer, seed=3).save_pretrained(other)
    tokenizer.save_pretrained(other)
    # batches of 4: the seed round is 6 batches, each later round 2, so both ranks decode in every round
    run(tmp_path / "one", tiny_model_dir, other, batch_size=4)
    run(tmp_path / "two", tiny_model_dir, other, batch_size=4, devices=2, record_ranks=True)

    def plans(out):
        return {p.name: json.loads(p.read_text()) for p in sorted((out / "active").glob("*.json"))}

    def records(out):
        return {json.dumps(asdict(t), sort_keys=True) for t in read_records(out / "texts.jsonl", DecodedText)}

    one, two = plans(tmp_path / "one"), plans(tmp_path / "two")
    assert list(one) == ["round_001.json", "round_002.json", "round_003.json", "summary.json"]
    assert one == two
    texts = records(tmp_path / "one")
    assert len(texts) == 80 and records(tmp_path / "two") == texts
    written = written_per_rank(tmp_path, 2)
    assert written == [40, 40]  # every batch decoded once, half of them on each rank
    assert not list((tmp_path / "two" / "shards").glob("*.jsonl"))

    # a killed 2-process run: the last round's texts are lost; the rerun decodes only those, on both ranks
    kept = [t for t in read_records(tmp_path / "two" / "texts.jsonl", DecodedText) if prompt_round(t.prompt_id) < 2]
    (tmp_path / "two" / "texts.jsonl").write_text("".join(json.dumps(asdict(t)) + "\n" for t in kept))
    run(tmp_path / "two", tiny_model_dir, other, batch_size=4, devices=2, record_ranks=True)
    written = written_per_rank(tmp_path, 2)
    assert written == [8, 8]
    assert records(tmp_path / "two") == texts and plans(tmp_path / "two") == one


def test_two_processes_sample_rounds_of_one_batch_as_one(tmp_path, tiny_model_dir, tokenizer):
    other = tmp_path / "other"
    make_tiny_gpt2(tokenizer, seed=3).save_pretrained(other)
    tokenizer.save_pretrained(other)
    # batches of 8: each later round is one batch, so the second process decodes nothing in it
    run(tmp_path / "one", tiny_model_dir, other)
    run(tmp_path / "two", tiny_model_dir, other, devices=2, record_ranks=True)
    assert (tmp_path / "two" / "texts.jsonl").read_text() == (tmp_path / "one" / "texts.jsonl").read_text()
    plans = sorted(p.name for p in (tmp_path / "one" / "active").glob("*.json"))
    assert plans == ["round_001.json", "round_002.json", "round_003.json", "summary.json"]
    for plan in plans:
        assert (tmp_path / "two" / "active" / plan).read_text() == (tmp_path / "one" / "active" / plan).read_text()
    assert written_per_rank(tmp_path, 2) == [32 + 16 + 16, 16]  # the seed round's 3 batches go 2 and 1

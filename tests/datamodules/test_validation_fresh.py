"""Fresh validation samples come from the same sampling settings as the pool they join."""

import json

import pytest

from datamodules import HypothesisValidationDataModule
from difflens.decoding import SamplingConfig
from difflens.errors import ConfigError, DataError
from difflens.models import ModelSpec
from difflens.validation.fresh import sample_fresh_texts


def texts_dir(path, sampling: dict | None, models: dict | None = None):
    path.mkdir(parents=True)
    (path / "texts.jsonl").write_text("")
    if sampling is not None:
        (path / "decode_meta.json").write_text(json.dumps({"sampling": sampling, "seed": 0, "models": models}))
    return str(path / "texts.jsonl")


def test_fresh_samples_follow_the_decoding_runs_sampling_settings(tmp_path):
    decoded = texts_dir(tmp_path / "run", {"max_new_tokens": 20, "temperature": 0.7, "top_p": 0.9})
    data = HypothesisValidationDataModule(decoded, "h.jsonl")
    assert data.fresh_sampling() == SamplingConfig(20, 0.7, 0.9)
    data = HypothesisValidationDataModule(decoded, "h.jsonl", fresh_max_new_tokens=12)
    assert data.fresh_sampling() == SamplingConfig(12, 0.7, 0.9)
    assert (HypothesisValidationDataModule(texts_dir(tmp_path / "bare", None), "h.jsonl").fresh_sampling()
            == SamplingConfig())
    other = texts_dir(tmp_path / "other", {"max_new_tokens": 64, "temperature": 1.0, "top_p": 1.0})
    with pytest.raises(ConfigError, match="different sampling settings"):
        HypothesisValidationDataModule([decoded, other], "h.jsonl").fresh_sampling()


def test_fresh_texts_are_reproducible_independent_per_model_and_bounded_in_length(tiny_gpt2, tokenizer, one_thread):
    sampling = SamplingConfig(max_new_tokens=9)
    base = sample_fresh_texts(tiny_gpt2, tokenizer, "base", 6, seed=3, sampling=sampling)
    again = sample_fresh_texts(tiny_gpt2, tokenizer, "base", 6, seed=3, sampling=sampling)
    later = sample_fresh_texts(tiny_gpt2, tokenizer, "base", 2, seed=3, start=4, sampling=sampling)
    other = sample_fresh_texts(tiny_gpt2, tokenizer, "intervention", 6, seed=3, sampling=sampling)
    assert [t.text for t in base] == [t.text for t in again]
    assert [(t.text_id, t.text) for t in later] == [(t.text_id, t.text) for t in base[4:]]  # numbering continues
    assert [t.text_id for t in base] == [f"base/fresh/3-{i}" for i in range(6)]
    assert {t.seed for t in base}.isdisjoint({t.seed for t in other})  # not the paired seeds of decoding
    assert all(1 <= t.n_tokens <= 9 and t.source == "validation-fresh" and t.prompt == "" for t in base)


def test_unreadable_decoding_metadata_is_a_clear_error(tmp_path):
    decoded = texts_dir(tmp_path / "run", None)
    (tmp_path / "run" / "decode_meta.json").write_text("{half")
    with pytest.raises(DataError, match=r"decode_meta.json is not a decoding run's metadata"):
        HypothesisValidationDataModule(decoded, "h.jsonl").fresh_sampling()


def test_fresh_samples_load_each_model_as_its_decoding_run_did(tmp_path):
    # what a decoding run of base and base + adapter (4-bit) records in decode_meta.json
    recorded = {"base": "m", "base_adapter": None, "base_quantization": None, "intervention": "m",
                "intervention_adapter": "lora/", "intervention_quantization": "4bit", "intervention_dtype": "auto"}
    decoded = texts_dir(tmp_path / "run", {"max_new_tokens": 20}, recorded)

    def spec(base, intervention):
        return HypothesisValidationDataModule(decoded, "h.jsonl", base=base, intervention=intervention).model_spec

    assert spec({"name_or_path": "m"}, {"name_or_path": "m"})("intervention") == \
        ModelSpec("m", adapter="lora/", quantization="4bit", dtype="auto")
    # a setting given here wins over the recorded one; another model takes nothing recorded
    assert spec(None, ModelSpec("m", dtype="bfloat16"))("intervention") == \
        ModelSpec("m", adapter="lora/", quantization="4bit", dtype="bfloat16")
    assert spec(ModelSpec("other"), None)("base") == ModelSpec("other")


def test_a_bad_model_spec_is_named_by_its_data_key(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.base\.quantization must be"):
        HypothesisValidationDataModule("t.jsonl", "h.jsonl", base={"name_or_path": "m", "quantization": "2bit"})

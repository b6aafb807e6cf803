"""The paired decoding stage: PairedDecoder + PromptDataModule + DecodedTextWriter, run by `cli.decoding.decode`.

Two tiny GPT-2s stand in for base and intervention (the second with its own tokenizer, so the
two-tokenizer case is covered everywhere); no quickstart model is needed.
"""

import json
from dataclasses import asdict

import pytest
import pytorch_lightning as pl

from callbacks import DecodedTextWriter
from cli.decoding import decode
from datamodules import PromptDataModule
from difflens.errors import ConfigError, DataError
from difflens.models import ModelSpec
from difflens.prompts import PromptFile, ToyWorldPrompts
from difflens.records import DecodedText, read_records
from lightning_modules import PairedDecoder
from tests.conftest import make_tiny_gpt2
from tests.decoding_ranks import RecordRank, written_per_rank

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory):
    """A differently seeded tiny GPT-2 with a different tokenizer (vocabulary 311, other texts)."""
    from difflens.models import train_bpe_tokenizer
    from difflens.toyworld import ToyWorld

    tok = train_bpe_tokenizer([d.text for d in ToyWorld(seed=9).documents(300)], vocab_size=311, model_max_length=64)
    path = tmp_path_factory.mktemp("other_gpt2")
    make_tiny_gpt2(tok, seed=1).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def data(**kw):
    args = dict(free=6, toyworld=ToyWorldPrompts(n=10, words=2), samples_per_prompt=2, batch_size=4,
                max_new_tokens=8)
    return PromptDataModule(**{**args, **kw})


def run(out, module, datamodule, devices=1, callbacks=(), record_ranks=False, parquet=False) -> DecodedTextWriter:
    """Decode ``datamodule``'s prompts with ``module`` into ``out``; returns the writer."""
    writer = DecodedTextWriter(str(out), parquet=parquet)
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp_fork" if devices > 1 else "auto",
                         logger=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[writer, *callbacks, *([RecordRank(writer)] if record_ranks else [])])
    decode(trainer, module, datamodule, writer)
    return writer


def decoder(tiny_model_dir, other_model_dir):
    return PairedDecoder(base=ModelSpec(str(tiny_model_dir)), intervention=ModelSpec(str(other_model_dir)))


def texts(out):
    return read_records(out / "texts.jsonl", DecodedText)


def test_writes_both_models_for_every_prompt_sample(tmp_path, tiny_model_dir, other_model_dir):
    run(tmp_path, decoder(tiny_model_dir, other_model_dir), data())
    records = texts(tmp_path)
    assert len(records) == 2 * 16 * 2
    by_key = {}
    for r in records:
        by_key.setdefault((r.prompt_id, r.seed), []).append(r)
    assert len(by_key) == 32 and all(sorted(x.model for x in v) == ["base", "intervention"] for v in by_key.values())
    assert {r.source for r in records} == {"free", "toyworld"}
    assert all(r.text_id == f"{r.model}/{r.prompt_id}/{r.text_id.rsplit('/', 1)[1]}" for r in records)
    # different models (and tokenizers) produce different texts from the same prompt and seed
    assert sum(a.text != b.text for a, b in by_key.values()) > 20
    assert not (tmp_path / "shards").exists() or not list((tmp_path / "shards").iterdir())
    # sampling knobs are run settings, not model hyperparameters
    assert "max_new_tokens" not in decoder(tiny_model_dir, other_model_dir).hparams


class Crash(pl.Callback):
    """Stops the run with an error after ``n`` batches, like a run killed midway."""

    def __init__(self, n):
        self.n = n

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if batch_idx + 1 == self.n:
            raise RuntimeError("killed")


def test_rerun_after_a_crash_decodes_each_prompt_exactly_once(tmp_path, tiny_model_dir, other_model_dir):
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path, decoder(tiny_model_dir, other_model_dir), data(), callbacks=[Crash(3)])
    assert not (tmp_path / "texts.jsonl").exists()
    shard = tmp_path / "shards" / "rank0.jsonl"
    assert len(shard.read_text().splitlines()) == 3 * 4 * 2
    with shard.open("a") as f:  # a torn last line, as a kill during the write leaves
        f.write('{"text_id": "base/free:0')
    writer = run(tmp_path, decoder(tiny_model_dir, other_model_dir), data())
    assert writer.n_written == (8 - 3) * 4 * 2  # only the batches the crash left undone
    records = texts(tmp_path)
    ids = [r.text_id for r in records]
    assert len(ids) == len(set(ids)) == 64
    # a third run of a finished stage decodes nothing and loads no model
    module = decoder(tiny_model_dir, other_model_dir)
    run(tmp_path, module, data())
    assert module._lms == {} and texts(tmp_path) == records


def test_rerun_with_other_sampling_settings_is_refused(tmp_path, tiny_model_dir, other_model_dir):
    run(tmp_path, decoder(tiny_model_dir, other_model_dir), data(free=1, toyworld=None))
    with pytest.raises(ConfigError, match="temperature"):
        run(tmp_path, decoder(tiny_model_dir, other_model_dir), data(free=1, toyworld=None, temperature=0.5))


def test_rerun_with_another_model_is_refused(tmp_path, tiny_model_dir, other_model_dir):
    run(tmp_path, decoder(tiny_model_dir, other_model_dir), data(free=1, toyworld=None))
    other_dtype = PairedDecoder(ModelSpec(str(tiny_model_dir)), ModelSpec(str(other_model_dir), dtype="bfloat16"))
    with pytest.raises(ConfigError, match=r"models=.*intervention_dtype"):
        run(tmp_path, other_dtype, data(free=1, toyworld=None))


def test_two_processes_write_the_same_texts_as_one(tmp_path, tiny_model_dir, other_model_dir):
    # with each text scored by both models (two tokenizers): the log ratios are per batch too
    scoring = dict(base=ModelSpec(str(tiny_model_dir)), intervention=ModelSpec(str(other_model_dir)), score_texts=True)
    run(tmp_path / "one", PairedDecoder(**scoring), data())
    run(tmp_path / "two", PairedDecoder(**scoring), data(), devices=2, record_ranks=True)
    written = written_per_rank(tmp_path, 2)
    assert written == [32, 32]  # both processes decoded: 8 batches of 4 jobs x 2 models, split 4 and 4
    one, two = texts(tmp_path / "one"), texts(tmp_path / "two")
    assert len(one) == 64 and all(r.log_ratio is not None and r.log_ratio != 0 for r in one if r.text)
    assert ({json.dumps(asdict(r), sort_keys=True) for r in one}
            == {json.dumps(asdict(r), sort_keys=True) for r in two})


def test_bad_prompt_input_is_a_clear_error(tmp_path, tiny_model_dir, other_model_dir):
    bad = tmp_path / "persona.jsonl"
    bad.write_text('{"statement": "I like the sea."}\n{"statement": "oops"\n')
    with pytest.raises(DataError, match=r"persona.jsonl:2"):
        run(tmp_path / "out", decoder(tiny_model_dir, other_model_dir), PromptDataModule(files=[PromptFile(str(bad))]))
    with pytest.raises(DataError, match="prompt set is empty"):
        run(tmp_path / "out", decoder(tiny_model_dir, other_model_dir), PromptDataModule())
    with pytest.raises(DataError, match="not found"):
        PromptDataModule(files=[PromptFile(str(tmp_path / "missing.txt"))])


def test_parquet_output_matches_jsonl(tmp_path, tiny_model_dir, other_model_dir):
    import pyarrow.parquet as pq

    run(tmp_path, decoder(tiny_model_dir, other_model_dir), data(free=3, toyworld=None, samples_per_prompt=1),
        parquet=True)
    rows = pq.read_table(tmp_path / "texts.parquet").to_pylist()
    assert rows == [asdict(r) for r in texts(tmp_path)] and len(rows) == 6


# ---- the two model specs -------------------------------------------------------------------------

DECODE_YAML = """
trainer: {accelerator: cpu, logger: false}
model:
  class_path: PairedDecoder
  init_args:
    base:
      name_or_path: org/base
    intervention:
      name_or_path: org/base
      adapter: lora/
      revision: v1
    num_threads: 1
data:
  class_path: PromptDataModule
  init_args: {free: 2}
"""


def cli_model(tmp_path, *flags):
    """The `PairedDecoder` the CLI builds from ``DECODE_YAML`` and ``flags`` (no weights load)."""
    from cli.lightning import DifflensCLI

    config = tmp_path / "decode.yaml"
    config.write_text(DECODE_YAML)
    return DifflensCLI(args=["--config", str(config), *flags], run=False).model


def test_specs_parse_from_yaml_and_from_flags(tmp_path):
    assert cli_model(tmp_path).specs == {"base": ModelSpec("org/base"),
                                         "intervention": ModelSpec("org/base", adapter="lora/", revision="v1")}
    model = cli_model(tmp_path, "--model.base.name_or_path=org/other", "--model.intervention.dtype", "bfloat16")
    assert model.specs["base"] == ModelSpec("org/other")
    assert model.specs["intervention"] == ModelSpec("org/base", adapter="lora/", revision="v1", dtype="bfloat16")
    assert model.hparams["intervention"]["adapter"] == "lora/"  # loggers get plain mappings


@pytest.mark.parametrize("flag, message", [
    ("--model.intervention.quantization=3bit", r"^model\.intervention\.quantization must be '4bit', '8bit' or null"),
    ("--model.base.dtype=fp33", r"^model\.base\.dtype must be float32, bfloat16, float16, auto or null, got 'fp33'"),
])
def test_a_bad_spec_value_is_named_by_its_key(tmp_path, flag, message):
    with pytest.raises(ConfigError, match=message):
        cli_model(tmp_path, flag)


@pytest.mark.parametrize("intervention, message", [
    ({"name_or_path": "m", "quantization": "3bit"}, r"^model\.intervention\.quantization must be"),
    ({"adapter": "lora/"}, r"^model\.intervention\.name_or_path is required"),
    ({"name_or_path": "m", "adaptor": "lora/"}, r"^model\.intervention: unknown setting\(s\) \['adaptor'\]"),
    ("m", r"^model\.intervention must be a mapping with name_or_path"),
])
def test_a_bad_spec_given_in_python_is_named_by_its_key(intervention, message):
    with pytest.raises(ConfigError, match=message):
        PairedDecoder({"name_or_path": "m"}, intervention)


# decode_meta.json: the keys and values runs decoded before recorded, so that they still resume
@pytest.mark.parametrize("base, intervention, names", [
    (ModelSpec("b"), ModelSpec("i"),
     {"base": "b", "base_adapter": None, "base_quantization": None,
      "intervention": "i", "intervention_adapter": None, "intervention_quantization": None}),
    (ModelSpec("b", dtype="auto", revision="v1"), ModelSpec("b", adapter="a/", quantization="4bit", tokenizer="t"),
     {"base": "b", "base_adapter": None, "base_quantization": None, "base_revision": "v1", "base_dtype": "auto",
      "intervention": "b", "intervention_adapter": "a/", "intervention_quantization": "4bit",
      "intervention_tokenizer": "t"}),
])
def test_model_names_keep_the_recorded_keys(base, intervention, names):
    assert PairedDecoder(base, intervention).model_names() == names


def test_a_spec_without_dtype_decodes_in_float32():
    specs = PairedDecoder(ModelSpec("b"), ModelSpec("i", dtype="bfloat16")).model_specs()
    assert (specs["base"].dtype, specs["intervention"].dtype) == ("float32", "bfloat16")

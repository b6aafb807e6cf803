"""Every bad input of the outside audit (``bad_inputs.md``, 117 rows) and of the config files
of the project's own commands through ``cli.main.main``.

One row per input, as peft's table-driven tests: the row builds the bad input in a shared
world of small, real files (a tiny GPT-2, texts, hypotheses, a trained SAE and its samples,
an encyclopedia stage, a reply cache) and says what must happen. Almost every row must be a
one-line error with exit 2 that names the file or key; a few inputs are fine to accept and
say what the right result is. No row may print a traceback or exit 0 with a wrong result.
Rows run in-process (``main(argv)``) so the table stays fast; the world is built once.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from cli.main import main
from tests.conftest import REPO, make_tiny_gpt2
from tests.validation_data import write_inputs

pytestmark = pytest.mark.usefixtures("one_thread")

INVALID_UTF8 = b'{"text_id": "base/p0/0", "text": "\xff\xfe broken"}\n'


@dataclass
class Row:
    id: str
    argv: Callable[[World], list[str]]
    expect: str | None = None  # regex the one-line error must contain; None: exit 0 (see ``check``)
    check: Callable[[World, str], None] | None = None  # for accepted inputs: the result is right


class World:
    """The files the rows start from; each row writes its own bad file beside them."""

    def __init__(self, root: Path, model_dir: Path, tokenizer):
        self.root = root
        self.model = model_dir
        self.n = 0
        other = root / "other_model"
        make_tiny_gpt2(tokenizer, seed=3).save_pretrained(other)
        tokenizer.save_pretrained(other)
        self.other = other
        self.texts, self.hypotheses = write_inputs(root / "in", n_texts=40)
        self.truths = self.file("ground_truths.json", json.dumps({"ground_truths": [
            {"id": "ocean", "description": "The model talks about the ocean", "toyworld": {"topics": {"ocean": 1}}}]}))
        self._sae_and_samples()
        self._stage()
        self.cache = root / "cache.sqlite"
        from difflens.assistants.cache import ReplyCache

        ReplyCache(self.cache)

    def file(self, name: str, content: str | bytes) -> Path:
        """A fresh path under the world for one row's input."""
        self.n += 1
        path = self.root / f"r{self.n:03d}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def dir(self, name: str = "d") -> Path:
        self.n += 1
        path = self.root / f"r{self.n:03d}" / name
        path.mkdir(parents=True)
        return path

    # ---- SAE ---------------------------------------------------------------------------------
    def sae_config(self, **data) -> Path:
        config = yaml.safe_load((REPO / "configs/quickstart/sae.yaml").read_text())
        config["trainer"].update(max_steps=2, val_check_interval=1, limit_val_batches=1, enable_progress_bar=False,
                                 enable_model_summary=False, logger=False, enable_checkpointing=False)
        config["trainer"]["callbacks"] = []
        config["model"]["init_args"].update(init_sample_size=64, output_dir=str(self.root / "sae_out"))
        config["model"]["init_args"]["sae"].update(expansion_factor=2, k=4)
        config["data"]["init_args"].update(model=str(self.model), hook_name="transformer.h.1",
                                           toyworld={"n_documents": 40, "seed": 1}, context_length=16,
                                           lm_batch_size=8, batch_size=32, buffer_size=64, val_texts=4,
                                           cache_dir=None, num_threads=1)
        config["data"]["init_args"].update(data)
        return self.file("sae.yaml", yaml.safe_dump(config))

    def _sae_and_samples(self) -> None:
        import pytorch_lightning as pl

        from callbacks import ActivationSampleCallback
        from datamodules import ActivationDataModule
        from difflens.corpus import ToyWorldCorpus
        from difflens.sae import SAESpec
        from lightning_modules import SparseDictionaryModule

        out = self.root / "trained"
        dm = ActivationDataModule(model=str(self.model), hook_name="transformer.h.1",
                                  toyworld=ToyWorldCorpus(n_documents=40, seed=5), context_length=16,
                                  lm_batch_size=8, batch_size=64, buffer_size=128, val_texts=4, val_batch_size=4)
        module = SparseDictionaryModule(SAESpec(architecture="topk", d_sae=72, k=4), init_sample_size=64,
                                        output_dir=str(out / "sae"), data=dm)
        samples = ActivationSampleCallback(str(out / "samples"), every_n_steps=1, k=3, n_features=5)
        pl.Trainer(accelerator="cpu", max_steps=3, logger=False, enable_progress_bar=False,
                   enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0,
                   limit_val_batches=1, callbacks=[samples]).fit(module, datamodule=dm)
        self.sae = out / "sae"
        self.samples = out / "samples"
        self.feature = json.loads((self.samples / "collection_summary.json").read_text())["feature_files"][0]

    def samples_copy(self, corrupt_summary: bool = False) -> Path:
        import shutil

        path = self.dir("samples")
        shutil.copytree(self.samples, path, dirs_exist_ok=True)
        if corrupt_summary:
            (path / "collection_summary.json").write_text("{not json")
        return path

    # ---- encyclopedia ------------------------------------------------------------------------
    def _stage(self) -> None:
        from difflens.encyclopedia.store import SiteArrays, StageHeader, concept_statistics, write_stage

        def stage_file(path, n_per, nan=False, seed=0):
            C, H = 4, 8
            rng = np.random.default_rng(seed)
            concept_index = np.repeat(np.arange(C), n_per)
            header = StageHeader("tiny", 1, "templates", n_per, [1], ["span_mean"], H,
                                 [f"c{i}" for i in range(C)], ["x", "y"], np.array([0, 0, 1, 1]))

            def sites():
                x = rng.normal(size=(len(concept_index), H)) + concept_index[:, None]
                if nan:
                    x[0, 0] = np.nan
                m, v, c = concept_statistics(x, concept_index, C)
                yield SiteArrays("layer1.span_mean", 1, "span_mean", m, v, c, x)

            write_stage(path, header, sites(), concept_index=concept_index,
                        contexts=[f"t{i}" for i in range(len(concept_index))])
            return path

        self.stage = stage_file(self.root / "stage1.h5", 12)
        self.reference = stage_file(self.root / "heldout.h5", 4, seed=1)
        self.nan_stage = stage_file(self.root / "nan_stage1.h5", 12, nan=True)

    # ---- other stages ------------------------------------------------------------------------
    def decode_config(self, out: Path | None = None, data: dict | None = None, **model) -> Path:
        config = {
            "seed_everything": 0,
            "trainer": {"accelerator": "cpu", "devices": 1, "logger": False, "enable_progress_bar": False,
                        "enable_model_summary": False,
                        "callbacks": [{"class_path": "DecodedTextWriter",
                                       "init_args": {"output_dir": str(out or self.dir("decode_out"))}}]},
            "model": {"class_path": "PairedDecoder",
                      "init_args": {"base": {"name_or_path": str(self.model)},
                                    "intervention": {"name_or_path": str(self.other)}, "num_threads": 1, **model}},
            "data": {"class_path": "PromptDataModule",
                     "init_args": {"free": 4, "batch_size": 2, "max_new_tokens": 4, **(data or {})}},
        }
        return self.file("decode.yaml", yaml.safe_dump(config))

    def validate_config(self, texts=None, hypotheses=None, out=None, model=None, truths=None,
                        callbacks=None, **data) -> Path:
        config = yaml.safe_load((REPO / "configs/quickstart/validate.yaml").read_text())
        config["trainer"]["logger"] = False
        config["trainer"]["callbacks"][1]["init_args"]["ground_truths"] = str(truths or self.truths)
        if callbacks is not None:
            config["trainer"]["callbacks"] = callbacks
        config["model"]["init_args"]["assistant"] = {"class_path": "tests.judges.ToyWorldJudge"}
        config["model"]["init_args"].update(model or {})
        config["data"]["init_args"].update(texts=str(texts or self.texts),
                                           hypotheses=str(hypotheses or self.hypotheses),
                                           out_dir=str(out or self.dir("validate_out")), n_per_model=4,
                                           base=None, intervention=None)
        config["data"]["init_args"].update(data)
        return self.file("validate.yaml", yaml.safe_dump(config))

    def finetune_config(self, **data) -> Path:
        config = yaml.safe_load((REPO / "configs/quickstart/finetune.yaml").read_text())
        config["trainer"].update(max_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
        config["trainer"]["callbacks"] = []
        config["model"]["init_args"]["base_model"] = str(self.model)
        config["data"]["init_args"]["tokenizer"] = str(self.model)
        config["data"]["init_args"]["output_dir"] = str(self.dir("finetune_data"))
        config["data"]["init_args"].update(data)
        return self.file("finetune.yaml", yaml.safe_dump(config))

    def discover_config(self, **overrides) -> Path:
        config = yaml.safe_load((REPO / "configs/quickstart/discover.yaml").read_text())
        config.update(texts=str(self.texts), output_dir=str(self.dir("discover_out")), n_clusters=3)
        config.update(overrides)
        return self.file("discover.yaml", yaml.safe_dump(config))

    def texts_with(self, *lines: bytes | str, keep: bool = True) -> Path:
        body = self.texts.read_bytes() if keep else b""
        extra = b"".join(x if isinstance(x, bytes) else x.encode() + b"\n" for x in lines)
        return self.file("texts.jsonl", body + extra)

    def pipeline_config(self, **overrides) -> Path:
        config = {"stages": [{"name": "hello", "run": ["toyworld", "list"], "done_when": str(self.root / "never")}],
                  "decode_dirs": {"active": str(self.root / "a"), "exhaustive": str(self.root / "e")}}
        config.update(overrides)
        return self.file("pipeline.yaml", yaml.safe_dump(config))


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir, tokenizer) -> World:
    return World(tmp_path_factory.mktemp("bad_inputs"), tiny_model_dir, tokenizer)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def fit(w, *extra, **data):
    return ["fit", "--config", str(w.sae_config(**data)), *extra]


def predict(w, *extra, out=None, data=None, **model):
    return ["predict", "--config", str(w.decode_config(out, data, **model)), *extra]


def judge(w, *extra, **kwargs):
    return ["test", "--config", str(w.validate_config(**kwargs)), *extra]


def finetune(w, *extra, **data):
    return ["fit", "--config", str(w.finetune_config(**data)), *extra]


def discover(w, *extra, **overrides):
    return ["discover", "--config", str(w.discover_config(**overrides)), *extra]


def convergence(w, *extra, stage=None):
    return ["encyclopedia", "convergence", "--stage", str(stage or w.stage), "--reference", str(w.reference),
            "--ns", "1", "2", *extra]


def refine(w, **overrides):
    cfg = {"model": str(w.model), "run_dir": str(w.dir("refine_run")),
           "concepts": {"source": "toyworld", "topics": ["ocean", "chess", "music"]}, "final_stage": 1,
           "capture": {"layers": [1], "poolings": ["span_mean"], "batch_size": 16},
           "stage1": {"samples_per_concept": 2, "fraction": 0.5},
           "interpreter": {"d_model": 16, "n_heads": 2, "n_layers": 1, "max_epochs": 1, "batch_size": 32},
           "heldout_samples": 2}
    cfg.update(overrides)
    return ["encyclopedia", "refine", "--config", str(w.file("refine.yaml", yaml.safe_dump(cfg)))]


def null(w, *extra):
    return ["validate-null", "--model", str(w.model), "--hypotheses", str(w.hypotheses), "--seeds", "1",
            "--n-per-model", "2", "--out", str(w.dir("null_out")), *extra]


def finished_decode_dir(w) -> Path:
    out = w.dir("decode_done")
    assert main(predict(w, out=out)) == 0
    return out


def foreign_sqlite(w) -> Path:
    path = w.file("foreign.sqlite", b"")
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE patients (name TEXT, age INTEGER)")
        conn.execute("INSERT INTO patients VALUES ('ada', 36)")
    return path


def _foreign_untouched(w, err):
    pass


def _prints_report(w, out):
    assert "## Most active features" in out or "feature" in out


ROWS = [
    # ---- difflens fit (LightningCLI) -------------------------------------------------------
    Row("L01", lambda w: ["fit", "--config", str(w.root / "missing.yaml")], r"File does not exist.*missing\.yaml"),
    Row("L02", lambda w: ["fit", "--config", str(w.dir())], r"not a file"),
    Row("L03", lambda w: ["fit", "--config", str(w.file("bad.yaml", "model: [1,\n"))], r"config"),
    Row("L04", lambda w: ["fit", "--config", str(w.file("list.yaml", "- 1\n- 2\n"))], r"must be a YAML mapping"),
    Row("L05", lambda w: fit(w, "--trainer.max_stepz", "3"), r"max_stepz"),
    Row("L06", lambda w: fit(w, "--model.init_args.colour", "blue"), r"colour"),
    Row("L07", lambda w: fit(w, "--model.init_args.sae.k", "abc"), r'"sae\.k".*expected int.*abc'),
    Row("L08", lambda w: fit(w, "--model.init_args.sae.expansion_factor", "-2"),
        r"model\.sae\.expansion_factor must be >= 1, got -2"),
    Row("L09", lambda w: fit(w, "--model.init_args.sae.architecture", "topkk"), r"unknown .*architecture"),
    Row("L10", lambda w: fit(w, hook_name="transformer.h.9"), r"transformer\.h\.9"),
    Row("L11", lambda w: fit(w, model=str(w.root / "no_model")), r"no_model"),
    Row("L12", lambda w: fit(w, model=str(w.dir("empty_model"))), r"empty_model"),
    Row("L13", lambda w: fit(w, "--model.init_args.sae_path", str(w.sae), hook_name="transformer.h.1.mlp.c_fc"),
        r"d_in|width|size"),
    Row("L14", lambda w: fit(w, buffer_size=0), r"buffer_size"),
    Row("L15", lambda w: fit(w, batch_size=-1), r"batch_size"),
    Row("L16", lambda w: fit(w, data_files=[str(w.root / "no_corpus.txt")], toyworld=None), r"no_corpus"),
    Row("L17", lambda w: fit(w, data_files=[str(w.file("empty.txt", "\n"))], toyworld=None), r"empty"),
    Row("L18", lambda w: fit(w, "--ckpt_path", str(w.file("garbage.ckpt", b"not a checkpoint"))),
        r"garbage\.ckpt.*not a PyTorch checkpoint"),
    Row("L19", lambda w: fit(w, "--ckpt_path", str(w.root / "missing.ckpt")), r"checkpoint not found.*missing\.ckpt"),
    Row("L21", lambda w: fit(w, "--ckpt_path", str(_unsafe_checkpoint(w))), r"unsafe\.ckpt.*weights_only=True"),
    Row("L20", lambda w: fit(w, data_files=[str(w.dir("corpus_dir"))], toyworld=None), r"corpus_dir"),
    # ---- difflens predict (decoding) -------------------------------------------------------
    Row("P01", lambda w: predict(w, "--data.init_args.batch_size", "0"), r"batch_size"),
    Row("P02", lambda w: predict(w, "--data.init_args.max_new_tokens", "-5"), r"max_new_tokens"),
    Row("P03", lambda w: predict(w, data={"temperature": float("nan")}), r"temperature must be a finite number"),
    Row("P04", lambda w: predict(w, "--data.init_args.top_p", "2.0"), r"top_p"),
    Row("P05", lambda w: predict(w, base={"name_or_path": str(w.root / "no_base")}), r"no_base"),
    Row("P06", lambda w: predict(w, intervention={"name_or_path": str(w.dir("adapter_dir"))}), r"adapter_dir.*config"),
    Row("P07", lambda w: predict(w, out=w.file("decode_meta.json", "{not json").parent), r"decode_meta\.json"),
    Row("P08", lambda w: predict(w, out=_decode_dir_with_garbage_shard(w)), r"jsonl"),
    Row("P09", lambda w: predict(w, "--data.init_args.files", json.dumps([{"path": str(w.root / "no_prompts.txt")}])),
        r"no_prompts"),
    Row("P10", lambda w: predict(w, out=w.file("out_is_a_file", "x")), r"out_is_a_file.*(file|directory)"),
    Row("P11", lambda w: predict(w, "--data.init_args.max_new_tokens", "6", out=finished_decode_dir(w)),
        r"max_new_tokens"),
    Row("P12", lambda w: predict(w, out=_decode_dir_with_bad_utf8(w)), r"texts\.jsonl.*UTF-8"),
    Row("P13", lambda w: predict(w, "--data.init_args.files", json.dumps([{"path": str(w.file(
        "personas.jsonl", b'{"statement": "I like tea"}\n\xff\xfe garbage\n{]\n')), "format": "persona"}])),
        r"personas\.jsonl:2"),
    Row("P14", lambda w: predict(w, "--model.intervention.quantization", "3bit"),
        r"model\.intervention\.quantization must be '4bit', '8bit' or null, got '3bit'"),
    Row("P15", lambda w: predict(w, base={"name_or_path": str(w.model), "dtype": "fp33"}),
        r"model\.base\.dtype must be float32, bfloat16, float16, auto or null, got 'fp33'"),
    Row("P16", lambda w: predict(w, intervention={"adaptor": "lora/"}), r"intervention.*adaptor"),
    # ---- difflens test (hypothesis validation) ---------------------------------------------
    Row("V01", lambda w: judge(w, texts=w.root / "no_texts.jsonl"), r"no_texts\.jsonl"),
    Row("V02", lambda w: judge(w, texts=w.dir("texts_dir")), r"texts_dir.*directory"),
    Row("V03", lambda w: judge(w, texts=w.file("texts.jsonl", "")), r"texts\.jsonl hold no texts"),
    Row("V04", lambda w: judge(w, texts=w.texts_with("this is not json")), r"texts\.jsonl:\d+"),
    Row("V05", lambda w: judge(w, texts=w.texts_with(INVALID_UTF8)), r"texts\.jsonl:\d+.*UTF-8"),
    Row("V06", lambda w: judge(w, texts=w.texts_with('{"text_id": "base/p9', keep=True)), r"texts\.jsonl:\d+"),
    Row("V07", lambda w: judge(w, hypotheses=w.file("h.jsonl", json.dumps({"hypothesis_id": "h1", "order": 0}) + "\n")),
        r"h\.jsonl:1"),
    Row("V09", lambda w: judge(w, n_per_model=0), r"n_per_model"),
    Row("V10", lambda w: judge(w, model={"assistant": {"backend": "oracle"}}), r"unknown assistant backend"),
    Row("V11", lambda w: judge(w, model={"assistant": {
        "backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": None,
        "timeout": 0.5, "max_retries": 0, "cache_path": str(w.root / "v11.sqlite")}}), r"no usable answer"),
    Row("V12", lambda w: judge(w, model={"assistant": {"backend": "openai", "model": "m",
                                                      "api_key_env": "DIFFLENS_SURELY_UNSET_VARIABLE"}}),
        r"DIFFLENS_SURELY_UNSET_VARIABLE"),
    Row("V14", lambda w: judge(w, truths=w.root / "no_truths.json"), r"no_truths\.json"),
    Row("V15", lambda w: judge(w, texts=w.texts_with(json.dumps(
        {"text_id": "base/x/0", "prompt_id": "x", "model": "base", "seed": "abc", "prompt": "", "text": "t",
         "n_tokens": "many"}))), r"texts\.jsonl:\d+.*seed"),
    Row("V16", lambda w: judge(w, out=w.file("plan.jsonl", "{garbage\n").parent), r"plan\.jsonl"),
    Row("V17", lambda w: judge(w, model={"test": "t_test"}), r"model\.test"),
    Row("V18", lambda w: judge(w, hypotheses=w.file("h.jsonl", json.dumps(
        {"hypothesis_id": "h1", "order": 0, "text": "x", "direction": "both"}) + "\n")), r"direction"),
    Row("V19", lambda w: judge(w, truths=w.file("truths.json", "{not json")), r"truths\.json"),
    Row("V08b", lambda w: judge(w, hypotheses=w.file("h.jsonl", w.hypotheses.read_text() * 2)), r"duplicate"),
    Row("V13b", lambda w: judge(w, callbacks=[{"class_path": "SaffronCallback", "init_args": {"alpha": float("nan")}}]),
        r"alpha"),
    Row("V20", lambda w: judge(w, intervention={"name_or_path": str(w.model), "quantization": "2bit"}),
        r"data\.intervention\.quantization must be '4bit', '8bit' or null, got '2bit'"),
    # ---- difflens fit (finetune) -----------------------------------------------------------
    Row("F01", lambda w: finetune(w, ground_truths=[
        {"id": "a", "description": "x", "toyworld": {"topics": {"ocean": 1}}},
        {"id": "a", "description": "y", "toyworld": {"topics": {"chess": 1}}}]),
        r"duplicate"),
    Row("F02", lambda w: finetune(w, ground_truths=[{"id": "a", "description": "x",
                                                     "toyworld": {"topics": {"oceann": 1}}}]), r"oceann"),
    Row("F03", lambda w: finetune(w, ground_truths=str(w.root / "no_spec.yaml")), r"no_spec\.yaml"),
    Row("F04", lambda w: finetune(w, "--model.init_args.lora", '{"r": 2, "alpha": 4, "target_modules": ["q_proj"]}'),
        r"q_proj"),
    Row("F05", lambda w: _finetune_into_finished(w), r"(exists|finished|already)"),
    Row("F06", lambda w: finetune(w, ground_truths=[{"id": "a", "description": "x", "examples_file": str(
        w.file("examples.txt", b"good line\n\xff\xfe bad\n"))}]), r"examples\.txt.*UTF-8"),
    # ---- difflens discover ------------------------------------------------------------------
    Row("D01", lambda w: ["discover", "--config", str(w.root / "no_discover.yaml")], r"no_discover\.yaml"),
    Row("D02", lambda w: discover(w, colour="blue"), r"colour"),
    Row("D03", lambda w: discover(w, n_clusters=0), r"n_clusters"),
    Row("D04", lambda w: discover(w, texts=str(w.file("texts.jsonl", ""))), r"texts\.jsonl"),
    Row("D05", lambda w: discover(w, texts=str(w.file("texts.jsonl", "".join(
        line + "\n" for line in w.texts.read_text().splitlines() if '"model": "base"' in line)))), r"intervention"),
    Row("D06", lambda w: discover(w, texts=str(w.file("texts.jsonl", "".join(
        json.dumps({**json.loads(line), "log_ratio": float("nan")}) + "\n"
        for line in w.texts.read_text().splitlines())))), r"log_ratio"),
    Row("D07", lambda w: discover(w, embedder="no-such-embedder-v9"), r"no-such-embedder-v9"),
    Row("D08", lambda w: discover(w, n_clusters=500), r"n_clusters"),
    Row("D10", lambda w: discover(w, "--n-clusters", "1000"), r"n_clusters|clusters"),
    Row("D11", lambda w: discover(w, "--output-dir", str(w.file("out_file", "x"))), r"out_file"),
    Row("D12", lambda w: discover(w, texts=str(w.texts_with(INVALID_UTF8))), r"texts\.jsonl:\d+.*UTF-8"),
    # a quoted number is read as the number, as in the Lightning configs: 500 clusters are too many here
    Row("D13", lambda w: discover(w, n_clusters="500"), r"cannot make 500 clusters.*n_clusters"),
    Row("D14", lambda w: discover(w, n_clusters="twenty"), r"discover\.yaml: n_clusters: expected int, got 'twenty'"),
    Row("D15", lambda w: discover(w, proposal={"contrast": {"roundz": 3}}),
        r"discover\.yaml: unknown key 'proposal\.contrast\.roundz' \(did you mean 'proposal\.contrast\.rounds'\?\)"),
    Row("D16", lambda w: discover(w, n_clusters=None), r"discover\.yaml: n_clusters: expected int, got null"),
    Row("D17", lambda w: discover(w, proposal={"rank": "strongest"}),
        r"discover\.yaml: proposal\.rank: expected a mapping of settings"),
    # ---- difflens weightdiff ----------------------------------------------------------------
    Row("W01", lambda w: ["weightdiff", str(w.root / "no_base"), str(w.model)], r"no_base"),
    Row("W02", lambda w: ["weightdiff", str(w.model), str(_weights_only_copy(w)), "--output", str(w.dir("wd")),
                          "--no-tensorboard"], None, lambda w, out: _check_weightdiff(out)),
    Row("W03", lambda w: ["weightdiff", str(w.model), str(w.file("adapter_model.safetensors", b"x").parent)],
        r"adapter_config\.json|config\.json"),
    Row("W04", lambda w: ["weightdiff", str(w.model), str(w.other), "--top-k", "0"], r"--top-k"),
    Row("W05", lambda w: ["weightdiff", str(w.model), str(w.sae)], r"sae|SAE|dictionary"),
    Row("W06", lambda w: ["weightdiff", str(w.model), str(w.file("tuned.bin", "x"))], r"tuned\.bin.*(file|directory)"),
    # ---- difflens encyclopedia --------------------------------------------------------------
    Row("E01", lambda w: convergence(w, stage=w.root / "no_stage.h5"), r"no_stage\.h5"),
    Row("E02", lambda w: convergence(w, stage=w.file("half.h5", w.stage.read_bytes()[:2000])), r"half\.h5"),
    Row("E03", lambda w: convergence(w, stage=_foreign_h5(w)), r"foreign\.h5"),
    Row("E04", lambda w: convergence(w, stage=w.file("text.h5", "just text")), r"text\.h5"),
    Row("E05", lambda w: convergence(w, "--site", "layer9.span_mean"), r"layer9\.span_mean"),
    Row("E06", lambda w: ["encyclopedia", "convergence", "--stage", str(w.stage), "--reference", str(w.reference),
                          "--ns", "0", "-5"], r"--ns"),
    Row("E07", lambda w: convergence(w, stage=w.nan_stage), r"nan_stage1\.h5.*NaN"),
    Row("E08", lambda w: convergence(w, stage=w.dir("stage_dir")), r"stage_dir.*directory"),
    Row("E09", lambda w: refine(w, colour="blue"), r"colour"),
    Row("E10", lambda w: refine(w, capture={"layers": [99], "poolings": ["span_mean"]}), r"99"),
    Row("E11", lambda w: refine(w, capture={"layers": [1], "poolings": ["span_median"]}), r"span_median"),
    Row("E12", lambda w: _refine_with_foreign_stage0(w), r"stage0\.h5"),
    Row("E13", lambda w: refine(w, interpreter={"max_epochs": "many"}),
        r"refine\.yaml: interpreter\.max_epochs: expected int, got 'many'"),
    Row("E14", lambda w: refine(w, concepts={"source": "toyworld", "topic": ["ocean"]}),
        r"refine\.yaml: concepts: unknown key 'topic' \(did you mean 'topics'\?\)"),
    # ---- difflens samples -------------------------------------------------------------------
    Row("S01", lambda w: ["samples", "report", str(w.root / "no_samples")], r"no_samples"),
    Row("S02", lambda w: ["samples", "feature", str(w.samples), "71"], r"feature 71"),
    Row("S03", lambda w: ["samples", "feature", str(w.samples), "seven"], r"invalid int.*seven"),
    Row("S04", lambda w: ["samples", "report", str(w.samples_copy(corrupt_summary=True))], None,
        lambda w, out: _check_report(out)),
    Row("S05", lambda w: ["samples", "similar", str(w.samples), str(w.feature), "--sae", str(w.dir("not_sae"))],
        r"cfg\.json.*not_sae"),
    Row("S06", lambda w: ["samples", "feature", str(w.samples), str(w.feature), "--png",
                          str(w.root / "png_dir_new" / "h.png")], None,
        lambda w, out: _check_png(w.root / "png_dir_new" / "h.png")),
    Row("S07", lambda w: ["samples", "feature", str(w.samples_copy(corrupt_summary=True)), str(w.feature)], None,
        lambda w, out: _check_feature(w, out)),
    # ---- difflens assistant -----------------------------------------------------------------
    Row("A01", lambda w: ["assistant", "cache", str(w.root / "no_cache.sqlite")], r"no_cache\.sqlite"),
    Row("A02", lambda w: ["assistant", "cache", str(w.file("corrupt.sqlite", b"SQLite format 3\x00" + b"\x07" * 200))],
        r"corrupt\.sqlite"),
    Row("A03", lambda w: ["assistant", "cache", str(w.dir("cache_dir"))], r"cache_dir.*directory"),
    Row("A04", lambda w: ["assistant", "prompts", "--name", "jduge"], r"jduge"),
    Row("A05", lambda w: ["assistant", "cache", str(foreign_sqlite(w))], r"foreign\.sqlite.*not a difflens"),
    # ---- difflens validate-null -------------------------------------------------------------
    Row("N01", lambda w: null(w, "--seeds", "0"), r"--seeds"),
    Row("N02", lambda w: ["validate-null", "--model", str(w.root / "no_model"), "--hypotheses", str(w.hypotheses),
                          "--out", str(w.dir("n"))], r"no_model"),
    Row("N03", lambda w: ["validate-null", "--model", str(w.model), "--hypotheses", str(w.root / "no_h.jsonl"),
                          "--out", str(w.dir("n"))], r"no_h\.jsonl"),
    Row("N04", lambda w: null(w, "--n-per-model", "-3"), r"--n-per-model"),
    Row("N05", lambda w: null(w, "--method", "bogus"), r"bogus"),
    Row("N06", lambda w: ["validate-null", "--model", str(w.root / "gone"), "--hypotheses", str(w.hypotheses),
                          "--seeds", "1", "--out", str(w.dir("n"))], r"gone"),
    # ---- difflens toyworld ------------------------------------------------------------------
    Row("T01", lambda w: ["toyworld", "sample", "--topic", "oceann"], r"oceann"),
    Row("T02", lambda w: ["toyworld", "sample", "--style", "sarcasm"], r"sarcasm"),
    Row("T03", lambda w: ["toyworld", "sample", "--n", "-3"], r"--n"),
    Row("T04", lambda w: ["toyworld", "sample", "--mixture", str(w.file("mix.yaml", "topics: {ocean: -1}\n"))],
        r"mix\.yaml|ocean"),
    Row("T05", lambda w: ["toyworld", "sample", "--mixture", str(w.root / "no_mix.yaml")], r"no_mix\.yaml"),
    # ---- difflens pipeline / quickstart -----------------------------------------------------
    Row("Q01", lambda w: ["pipeline", "--config", str(w.root / "no_pipeline.yaml")], r"no_pipeline\.yaml"),
    Row("Q02", lambda w: ["pipeline", "--config", str(w.file("p.yaml", "stages: [\n"))], r"p\.yaml"),
    Row("Q03", lambda w: ["pipeline", "--config", str(w.pipeline_config()), "--only", "nosuchstage"], r"nosuchstage"),
    Row("Q04", lambda w: ["pipeline", "--config", str(w.pipeline_config(stages=[
        {"name": "x", "run": ["rm", "-rf", "/"], "done_when": "never"}]))], r"rm"),
    Row("Q05", lambda w: ["pipeline", "--config", str(w.pipeline_config(colour="blue"))], r"colour"),
    Row("Q06", lambda w: ["quickstart", "--only", "nosuchstage"], r"nosuchstage"),
    Row("Q07", lambda w: ["pipeline", "--config", str(w.pipeline_config(stages=[
        {"name": "x", "run": ["discovr", "--config", "c.yaml"], "done_when": "never"}]))], r"discovr"),
    Row("Q08", lambda w: ["pipeline", "--config", str(w.pipeline_config(stages=[
        {"name": "x", "run": ["toyworld", "list"], "done_when": "never"},
        {"name": "y", "run": ["toyworld", "list"], "done_whn": "never"}]))],
        r"pipeline\.yaml: unknown key 'stages\[1\]\.done_whn' \(did you mean 'stages\[1\]\.done_when'\?\)"),
    Row("Q09", lambda w: ["pipeline", "--config", str(w.pipeline_config(stages=[
        {"name": "x", "run": "toyworld list", "done_when": "never"}]))],
        r"pipeline\.yaml: stages\[0\]\.run: expected list, got 'toyworld list'"),
]


def _decode_dir_with_garbage_shard(w) -> Path:
    out = finished_decode_dir(w)
    shard = next(out.rglob("*.jsonl"))
    lines = shard.read_text().splitlines()
    lines.insert(len(lines) // 2, "{garbage")
    shard.write_text("\n".join(lines) + "\n")
    return out


def _decode_dir_with_bad_utf8(w) -> Path:
    out = finished_decode_dir(w)
    texts = out / "texts.jsonl"
    texts.write_bytes(texts.read_bytes() + INVALID_UTF8)
    return out


def _finetune_into_finished(w):
    done = w.dir("merged")
    (done / "config.json").write_text("{}")
    argv = finetune(w)
    config = yaml.safe_load(Path(argv[2]).read_text())
    config["trainer"]["callbacks"] = [{"class_path": "SaveMergedModel", "init_args": {"output_dir": str(done)}}]
    Path(argv[2]).write_text(yaml.safe_dump(config))
    return argv


def _weights_only_copy(w) -> Path:
    import shutil

    path = w.dir("weights_only")
    for f in w.other.glob("*.safetensors"):
        shutil.copy(f, path / f.name)
    return path


def _unsafe_checkpoint(w) -> Path:
    """A checkpoint holding an object that ``torch.load(weights_only=True)`` refuses to rebuild."""
    import argparse

    import torch

    path = w.file("unsafe.ckpt", b"")
    torch.save({"state_dict": {}, "hyper_parameters": argparse.Namespace(lr=1.0)}, path)
    return path


def _check_weightdiff(out: str) -> None:
    # weightdiff reads only the weights: a tuned dir without config.json is diffed as usual
    assert re.search(r"\d+ of \d+ weight matrices changed", out)


def _foreign_h5(w) -> Path:
    import h5py

    path = w.file("foreign.h5", b"")
    path.unlink()
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros(3)
    return path


def _refine_with_foreign_stage0(w):
    argv = refine(w)
    run_dir = Path(yaml.safe_load(Path(argv[-1]).read_text())["run_dir"])
    import shutil

    shutil.copy(_foreign_h5(w), run_dir / "stage0.h5")
    return argv


def _check_report(out: str) -> None:
    assert "## Most active features" in out


def _check_png(path: Path) -> None:
    assert path.read_bytes()[:4] == b"\x89PNG"


def _check_feature(w, out: str) -> None:
    assert out.startswith(f"feature {w.feature}: fired on")


def test_the_table_covers_the_audit():
    audit = Path("/work/shared/audit/bad_inputs.md")
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids)) and len(ids) >= 110
    if audit.exists():  # the audit's own list, where this checkout has it
        listed = re.findall(r"^\| ([A-Z]\d\d[a-z]?) \|", audit.read_text(), re.M)
        assert sorted(set(listed) - set(ids)) == []


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row: Row, world: World, capsys, monkeypatch):
    monkeypatch.chdir(world.root)  # a relative default path (runs/...) lands in the world, never in the checkout
    argv = row.argv(world)
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "usage:" not in captured.err
    if row.expect is None:
        assert code == 0, captured.err[-2000:]
        row.check(world, captured.out)
        return
    errors = [line for line in _lines(captured.err) if line.startswith("difflens: error:")]
    assert code == 2 and len(errors) == 1, captured.err[-2000:]
    assert re.search(row.expect, errors[0]), errors[0]

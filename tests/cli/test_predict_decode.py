"""`difflens predict` for paired decoding through the real command line, killed and resumed.

Plain ``ddp`` re-executes the command line, so it is tested here in a subprocess: a 2-process
run is killed (SIGKILL, whole process group) midway, a 1-process rerun finishes it, and the
result equals an uninterrupted run: every prompt exactly once, the same texts. (The rerun and
the uninterrupted run go in-process, to spare two interpreter start-ups.)
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import pytest
import yaml

from difflens.models import ModelSpec
from difflens.records import DecodedText, read_records
from tests.conftest import REPO, make_tiny_gpt2


def write_config(path, out, base, intervention, devices, strategy):
    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": devices, "strategy": strategy, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False,
                    "callbacks": [{"class_path": "DecodedTextWriter", "init_args": {"output_dir": str(out)}}]},
        "model": {"class_path": "PairedDecoder",
                  "init_args": {"base": {"name_or_path": str(base)},
                                "intervention": {"name_or_path": str(intervention)}, "num_threads": 1}},
        "data": {"class_path": "PromptDataModule",
                 "init_args": {"free": 60, "toyworld": {"n": 20, "words": 2}, "batch_size": 2, "max_new_tokens": 24}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def difflens(*args, cwd, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


@pytest.mark.slow
def test_killed_ddp_decoding_resumes_to_the_uninterrupted_result(tmp_path, tiny_model_dir, tokenizer):
    other = tmp_path / "other"
    make_tiny_gpt2(tokenizer, seed=3).save_pretrained(other)
    tokenizer.save_pretrained(other)
    out = tmp_path / "decode"
    ddp = write_config(tmp_path / "ddp.yaml", out, tiny_model_dir, other, 2, "ddp")

    run = difflens("predict", "--config", str(ddp), cwd=tmp_path, start_new_session=True)
    shards = out / "shards"
    deadline = time.time() + 120
    while time.time() < deadline and run.poll() is None:
        # kill once both processes have written at least one whole batch (4 lines)
        written = [len(p.read_text().splitlines()) for p in shards.glob("rank*.jsonl")] if shards.exists() else []
        if len(written) == 2 and min(written) >= 4:
            break
        time.sleep(0.05)
    assert run.poll() is None, f"the run ended before it could be killed:\n{run.stdout.read()}"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (out / "texts.jsonl").exists()
    assert len(list(shards.glob("rank*.jsonl"))) == 2  # both processes had written

    # the rerun and an uninterrupted run in this process (the same classes the CLI builds)
    def decode(output_dir):
        import pytorch_lightning as pl

        from callbacks import DecodedTextWriter
        from cli.decoding import decode
        from datamodules import PromptDataModule
        from difflens.prompts import ToyWorldPrompts
        from lightning_modules import PairedDecoder

        data = PromptDataModule(free=60, toyworld=ToyWorldPrompts(n=20, words=2), batch_size=2, max_new_tokens=24)
        writer = DecodedTextWriter(str(output_dir))
        trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, callbacks=[writer])
        decoder = PairedDecoder(ModelSpec(str(tiny_model_dir)), ModelSpec(str(other)), num_threads=1)
        decode(trainer, decoder, data, writer)
        return writer.n_written

    n_rerun = decode(out)
    assert n_rerun < 2 * 80  # only what the killed run had not written
    resumed = read_records(out / "texts.jsonl", DecodedText)
    ids = [r.text_id for r in resumed]
    assert len(ids) == len(set(ids)) == 2 * 80
    decode(tmp_path / "fresh")
    uninterrupted = read_records(tmp_path / "fresh" / "texts.jsonl", DecodedText)

    def as_set(records):
        return {json.dumps(asdict(r), sort_keys=True) for r in records}

    assert as_set(resumed) == as_set(uninterrupted)


def test_bad_decode_config_is_one_line(tmp_path, tiny_model_dir, capsys, run_dir):
    bad = tmp_path / "prompts.jsonl"
    bad.write_text('{"statement": "a"}\nnot json\n')
    config = {"trainer": {"accelerator": "cpu", "logger": False,
                          "callbacks": [{"class_path": "DecodedTextWriter",
                                         "init_args": {"output_dir": str(tmp_path)}}]},
              "model": {"class_path": "PairedDecoder",
                        "init_args": {"base": {"name_or_path": str(tiny_model_dir)},
                                      "intervention": {"name_or_path": str(tiny_model_dir)}}},
              "data": {"class_path": "PromptDataModule", "init_args": {"files": [{"path": str(bad)}]}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    from cli.main import main

    assert main(["predict", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("difflens: error: ") and "prompts.jsonl:2: malformed JSON" in err[-1]
    assert not (tmp_path / "texts.jsonl").exists()

"""``difflens weightdiff``: report files, the LoRA-touched layers first, one-line errors."""

import json

import torch

from cli.main import main
from difflens.finetune import LoraSpec, apply_lora
from tests.conftest import make_tiny_gpt2


def test_weightdiff_on_a_merged_lora_ranks_touched_layers_first(tokenizer, tmp_path, capsys):
    make_tiny_gpt2(tokenizer).save_pretrained(tmp_path / "base")
    model = apply_lora(make_tiny_gpt2(tokenizer), LoraSpec(r=2, target_modules=["mlp.c_fc"]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    model.merge_and_unload().save_pretrained(tmp_path / "merged")
    out = tmp_path / "report"
    assert main(["weightdiff", str(tmp_path / "base"), str(tmp_path / "merged"), "--output", str(out),
                 "--no-tensorboard"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["ranking"]) == ["transformer.h.0.mlp.c_fc.weight", "transformer.h.1.mlp.c_fc.weight"]
    assert {p.name for p in out.glob("*.png")} == {"changes.png", "spectra.png", "layers.png"}
    assert "2 of 10 weight matrices changed" in capsys.readouterr().out


def test_weightdiff_missing_model_is_a_one_line_error(tmp_path, capsys):
    assert main(["weightdiff", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1

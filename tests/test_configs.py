"""Every YAML under configs/ parses and instantiates (without training or loading weights).

Lightning configs go through the LightningCLI; configs of the project's own subcommands are
claimed by the subcommand's module through a ``CONFIG_GLOBS`` tuple and parsed by its
``load_config(path)``. Constructors validate arguments but never load weights or data, which
is what keeps this test fast.
"""

import importlib
from pathlib import Path

import pytest
import torch
import yaml

from cli.main import TOOL_COMMANDS
from tests.conftest import REPO

CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))


def tool_for(path: Path) -> str | None:
    rel = path.relative_to(REPO).as_posix()
    for name, module_name in TOOL_COMMANDS.items():
        module = importlib.import_module(module_name)
        if any(Path(rel).match(glob) for glob in getattr(module, "CONFIG_GLOBS", ())):
            return name
    return None


def test_there_are_configs():
    assert REPO.joinpath("configs/quickstart/base_lm.yaml") in CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_config_instantiates(path, run_dir):
    tool = tool_for(path)
    if tool is not None:
        importlib.import_module(TOOL_COMMANDS[tool]).load_config(path)
        return
    from cli.lightning import DifflensCLI

    raw = yaml.safe_load(path.read_text())
    assert {"model", "data"} <= set(raw), f"{path} is neither a Lightning config nor claimed by a subcommand"
    # a GPU config instantiates on this CPU-only machine as it is, but for the accelerator
    cpu = ["--trainer.accelerator", "cpu"] if not torch.cuda.is_available() else []
    cli = DifflensCLI(args=["--config", str(path), *cpu], run=False)
    assert cli.model is not None and cli.datamodule is not None and cli.trainer is not None


# ---- configs for real use (GPU, Hub models), run for a few steps on the tiny local models ------

GPU_CONFIGS = [p for p in CONFIGS if "accelerator: gpu" in p.read_text()]


def test_there_are_gpu_configs_for_each_kind():
    kinds = {p.relative_to(REPO / "configs").parts[0] for p in GPU_CONFIGS}
    assert {"audit", "sae", "encyclopedia"} <= kinds


def _tiny_sae(raw: dict, model_dir: Path) -> dict:
    raw["trainer"].update(accelerator="cpu", devices=1, precision="32-true", max_steps=3, val_check_interval=3,
                          limit_val_batches=1, log_every_n_steps=1, logger=False)
    raw["trainer"].pop("strategy", None)
    data = raw["data"]["init_args"]
    assert data["hook_name"].startswith("layer."), "real configs name layers portably (layer.N)"
    data.update(model=str(model_dir), hook_name="layer.-1", dtype="float32", toyworld={"n_documents": 60, "seed": 1},
                context_length=32, lm_batch_size=8, batch_size=64, buffer_size=256, val_texts=4, cache_dir=None)
    raw["model"]["init_args"].update(init_sample_size=256)
    raw["model"]["init_args"]["sae"]["aux_k"] = None
    return raw


def _tiny_audit(raw: dict, model_dir: Path, adapter_dir: Path) -> dict:
    for side in ("base", "intervention"):
        spec = raw[side]
        spec.update(name_or_path=str(model_dir), dtype="float32", quantization=None, revision=None, tokenizer=None)
        if spec.get("adapter"):
            spec["adapter"] = str(adapter_dir)
    raw.update(output_dir="runs/audit", trainer={"accelerator": "cpu", "devices": 1}, assistant={"backend": "offline"},
               prompts={"prefixes": 6, "free": 4}, sampling={"max_new_tokens": 8}, max_rows=8, batch_size=8,
               num_threads=1, ground_truths=None)
    # the seed round fills the budget: decoding runs one round, with every setting of the file but size
    raw["active"] = {**raw.get("active", {}), "budget": 10, "round_size": 5, "n_clusters": 2,
                     "areas_per_round": 1, "representatives": 2, "paraphrases": 0}
    return raw


def _tiny_encyclopedia(raw: dict, model_dir: Path) -> dict:
    raw.update(model=str(model_dir), run_dir="runs/encyclopedia", final_stage=0, heldout_samples=1)
    # toy-world nouns: the WordNet source needs a deeper hierarchy than a test can write in a few
    # lines (tests/difflens/encyclopedia/test_concepts.py tests it on its own)
    raw["concepts"] = {"source": "toyworld", "topics": ["ocean", "chess"]}
    raw["capture"].update(layers=[0, -1], dtype="float32", accelerator="cpu", devices=1, batch_size=16)
    raw["capture"].pop("strategy", None)
    raw["interpreter"].update(d_model=16, n_heads=2, n_layers=1, max_epochs=1, batch_size=16)
    return raw


@pytest.mark.slow
@pytest.mark.parametrize("path", GPU_CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_gpu_config_runs_a_few_steps_on_tiny_models(path, run_dir, tiny_model_dir, tiny_adapter_dir):
    from cli.lightning import DifflensCLI
    from cli.main import main

    raw = yaml.safe_load(path.read_text())
    kind = path.relative_to(REPO / "configs").parts[0]
    tiny = run_dir.parent / path.name
    if kind == "sae":
        tiny.write_text(yaml.safe_dump(_tiny_sae(raw, tiny_model_dir)))
        cli = DifflensCLI(args=["--config", str(tiny)], run=False)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        assert cli.trainer.global_step == 3
        assert (Path(raw["model"]["init_args"]["output_dir"]) / "cfg.json").exists()
    elif kind == "audit":
        from difflens.audit import AuditConfig, render_audit
        from difflens.config import config_from_mapping

        configs, _ = render_audit(config_from_mapping(AuditConfig, _tiny_audit(raw, tiny_model_dir, tiny_adapter_dir),
                                                      str(path)))
        for stem in (raw.get("decoding", "active"), "validate"):
            (run_dir.parent / f"{stem}.yaml").write_text(yaml.safe_dump(configs[stem]))
        decode = DifflensCLI(args=["--config", str(run_dir.parent / f"{raw.get('decoding', 'active')}.yaml")],
                             run=False)
        decode.predict(decode.model, datamodule=decode.datamodule)
        texts = (Path(configs[raw.get("decoding", "active")]["trainer"]["callbacks"][0]["init_args"]["output_dir"])
                 / "texts.jsonl").read_text().splitlines()
        assert len(texts) == 2 * 10
        validate = DifflensCLI(args=["--config", str(run_dir.parent / "validate.yaml")], run=False)
        assert validate.datamodule.model_spec("intervention").adapter == raw["intervention"].get("adapter")
    else:
        tiny.write_text(yaml.safe_dump(_tiny_encyclopedia(raw, tiny_model_dir)))
        assert main(["encyclopedia", "refine", "--config", str(tiny)]) == 0
        assert (Path("runs/encyclopedia") / "stage0.h5").exists()

"""The SAE module's dictionary settings are one nested ``model.sae`` block: the LightningCLI
reads it from YAML and from ``--model.sae.*`` flags, and ``--print_config`` shows it nested."""

from dataclasses import asdict

import pytest
import yaml

from cli.lightning import DifflensCLI
from cli.main import main
from difflens.sae import SAESpec
from tests.conftest import REPO

QUICKSTART = REPO / "configs/quickstart/sae.yaml"


def module(*args):
    return DifflensCLI(args=["--config", str(QUICKSTART), *args], run=False).model


def test_the_nested_block_parses_from_yaml():
    model = module()
    assert model.sae_spec == SAESpec(architecture="batchtopk", expansion_factor=8, k=16, dead_tokens=100_000)
    assert model.hparams.lr == 1e-3  # a training-run knob stays on the module
    assert model.hparams["sae"] == asdict(model.sae_spec)  # a dict: checkpoints load with weights_only


@pytest.mark.parametrize("flags", [["--model.sae.k=7", "--model.sae.d_sae", "96"],
                                   ["--model.init_args.sae.k", "7", "--model.init_args.sae.d_sae=96"]])
def test_flags_set_one_key_of_the_block(flags):
    spec = module(*flags).sae_spec
    assert (spec.k, spec.d_sae, spec.architecture, spec.dead_tokens) == (7, 96, "batchtopk", 100_000)


def test_a_flag_error_names_the_nested_key():
    with pytest.raises(Exception, match=r"model\.sae\.k must be >= 1, got 0"):
        module("--model.sae.k=0")


def test_print_config_shows_the_nested_block_and_reads_back(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:  # LightningCLI exits after printing
        main(["fit", "--config", str(QUICKSTART), "--model.sae.k=12", "--print_config"])
    assert not exit_.value.code
    printed = yaml.safe_load(capsys.readouterr().out)
    init_args = printed["model"]["init_args"]
    assert init_args["sae"]["k"] == 12 and init_args["sae"]["architecture"] == "batchtopk"
    assert "k" not in init_args and "architecture" not in init_args and init_args["lr"] == 1e-3
    for key in ("ckpt_path", "weights_only"):  # arguments of the fit subcommand, not of the config
        printed.pop(key)
    (tmp_path / "printed.yaml").write_text(yaml.safe_dump(printed))
    model = DifflensCLI(args=["--config", str(tmp_path / "printed.yaml")], run=False).model
    assert model.sae_spec == SAESpec(architecture="batchtopk", expansion_factor=8, k=12, dead_tokens=100_000)

"""SAEs both ways: SAELens and sparsify directories load with their own maths (or are refused
by name), and difflens's ``cfg.json`` carries the metadata SAELens 6 reads.

The references below are SAELens 6's and sparsify's inference formulas written out (SAELens
``sae_lens/saes/sae.py`` and ``topk_sae.py``: ``process_sae_in``, ``encode``, ``decode``;
sparsify ``sparse_coder.py``: ``encode``, ``decode``); the fixture files are written in each
tool's layout with weights whose decoder rows are far from unit norm, so that every setting
changes the result.
"""

import json

import pytest
import torch
from safetensors.torch import save_file

from difflens.errors import ConfigError
from difflens.sae import load_sae
from difflens.sae.config import SAEConfig
from difflens.sae.registry import build_sae

D_IN, D_SAE, K = 11, 29, 5


def saelens_reference(cfg: dict, w: dict, x: torch.Tensor):
    """SAELens 6 inference: ``(feature_acts, reconstruction)`` of raw inputs ``x`` (N, d_in)."""
    sae_in = x - w["b_dec"] * cfg["apply_b_dec_to_input"]
    hidden_pre = sae_in @ w["W_enc"] + w["b_enc"]  # (N, d_sae)
    norms = w["W_dec"].norm(dim=-1)
    if cfg.get("rescale_acts_by_decoder_norm"):
        hidden_pre = hidden_pre * norms
    arch = cfg["architecture"]
    if arch == "standard":
        acts = hidden_pre.relu()
    elif arch == "topk":
        top = hidden_pre.topk(cfg["k"], dim=-1)
        acts = torch.zeros_like(hidden_pre).scatter(-1, top.indices, top.values.relu())
    else:  # jumprelu
        acts = hidden_pre.relu() * (hidden_pre > w["threshold"])
    decode_in = acts / norms if cfg.get("rescale_acts_by_decoder_norm") else acts
    return acts, decode_in @ w["W_dec"] + w["b_dec"]


def weights(arch: str, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    w = {"W_enc": torch.randn(D_IN, D_SAE, generator=g, dtype=torch.float64),
         "b_enc": torch.randn(D_SAE, generator=g, dtype=torch.float64) * 0.5,
         "W_dec": torch.randn(D_SAE, D_IN, generator=g, dtype=torch.float64) * torch.linspace(0.2, 4.0, D_SAE)[:, None],
         "b_dec": torch.randn(D_IN, generator=g, dtype=torch.float64) * 3}
    if arch == "jumprelu":
        w["threshold"] = torch.rand(D_SAE, generator=g, dtype=torch.float64) * 2
    return w


def write_saelens(directory, cfg: dict, w: dict):
    directory.mkdir(parents=True)
    (directory / "cfg.json").write_text(json.dumps(cfg))
    save_file({k: v.float().contiguous() for k, v in w.items()}, str(directory / "sae_weights.safetensors"))
    return directory


def saelens_cfg(arch: str, **settings) -> dict:
    cfg = {"architecture": arch, "d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu",
           "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
           "metadata": {"sae_lens_version": "6.54.0", "hook_name": "blocks.3.hook_resid_post",
                        "model_name": "gpt2"}}
    if arch == "topk":
        cfg["k"] = K
    cfg.update(settings)
    return cfg


@pytest.mark.parametrize("arch", ["standard", "topk", "jumprelu"])
@pytest.mark.parametrize("settings", [
    {},
    {"apply_b_dec_to_input": False},
    {"rescale_acts_by_decoder_norm": True},
    {"apply_b_dec_to_input": False, "rescale_acts_by_decoder_norm": True},
    {"normalize_activations": "expected_average_only_in"},
], ids=["plain", "no_b_dec_in", "rescale", "both", "expected_average"])
def test_saelens_settings_are_applied_exactly(tmp_path, arch, settings):
    cfg = saelens_cfg(arch, **settings)
    w = weights(arch)
    sae = load_sae(write_saelens(tmp_path / "sae", cfg, w))
    x = torch.randn(64, D_IN, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 4
    w32 = {k: v.float().double() for k, v in w.items()}  # the weights as stored
    acts, recon = saelens_reference(cfg, w32, x)
    with torch.no_grad():
        ours = sae.encode(x.float()).double()
        torch.testing.assert_close(ours, acts, atol=2e-4, rtol=1e-4)
        torch.testing.assert_close(sae.decode(acts.float()).double(), recon, atol=2e-4, rtol=1e-4)
    assert (ours > 0).sum() > 0 and sae.cfg.hook_name == "blocks.3.hook_resid_post" and sae.cfg.model_name == "gpt2"


def test_each_setting_changes_the_maths(tmp_path):
    # So that the test above would fail if a setting were ignored.
    x = torch.randn(64, D_IN, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 4
    w = weights("standard")
    plain, _ = saelens_reference(saelens_cfg("standard"), w, x)
    for settings in ({"apply_b_dec_to_input": False}, {"rescale_acts_by_decoder_norm": True}):
        other, _ = saelens_reference(saelens_cfg("standard", **settings), w, x)
        assert (other - plain).abs().max() > 0.5


@pytest.mark.parametrize("settings, named", [
    ({"normalize_activations": "layer_norm"}, "normalize_activations='layer_norm'"),
    ({"normalize_activations": "constant_norm_rescale"}, "normalize_activations='constant_norm_rescale'"),
    ({"reshape_activations": "hook_z"}, "reshape_activations='hook_z'"),
    ({"architecture": "gated"}, "architecture 'gated'"),
    ({"finetuning_scaling_factor": True}, "finetuning_scaling_factor"),
])
def test_saelens_settings_that_cannot_be_applied_are_refused(tmp_path, settings, named):
    cfg = saelens_cfg("standard", **settings)
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")) as err:
        load_sae(write_saelens(tmp_path / "sae", cfg, weights("standard")))
    assert "\n" not in str(err.value)


def test_difflens_cfg_has_the_metadata_saelens_6_reads(tmp_path):
    cfg = SAEConfig(architecture="topk", d_in=D_IN, d_sae=D_SAE, k=K, hook_name="transformer.h.1",
                    model_name="tiny-gpt2")
    sae = build_sae(cfg)
    written = json.loads((sae.save(tmp_path / "sae") / "cfg.json").read_text())
    meta = written["metadata"]
    # SAELens >= 6 keeps metadata only for a file whose sae_lens_version is >= 6.0.0
    assert int(meta["sae_lens_version"].split(".")[0]) >= 6 and int(written["sae_lens_version"].split(".")[0]) >= 6
    assert (meta["hook_name"], meta["model_name"]) == ("transformer.h.1", "tiny-gpt2")
    assert written["architecture"] == "topk"
    again = load_sae(tmp_path / "sae")
    x = torch.randn(8, D_IN)
    torch.testing.assert_close(again.reconstruct(x), sae.reconstruct(x))


def write_sparsify(directory, transcode=False, skip=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {"encoder.weight": torch.randn(D_SAE, D_IN, generator=g), "encoder.bias": torch.randn(D_SAE, generator=g),
             "W_dec": torch.randn(D_SAE, D_IN, generator=g), "b_dec": torch.randn(D_IN, generator=g) * 2}
    if skip:
        state["W_skip"] = torch.randn(D_IN, D_IN, generator=g)
    directory.mkdir(parents=True)
    (directory / "cfg.json").write_text(json.dumps({
        "expansion_factor": 32, "normalize_decoder": True, "num_latents": D_SAE, "k": K, "multi_topk": False,
        "skip_connection": skip, "transcode": transcode, "d_in": D_IN}))
    save_file(state, str(directory / "sae.safetensors"))
    return state


@pytest.mark.parametrize("transcode", [False, True])
def test_sparsify_directory_loads_with_its_maths(tmp_path, transcode):
    state = write_sparsify(tmp_path / "layers.3", transcode=transcode)
    sae = load_sae(tmp_path / "layers.3")
    x = torch.randn(32, D_IN, generator=torch.Generator().manual_seed(2))
    # sparsify: pre = relu(encoder(x - b_dec)) (no centring for a transcoder); top-k; decode + b_dec
    pre = torch.nn.functional.linear(x if transcode else x - state["b_dec"], state["encoder.weight"],
                                     state["encoder.bias"]).relu()
    top = pre.topk(K, dim=-1)
    acts = torch.zeros_like(pre).scatter(-1, top.indices, top.values)
    with torch.no_grad():
        torch.testing.assert_close(sae.encode(x), acts, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(sae.reconstruct(x), acts @ state["W_dec"] + state["b_dec"], atol=1e-5, rtol=1e-5)
    assert sae.cfg.hook_name == "layers.3" and sae.cfg.k == K


def test_sparsify_skip_connection_is_refused(tmp_path):
    write_sparsify(tmp_path / "layers.0", skip=True)
    with pytest.raises(ConfigError, match="skip_connection"):
        load_sae(tmp_path / "layers.0")

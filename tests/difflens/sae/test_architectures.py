"""Every architecture, as SAE and as transcoder: shapes, gradients, decoder norm, files."""

import pytest
import torch

from difflens.errors import ConfigError, DataError
from difflens.sae import SAE_REGISTRY, SAEConfig, build_sae, load_sae

D_IN, D_OUT, D_SAE, K, B = 36, 29, 97, 5, 23  # odd sizes so that shape bugs cannot hide

CASES = [(arch, transcoder) for arch in sorted(SAE_REGISTRY) for transcoder in (False, True)]


def make(arch, transcoder=False, **kw):
    cfg = SAEConfig(architecture=arch, d_in=D_IN, d_sae=D_SAE, k=K, transcoder=transcoder,
                    d_out=D_OUT if transcoder else None, **kw)
    return build_sae(cfg)


def test_registry_has_every_architecture():
    assert set(SAE_REGISTRY) == {"relu_l1", "topk", "batchtopk", "matryoshka", "jumprelu"}


@pytest.mark.parametrize("arch,transcoder", CASES)
def test_shapes_gradients_and_unit_norm_decoder(arch, transcoder):
    torch.manual_seed(0)
    sae = make(arch, transcoder, dead_tokens=1).train()
    x = torch.randn(B, D_IN)
    y = torch.randn(B, D_OUT) if transcoder else None
    out = sae(x, y)
    d_out = D_OUT if transcoder else D_IN
    assert out.recon.shape == (B, d_out)
    assert out.codes.n_rows == B and out.codes.d_sae == D_SAE
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        grad = getattr(sae, name).grad
        assert grad is not None and grad.shape == getattr(sae, name).shape, name
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    # the parallel component of the decoder gradient is removed ...
    sae.remove_parallel_decoder_grad()
    assert (sae.W_dec.grad * sae.W_dec).sum(1).abs().max() < 1e-4
    # ... and a step followed by renormalisation keeps unit-norm decoder rows
    with torch.no_grad():
        for p in sae.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    sae.normalize_decoder()
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(D_SAE), atol=1e-5)
    # inference: dense and sparse encodings agree and have the right width
    sae.eval()
    f = sae.encode(x)
    assert f.shape == (B, D_SAE) and (f >= 0).all()
    assert sae.reconstruct(x).shape == (B, d_out)


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "matryoshka"])
def test_topk_family_sparsity(arch):
    torch.manual_seed(0)
    sae = make(arch).train()
    out = sae(torch.randn(B, D_IN))
    if arch == "topk":
        assert (torch.bincount(out.codes.rows, minlength=B) == K).all()
    else:
        assert out.codes.values.numel() <= B * K
    assert sae.tokens_since_fired.max() <= B


def test_auxk_only_when_latents_are_dead():
    torch.manual_seed(0)
    sae = make("topk", dead_tokens=10**9).train()
    x = torch.randn(B, D_IN)
    assert "aux" not in sae(x).terms
    sae.tokens_since_fired.fill_(10**9)
    out = sae(x)
    assert "aux" in out.terms and out.terms["aux"] > 0


@pytest.mark.parametrize("arch,transcoder", CASES)
def test_save_and_load_round_trip_with_normalisation_folded(arch, transcoder, tmp_path):
    torch.manual_seed(1)
    sae = make(arch, transcoder, normalize_activations="expected_average_only_in")
    x = 7.0 * torch.randn(64, D_IN) + 3.0
    y = torch.randn(64, D_OUT) * 0.3 if transcoder else None
    sae.estimate_normalization(x, y)
    sae.init_b_dec_geometric_median(x if y is None else y)
    assert sae.input_scale != 1.0
    with torch.no_grad():
        sae.b_enc.normal_()
    if arch == "batchtopk" or arch == "matryoshka":
        sae.threshold.fill_(0.5)
    sae.eval()
    before = sae.reconstruct(x)
    sae.save(tmp_path / "sae")
    assert {p.name for p in (tmp_path / "sae").iterdir()} == {"cfg.json", "sae_weights.safetensors"}
    loaded = load_sae(tmp_path / "sae")
    assert type(loaded) is type(sae) and loaded.input_scale == 1.0
    assert torch.allclose(loaded.reconstruct(x), before, atol=1e-4, rtol=1e-4)


def test_load_rejects_other_width(tmp_path):
    make("topk").save(tmp_path / "sae")
    with pytest.raises(DataError, match="d_in=36 but the activations have width 48"):
        load_sae(tmp_path / "sae", d_in=48)
    sae = load_sae(tmp_path / "sae")
    with pytest.raises(DataError, match="expects d_in=36"):
        sae.encode(torch.randn(2, 48))


@pytest.mark.parametrize("kw,match", [
    ({"k": 200}, "k=200 is larger than sae.d_sae=97"),
    ({"d_out": 10}, "transcoder: true"),
    ({"normalize_activations": "layer"}, "normalize_activations"),
    ({"group_sizes": [10, 20]}, "sum to d_sae=97"),
])
def test_bad_config(kw, match):
    with pytest.raises(ConfigError, match=match):
        SAEConfig(architecture="topk", d_in=D_IN, d_sae=D_SAE, **kw)


def test_unknown_architecture_suggests_close_names():
    with pytest.raises(ConfigError, match="Did you mean 'batchtopk'"):
        build_sae(SAEConfig(architecture="batchtopkk", d_in=8, d_sae=16, k=2))

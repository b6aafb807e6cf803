"""The base class of every sparse dictionary (SAE or transcoder), with SAELens's file layout.

Parameters follow SAELens: ``W_enc (d_in, d_sae)``, ``b_enc (d_sae,)``, ``W_dec (d_sae, d_out)``,
``b_dec (d_out,)``; the decoder rows are kept at unit norm. On disk a dictionary is a directory
with ``cfg.json`` and ``sae_weights.safetensors``; input normalisation is folded into the
weights on save, so a saved dictionary works on raw activations.

An architecture subclasses `SparseDictionary` and implements two methods:

* ``encode_sparse_normalized(x_in)`` -> `SparseCodes` for inference, and
* ``training_loss(x_in, y)`` -> `TrainOutput` (reconstruction, codes, loss terms),

both on normalised, already-centred inputs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from difflens.errors import DataError
from difflens.sae.config import SAEConfig
from difflens.sae.sparse import SparseCodes

CFG_FILE = "cfg.json"
SAELENS_LAYOUT_VERSION = "6.0.0"  # the cfg.json layout written here; SAELens reads metadata only from >= 6
WEIGHTS_FILE = "sae_weights.safetensors"


@dataclass
class TrainOutput:
    """What one training forward produces (all in normalised space).

    Attributes:
        recon: reconstruction of the target, ``(B, d_out)``.
        codes: the active latents.
        loss: the total loss to minimise.
        terms: the named parts of the loss (``mse``, ``l1``, ``l0``, ``aux`` ...), detached.
    """

    recon: torch.Tensor
    codes: SparseCodes
    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


def geometric_median(points: torch.Tensor, max_iter: int = 100, tol: float = 1e-6) -> torch.Tensor:
    """The point minimising the sum of Euclidean distances to ``points`` (Weiszfeld's algorithm).

    Args:
        points: ``(N, d)``.
        max_iter: iterations at most.
        tol: stop when the median moves less than ``tol`` times its norm (plus ``tol``).

    Returns:
        ``(d,)``; robust to outliers, unlike the mean (used for the decoder-bias init).
    """
    points = points.double()
    median = points.mean(0)
    for _ in range(max_iter):
        weights = 1.0 / (points - median).norm(dim=1).clamp_min(1e-12)  # (N,)
        new = (weights[:, None] * points).sum(0) / weights.sum()  # (N, 1) * (N, d) -> (d,)
        moved = (new - median).norm()
        median = new
        if moved <= tol * (1 + median.norm()):
            break
    return median.float()


class SparseDictionary(nn.Module):
    """A sparse autoencoder (target = input) or transcoder (target = another site).

    Args:
        cfg: sizes and sparsity settings; see `SAEConfig`.

    Raises:
        ConfigError: inconsistent sizes (raised by `SAEConfig`).
    """

    architecture: str = ""
    saelens_architecture: str = ""
    sparse_decoding = False  # the TopK family decodes only the active latents

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        if cfg.architecture != self.architecture:
            cfg = dataclasses.replace(cfg, architecture=self.architecture)
        self.cfg = cfg
        d_in, d_sae, d_out = cfg.d_in, cfg.d_sae, cfg.d_out
        dtype = getattr(torch, cfg.dtype)
        W_dec = torch.randn(d_sae, d_out, dtype=dtype)
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        # Tied init (Gao et al. 2024): the encoder starts as the decoder's transpose.
        W_enc = W_dec.t().clone() if d_in == d_out else torch.randn(d_in, d_sae, dtype=dtype) / d_in**0.5
        self.W_enc = nn.Parameter(W_enc.contiguous())  # (d_in, d_sae)
        self.b_enc = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        self.W_dec = nn.Parameter(W_dec)  # (d_sae, d_out)
        self.b_dec = nn.Parameter(torch.zeros(d_out, dtype=dtype))
        self.register_buffer("input_scale", torch.ones((), dtype=dtype))
        self.register_buffer("output_scale", torch.ones((), dtype=dtype))
        self.register_buffer("tokens_since_fired", torch.zeros(d_sae, dtype=torch.long))

    # ----- sizes and checks -------------------------------------------------------------
    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    @property
    def d_out(self) -> int:
        return self.cfg.d_out

    def check_input(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Raise `DataError` when activations do not have the widths this dictionary expects."""
        if x.shape[-1] != self.d_in:
            raise DataError(f"the SAE expects d_in={self.d_in} (hook {self.cfg.hook_name or '?'}) but the "
                            f"activations have width {x.shape[-1]}: use an SAE trained on this site, or "
                            f"hook the module it was trained on")
        if y is not None and y.shape[-1] != self.d_out:
            raise DataError(f"the transcoder expects targets of width d_out={self.d_out}, got {y.shape[-1]}")

    # ----- normalisation and centring ---------------------------------------------------
    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """Scale raw activations and, for an SAE, subtract the decoder bias."""
        x = x * self.input_scale
        return x - self.b_dec if self.cfg.apply_b_dec_to_input else x

    @torch.no_grad()
    def estimate_normalization(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Set the scales so that ``E ||x||^2 = d_in`` (and ``E ||y||^2 = d_out``) on a sample."""
        if self.cfg.normalize_activations == "none":
            return
        self.input_scale.fill_(self.d_in**0.5 / x.norm(dim=-1).mean().clamp_min(1e-12))
        target = x if y is None else y
        self.output_scale.fill_(self.d_out**0.5 / target.norm(dim=-1).mean().clamp_min(1e-12))

    @torch.no_grad()
    def init_b_dec_geometric_median(self, y: torch.Tensor) -> None:
        """Start the decoder bias at the geometric median of a sample of (raw) targets."""
        self.b_dec.copy_(geometric_median(y * self.output_scale))

    # ----- decoder constraint -----------------------------------------------------------
    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale every decoder row (one latent's direction) to unit norm."""
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def remove_parallel_decoder_grad(self) -> None:
        """Project out the gradient component along each decoder row (it would only change its norm)."""
        if self.W_dec.grad is None:
            return
        W = self.W_dec / self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)  # (d_sae, d_out)
        parallel = (self.W_dec.grad * W).sum(dim=1, keepdim=True)  # (d_sae, 1)
        self.W_dec.grad -= parallel * W

    # ----- dead latents -----------------------------------------------------------------
    @torch.no_grad()
    def update_dead_statistics(self, codes: SparseCodes) -> None:
        self.tokens_since_fired += codes.n_rows
        self.tokens_since_fired.index_fill_(0, codes.cols[codes.values > 0], 0)

    @property
    def dead_mask(self) -> torch.Tensor:
        """``(d_sae,)`` True for latents that have not fired within ``cfg.dead_tokens``."""
        return self.tokens_since_fired >= self.cfg.dead_tokens

    # ----- to implement -----------------------------------------------------------------
    def encode_sparse_normalized(self, x_in: torch.Tensor) -> SparseCodes:
        raise NotImplementedError

    def training_loss(self, x_in: torch.Tensor, y: torch.Tensor) -> TrainOutput:
        raise NotImplementedError

    # ----- shared pieces ----------------------------------------------------------------
    def pre_activations(self, x_in: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.b_enc, x_in, self.W_enc)  # (B, d_sae)

    def decode_dense(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec  # (B, d_out)

    @staticmethod
    def mse(recon: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (recon - y).pow(2).sum(-1).mean()

    # ----- public API (raw activations in, raw reconstructions out) ---------------------
    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> TrainOutput:
        """Training forward on raw activations ``(B, d_in)`` and targets ``(B, d_out)``.

        The loss and reconstruction are in normalised space; in training mode the dead-latent
        counters are updated.
        """
        self.check_input(x, y)
        y_n = (x if y is None else y) * self.output_scale
        out = self.training_loss(self.encoder_input(x), y_n)
        if self.training:
            self.update_dead_statistics(out.codes)
        return out

    def encode_sparse(self, x: torch.Tensor) -> SparseCodes:
        """Active latents of raw activations ``(B, d_in)`` (inference rule)."""
        self.check_input(x)
        return self.encode_sparse_normalized(self.encoder_input(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Dense latent activations ``(B, d_sae)`` of raw activations."""
        return self.encode_sparse(x).to_dense()

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Raw-space reconstruction from dense latents ``(B, d_sae)``."""
        return self.decode_dense(f) / self.output_scale

    def decode_sparse(self, codes: SparseCodes) -> torch.Tensor:
        """Raw-space reconstruction from sparse codes (sparse kernel for the TopK family)."""
        from difflens.sae.sparse import sparse_decode

        return (sparse_decode(codes, self.W_dec) + self.b_dec) / self.output_scale

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Encode and decode raw activations ``(..., d_in)`` -> ``(..., d_out)``."""
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # (N, d_in)
        recon = self.decode_sparse(self.encode_sparse(flat))
        return recon.reshape(*shape[:-1], self.d_out)  # (..., d_out)

    # ----- files ------------------------------------------------------------------------
    def saelens_cfg(self) -> dict:
        """``cfg.json`` in the layout SAELens reads, with difflens's full config under metadata."""
        cfg = self.cfg
        architecture = self.saelens_architecture
        if cfg.transcoder:
            # SAELens reads ReLU and JumpReLU transcoders; TopK-family ones keep difflens's name.
            architecture = {"standard": "transcoder", "jumprelu": "jumprelu_transcoder"}.get(
                architecture, f"{self.architecture}_transcoder")
        out = {
            "architecture": architecture,
            "d_in": cfg.d_in,
            "d_sae": cfg.d_sae,
            "dtype": cfg.dtype,
            "device": "cpu",
            "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
            "normalize_activations": "none",  # folded into the weights
            "reshape_activations": "none",
            "sae_lens_version": SAELENS_LAYOUT_VERSION,
            "metadata": {
                "sae_lens_version": SAELENS_LAYOUT_VERSION,
                "sae_lens_training_version": SAELENS_LAYOUT_VERSION,
                "model_name": cfg.model_name,
                "hook_name": cfg.hook_name,
                "hook_name_out": cfg.hook_name_out,
                "difflens": {**cfg.to_dict(), "normalize_activations": "none"},
            },
        }
        if cfg.transcoder:
            out["d_out"] = cfg.d_out
        return out

    def inference_state(self) -> dict[str, torch.Tensor]:
        """Weights for ``sae_weights.safetensors``: normalisation folded in (raw-space SAE).

        With input scale ``s`` and output scale ``t``: ``W_enc' = s W_enc``,
        ``W_dec' = W_dec / t``, ``b_dec' = b_dec / t``, and for an SAE (``s == t``) the centring
        ``s x - b_dec`` becomes ``s (x - b_dec')``.
        """
        s, t = self.input_scale.detach(), self.output_scale.detach()
        return {
            "W_enc": (self.W_enc.detach() * s).contiguous(),
            "b_enc": self.b_enc.detach().clone(),
            "W_dec": (self.W_dec.detach() / t).contiguous(),
            "b_dec": (self.b_dec.detach() / t).contiguous(),
        }

    def load_inference_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
                getattr(self, name).copy_(state[name])
            self.input_scale.fill_(1.0)
            self.output_scale.fill_(1.0)

    def save(self, directory: str | Path) -> Path:
        """Write ``cfg.json`` and ``sae_weights.safetensors`` atomically into ``directory``."""
        from safetensors.torch import save_file

        from difflens.files import write_dir, write_json

        def fill(tmp: Path) -> None:
            write_json(tmp / CFG_FILE, self.saelens_cfg())
            save_file(self.inference_state(), str(tmp / WEIGHTS_FILE))

        write_dir(directory, fill)
        return Path(directory)


def read_sae_cfg(directory: str | Path) -> dict:
    """Read ``cfg.json`` of a saved dictionary, with one-line errors for missing files."""
    path = Path(directory) / CFG_FILE
    if not path.exists():
        raise DataError(f"no {CFG_FILE} in {str(directory)!r}: pass a directory written by SparseDictionary.save")
    if not (Path(directory) / WEIGHTS_FILE).exists():
        raise DataError(f"no {WEIGHTS_FILE} in {str(directory)!r}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: malformed JSON ({err.msg})") from None


def config_from_saelens(cfg: dict) -> SAEConfig:
    """A difflens `SAEConfig` from a ``cfg.json`` written by difflens or by SAELens (whose
    settings `difflens.sae.interop` applies or refuses; load the weights with `load_sae`)."""
    meta = cfg.get("metadata") or {}
    if "difflens" in meta:
        from difflens.config import config_from_mapping

        # a cfg.json written by another version of difflens may hold settings this one lacks
        known = {f.name for f in dataclasses.fields(SAEConfig)}
        saved = {k: v for k, v in meta["difflens"].items() if k in known}
        return config_from_mapping(SAEConfig, saved, where=f"{CFG_FILE} metadata.difflens")
    from difflens.sae.interop import saelens_config

    return saelens_config(cfg)

"""Check that SAELens reads difflens's saved dictionaries and computes the same features.

    .venv/bin/python bench/saelens_layout_check.py      # writes bench/saelens_layout_check.txt

difflens saves ReLU-L1, TopK, JumpReLU and BatchTopK dictionaries (with input normalisation
folded in) and their encodings of random activations; SAELens, in the separate environment
that ``bench/sae_throughput.py`` creates (``bench/.venv``), loads each with
``SAE.load_from_disk`` and encodes and decodes the same activations.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARCHS = ["relu_l1", "topk", "jumprelu", "batchtopk"]

SAELENS_SIDE = """
import sys, torch
from sae_lens import SAE
for arch in sys.argv[2:]:
    sae = SAE.load_from_disk(f"{sys.argv[1]}/{arch}")
    ref = torch.load(f"{sys.argv[1]}/{arch}.pt")
    f = sae.encode(ref["x"]); r = sae.decode(f)
    print(f"{arch:10s} -> SAELens {type(sae).__name__:12s} max |features diff| {(f - ref['f']).abs().max():.2e}  "
          f"max |reconstruction diff| {(r - ref['r']).abs().max():.2e}")
"""


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    import torch

    from difflens.sae import SAEConfig, build_sae

    sys.path.insert(0, str(HERE))
    from sae_throughput import ensure_baseline_venv

    python = ensure_baseline_venv()
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        x = torch.randn(256, 36) * 3 + 1
        for arch in ARCHS:
            sae = build_sae(SAEConfig(architecture=arch, d_in=36, d_sae=97, k=5,
                                      normalize_activations="expected_average_only_in"))
            sae.estimate_normalization(x)
            sae.init_b_dec_geometric_median(x)
            with torch.no_grad():
                sae.b_enc.normal_(0, 0.5)
                if arch == "batchtopk":
                    sae.threshold.fill_(0.3)
                if arch == "jumprelu":
                    sae.log_threshold.fill_(-1.5)
            sae.eval().save(f"{tmp}/{arch}")
            with torch.no_grad():
                torch.save({"x": x, "f": sae.encode(x), "r": sae.reconstruct(x)}, f"{tmp}/{arch}.pt")
        out = subprocess.run([str(python), "-c", SAELENS_SIDE, tmp, *ARCHS], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    text = "# difflens save -> SAELens SAE.load_from_disk, 256 random activations, d_in 36, d_sae 97\n" + out.stdout
    print(text, end="")
    (HERE / "saelens_layout_check.txt").write_text(text)


if __name__ == "__main__":
    main()

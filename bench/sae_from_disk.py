"""SAE training from an activation cache on disk: peak resident memory as the cache grows.

    nice .venv/bin/python bench/sae_from_disk.py | tee bench/sae_from_disk.txt

The cache is the one `datamodules.activations.ActivationDataModule` writes with ``cache_dir``
(``world1_rank0.json`` listing safetensors shards of ``buffer_size`` rows: ``x``, ``token``,
``doc``, ``pos``, ``context``), filled here with stand-in activations (Gaussian, the quickstart
LM's width 192), not a model's. Each cache size is one subprocess that serves one epoch through
the datamodule's own reading path (`ActivationDataModule.iterate_train`: shards in a shuffled
order, one at a time, through the mixing buffer) and trains a BatchTopK SAE on every batch
(d_sae 1536, k 16, Adam), as the SAE module does. Reported: the cache's bytes, rows, steps,
wall seconds and the child's peak RSS (``ru_maxrss``); memory is flat when the peak does not
grow with the cache. One thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
D_IN, D_SAE, K, BATCH, BUFFER = 192, 1536, 16, 4096, 65536

CHILD = r"""
import json, sys, time
import torch
from datamodules.activations import ActivationDataModule
from difflens.sae import build_sae
from difflens.sae.config import SAEConfig

cache_dir, batch, buffer, d_in, d_sae, k = sys.argv[1], *map(int, sys.argv[2:7])
torch.manual_seed(0)
dm = ActivationDataModule(cache_dir=cache_dir, batch_size=batch, buffer_size=buffer)
shards = json.load(open(f"{cache_dir}/world1_rank0.json"))["shards"]
rows = sum(1 for _ in shards) * buffer
dm.batches_per_epoch = rows // batch  # what setup counts from the texts' tokens
sae = build_sae(SAEConfig(architecture="batchtopk", d_in=d_in, d_sae=d_sae, k=k))
opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
t0, steps, losses = time.perf_counter(), 0, []
for batch_ in dm.iterate_train():
    out = sae(batch_["x"])
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    sae.normalize_decoder()
    steps += 1
    losses.append(float(out.loss))
result = {"steps": steps, "wall": time.perf_counter() - t0, "first": losses[0], "last": losses[-1]}
print("RESULT " + json.dumps(result))
"""


def write_cache(directory: Path, n_shards: int) -> int:
    """``n_shards`` shards of `BUFFER` stand-in rows in the datamodule's cache layout; bytes written."""
    import torch
    from safetensors.torch import save_file

    from difflens.activations import CONTEXT_AFTER, CONTEXT_BEFORE

    directory.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    names = []
    for i in range(n_shards):
        name = f"world1_rank0_{i:05d}.safetensors"
        path = directory / name
        if not path.exists():
            save_file({"x": torch.randn(BUFFER, D_IN, generator=generator),
                       "token": torch.randint(0, 1000, (BUFFER,), generator=generator),
                       "doc": torch.arange(BUFFER) // 40 + i * BUFFER, "pos": torch.arange(BUFFER) % 40,
                       "context": torch.randint(0, 1000, (BUFFER, CONTEXT_BEFORE + 1 + CONTEXT_AFTER),
                                                generator=generator)}, str(path))
        names.append(name)
    (directory / "world1_rank0.json").write_text(json.dumps({"shards": names, "hook": "stand-in"}))
    return sum((directory / n).stat().st_size for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, nargs="+", default=[4, 48, 136],
                        help="cache sizes in shards of 65,536 rows (136: about 8.2 GB)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "difflens-sae-from-disk"))
    args = parser.parse_args()
    work = Path(args.work)
    print(f"# {' '.join(['bench/sae_from_disk.py', *sys.argv[1:]])}")
    print(f"# {platform.node()} {os.cpu_count()} CPUs, Python {platform.python_version()}, 1 thread, "
          f"{time.strftime('%Y-%m-%d %H:%M')}; stand-in activations (Gaussian), d_in {D_IN}, BatchTopK d_sae {D_SAE} "
          f"k {K}, batch {BATCH}, buffer and shard {BUFFER} rows")
    print("\n| cache GB | rows | steps | wall s | peak RSS GiB | loss first -> last |")
    print("| --- | --- | --- | --- | --- | --- |")
    peaks = []
    for n in sorted(args.shards):
        cache = work / "cache"
        size = write_cache(cache, n)
        for extra in sorted(cache.glob("world1_rank0_*.safetensors"))[n:]:
            extra.unlink()
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cache), str(BATCH), str(BUFFER), str(D_IN),
                                 str(D_SAE), str(K)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=str(REPO))
        log = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(log[-3000:])
        result = json.loads(next(line[7:] for line in log.splitlines() if line.startswith("RESULT ")))
        peak = usage.ru_maxrss / 2**20
        peaks.append((size, peak))
        print(f"| {size / 1e9:.2f} | {n * BUFFER:,} | {result['steps']} | {result['wall']:.0f} | {peak:.2f} | "
              f"{result['first']:.3f} -> {result['last']:.3f} |", flush=True)
    (small, p_small), (large, p_large) = peaks[0], peaks[-1]
    print(f"\nCache {large / small:.0f}x larger ({small / 1e9:.2f} -> {large / 1e9:.2f} GB): peak RSS "
          f"{p_small:.2f} -> {p_large:.2f} GiB ({p_large / p_small:.2f}x).")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

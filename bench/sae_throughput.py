"""SAE training throughput on CPU: difflens against SAELens and EleutherAI sparsify, same run.

    .venv/bin/python bench/sae_throughput.py                 # full run, writes bench/sae_throughput.txt
    .venv/bin/python bench/sae_throughput.py --steps 3 --rounds 1 --no-write   # quick look

Activations per CPU-second (process CPU time, so a shared machine's load shows less than in wall
time) of one full training step: forward, loss, backward, the decoder-norm constraint where the
library has one, and an Adam step. d_in 512, d_sae 4096, k 32, batch 4096, fp32, synthetic
activations, 1 and 2 threads. Every measurement is its own subprocess; libraries are
interleaved in rounds and the median is reported, so the ratios compare like with like.

SAELens (``sae-lens``) and EleutherAI sparsify (``eai-sparsify`` on PyPI; the PyPI name
``sparsify`` belongs to an unrelated, end-of-life Neural Magic package) are not dependencies
of difflens: the script creates ``bench/.venv`` for them (CPU torch first, so no CUDA wheels).

Also measured: the activation-sample callback's cost as a fraction of the training step at the
quickstart settings (BatchTopK, d_in 192, d_sae 1536, k 16, batch 512, collected every 10 steps).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE_VENV = HERE / ".venv"
TORCH = "torch==2.13.0"
BASELINE_PACKAGES = ["sae-lens", "eai-sparsify"]

D_IN, D_SAE, K, BATCH = 512, 4096, 32, 4096
CASES = [  # (library, architecture)
    ("difflens", "topk"), ("difflens", "batchtopk"), ("difflens", "matryoshka"),
    ("sparsify", "topk"), ("saelens", "topk"),
]


# ----- workers (run in subprocesses; import only what their library needs) ----------------
def synthetic_batches(torch, n=4):
    g = torch.Generator().manual_seed(0)
    basis = torch.randn(2048, D_IN, generator=g) / D_IN**0.5
    batches = []
    for _ in range(n):
        codes = torch.rand(BATCH, 2048, generator=g).pow(30)  # sparse-ish positive mixture
        batches.append((codes @ basis + 0.05 * torch.randn(BATCH, D_IN, generator=g)).contiguous())
    return batches


def difflens_step(arch, torch):
    from difflens.sae import SAEConfig, build_sae

    sae = build_sae(SAEConfig(architecture=arch, d_in=D_IN, d_sae=D_SAE, k=K)).train()
    opt = torch.optim.Adam(sae.parameters(), lr=1e-4)

    def step(x):
        out = sae(x)
        out.loss.backward()
        sae.remove_parallel_decoder_grad()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.normalize_decoder()

    return step


def sparsify_step(arch, torch):
    from sparsify import SparseCoder, SparseCoderConfig

    sae = SparseCoder(D_IN, SparseCoderConfig(num_latents=D_SAE, k=K))
    opt = torch.optim.Adam(sae.parameters(), lr=1e-4)
    dead = torch.zeros(D_SAE, dtype=torch.bool)

    def step(x):  # as sparsify's Trainer: fvu + auxk, parallel-grad removal, step, renormalise
        out = sae(x, dead_mask=dead)
        (out.fvu + out.auxk_loss / 32).backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.set_decoder_norm_to_unit_norm()

    return step


def saelens_step(arch, torch):
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.saes.sae import TrainStepInput

    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K))
    opt = torch.optim.Adam(sae.parameters(), lr=1e-4)
    since_fired = torch.zeros(D_SAE)

    def step(x):  # as SAELens's SAETrainer._train_step
        out = sae.training_forward_pass(TrainStepInput(sae_in=x, coefficients={}, dead_neuron_mask=since_fired > 1000,
                                                       n_training_steps=0, is_logging_step=False))
        with torch.no_grad():
            did_fire = out.feature_acts.bool().float().sum(-2).bool()
            since_fired.add_(1)
            since_fired[did_fire] = 0
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
        opt.step()
        opt.zero_grad()

    return step


def run_worker(library: str, arch: str, threads: int, steps: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step = {"difflens": difflens_step, "sparsify": sparsify_step, "saelens": saelens_step}[library](arch, torch)
    batches = synthetic_batches(torch)
    for i in range(2):  # warm-up: allocator, first-call dispatch
        step(batches[i % len(batches)])
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"library": library, "arch": arch, "threads": threads, "steps": steps,
            "acts_per_cpu_s": steps * BATCH / cpu, "acts_per_wall_s": steps * BATCH / wall,
            "cpu_s_per_step": cpu / steps, "torch": torch.__version__}


def run_callback_worker(threads: int, steps: int) -> dict:
    """Step time vs the sample store's update, at the quickstart settings."""
    import torch

    from difflens.activations import CONTEXT_AFTER, CONTEXT_BEFORE
    from difflens.sae import SAEConfig, build_sae
    from difflens.sae.samples import TopActivations

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    d_in, d_sae, k, batch, every = 192, 1536, 16, 512, 10
    sae = build_sae(SAEConfig(architecture="batchtopk", d_in=d_in, d_sae=d_sae, k=k)).train()
    opt = torch.optim.Adam(sae.parameters(), lr=1e-4)
    store = TopActivations(d_sae, 20, CONTEXT_BEFORE + 1 + CONTEXT_AFTER)
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(batch, d_in, generator=g) for _ in range(4)]
    meta = [(torch.randint(0, 2048, (batch,), generator=g), torch.arange(batch) + i * batch,
             torch.randint(1, 128, (batch,), generator=g),
             torch.randint(0, 2048, (batch, CONTEXT_BEFORE + 1 + CONTEXT_AFTER), generator=g)) for i in range(4)]
    step_cpu = update_cpu = 0.0
    n = max(steps, 20)
    for i in range(n + 2):
        t = time.process_time()
        out = sae(xs[i % 4])
        out.loss.backward()
        sae.remove_parallel_decoder_grad()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.normalize_decoder()
        t2 = time.process_time()
        codes = out.codes
        codes = type(codes)(codes.values.detach(), codes.rows, codes.cols, codes.n_rows, codes.d_sae)
        token, doc, pos, ctx = meta[i % 4]
        store.update(codes, token, doc + i * 10_000, pos, ctx)
        t3 = time.process_time()
        if i >= 2:
            step_cpu += t2 - t
            update_cpu += t3 - t2
    return {"threads": threads, "step_cpu_s": step_cpu / n, "update_cpu_s": update_cpu / n,
            "every_n_steps": every, "overhead_fraction": update_cpu / n / every / (step_cpu / n)}


# ----- driver -----------------------------------------------------------------------------
def ensure_baseline_venv() -> Path:
    python = BASELINE_VENV / "bin" / "python"
    stamp = BASELINE_VENV / ".baselines-installed"
    if not stamp.exists():
        print(f"creating {BASELINE_VENV} for SAELens and sparsify (CPU torch first) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, TORCH], check=True)
        subprocess.run([*pip, *BASELINE_PACKAGES], check=True)
        stamp.write_text("ok\n")
    return python


def installed_versions(python: Path) -> dict:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "['torch', 'sae-lens', 'eai-sparsify']}))")
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def call_worker(python: Path, args: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": args[args.index("--threads") + 1], "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([str(python), str(Path(__file__).resolve()), *args], capture_output=True, text=True,
                         env=env, cwd=str(REPO))
    if out.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("LIBRARY", "ARCH"), help=argparse.SUPPRESS)
    parser.add_argument("--callback-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (median reported)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update sae_throughput.txt")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(*args.worker, args.threads[0], args.steps)))
        return
    if args.callback_worker:
        print(json.dumps(run_callback_worker(args.threads[0], args.steps)))
        return

    baseline_python = ensure_baseline_venv()
    pythons = {"difflens": Path(sys.executable), "sparsify": baseline_python, "saelens": baseline_python}
    lines = [f"# bench/sae_throughput.py  {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
             f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average at start "
             f"{load_average()} (shared machine: other jobs were running)",
             f"# baselines: {json.dumps(installed_versions(baseline_python))}",
             f"# d_in {D_IN}, d_sae {D_SAE}, k {K}, batch {BATCH}, fp32, Adam; {args.steps} timed steps after 2 "
             f"warm-up, median of {args.rounds} interleaved rounds", ""]
    print("\n".join(lines), flush=True)
    results: dict[tuple, list[dict]] = {}
    for threads in args.threads:
        for r in range(args.rounds):
            for library, arch in CASES:
                res = call_worker(pythons[library], ["--worker", library, arch, "--threads", str(threads),
                                                     "--steps", str(args.steps)])
                results.setdefault((library, arch, threads), []).append(res)
                print(f"  round {r + 1} threads {threads} {library:9s} {arch:11s} "
                      f"{res['acts_per_cpu_s']:9.0f} acts/CPU-s", flush=True)
    table = ["threads  library   arch         acts/CPU-s  acts/wall-s  CPU-s/step"]
    median = {}
    for (library, arch, threads), runs in results.items():
        cpu = statistics.median(r["acts_per_cpu_s"] for r in runs)
        wall = statistics.median(r["acts_per_wall_s"] for r in runs)
        median[(library, arch, threads)] = cpu
        table.append(f"{threads:7d}  {library:9s} {arch:11s} {cpu:11.0f} {wall:12.0f} {BATCH / cpu:11.3f}")
    table.append("")
    table.append("ratios (activations per CPU-second, same run):")
    for threads in args.threads:
        topk = median[("difflens", "topk", threads)]
        table.append(f"  {threads} thread(s): difflens TopK / sparsify TopK = "
                     f"{topk / median[('sparsify', 'topk', threads)]:.2f}x (target >= 1.2x); "
                     f"difflens TopK / SAELens TopK = {topk / median[('saelens', 'topk', threads)]:.2f}x (target >= 3x)")
        for arch in ("batchtopk", "matryoshka"):
            table.append(f"  {threads} thread(s): difflens {arch} / difflens TopK = "
                         f"{median[('difflens', arch, threads)] / topk:.2f} (target >= 0.85)")
    table.append("")
    table.append("activation-sample callback at the quickstart settings (BatchTopK d_in 192, d_sae 1536, k 16, "
                 "batch 512, every 10 steps):")
    for threads in args.threads:
        cb = call_worker(pythons["difflens"], ["--callback-worker", "--threads", str(threads),
                                               "--steps", str(max(args.steps, 20))])
        table.append(f"  {threads} thread(s): step {cb['step_cpu_s'] * 1000:.1f} ms CPU, update "
                     f"{cb['update_cpu_s'] * 1000:.1f} ms CPU -> overhead {100 * cb['overhead_fraction']:.2f}% "
                     f"of step time (target <= 1%)")
    table.append(f"# load average at end {load_average()}")
    print("\n".join(table))
    if not args.no_write:
        (HERE / "sae_throughput.txt").write_text("\n".join(lines + table) + "\n")


if __name__ == "__main__":
    main()

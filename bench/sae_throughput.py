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


def difflens_step(arch, torch, d_in=D_IN, d_sae=D_SAE, k=K, device="cpu"):
    from difflens.sae import SAEConfig, build_sae

    sae = build_sae(SAEConfig(architecture=arch, d_in=d_in, d_sae=d_sae, k=k)).to(device).train()
    opt = torch.optim.Adam(sae.parameters(), lr=1e-4)

    def step(x):
        out = sae(x)
        out.loss.backward()
        sae.remove_parallel_decoder_grad()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.normalize_decoder()

    return step


def sparsify_step(arch, torch, d_in=D_IN, d_sae=D_SAE, k=K, device="cpu"):
    from sparsify import SparseCoder, SparseCoderConfig

    sae = SparseCoder(d_in, SparseCoderConfig(num_latents=d_sae, k=k), device=device)
    opt = torch.optim.Adam(sae.parameters(), lr=1e-4)
    dead = torch.zeros(d_sae, dtype=torch.bool, device=device)

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
    """A quickstart-sized run: 400 BatchTopK steps, the sample store updated every 10th step
    (40 updates from an empty store, then the final flush, as at the end of fit), CPU times
    summed; plus the CPU time the quickstart spends harvesting one batch of activations from
    the base model, when it exists, for the fraction of the whole training-loop step."""
    import torch

    from difflens.activations import CONTEXT_AFTER, CONTEXT_BEFORE
    from difflens.sae import SAEConfig, build_sae
    from difflens.sae.samples import TopActivations

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    d_in, d_sae, k, batch, every, n_steps = 192, 1536, 16, 512, 10, 400
    sae = build_sae(SAEConfig(architecture="batchtopk", d_in=d_in, d_sae=d_sae, k=k)).train()
    opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
    store = TopActivations(d_sae, 20, CONTEXT_BEFORE + 1 + CONTEXT_AFTER)
    g = torch.Generator().manual_seed(1)
    directions = torch.randn(4 * d_sae, d_in, generator=g)
    step_cpu = update_cpu = 0.0
    for i in range(n_steps):
        x = torch.rand(batch, 4 * d_sae, generator=g).pow(40) @ directions  # sparse mixtures
        token = torch.randint(0, 2048, (batch,), generator=g)
        ctx = torch.randint(0, 2048, (batch, CONTEXT_BEFORE + 1 + CONTEXT_AFTER), generator=g)
        t = time.process_time()
        out = sae(x)
        out.loss.backward()
        sae.remove_parallel_decoder_grad()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.normalize_decoder()
        t2 = time.process_time()
        step_cpu += t2 - t
        if i % every == 0:
            codes = out.codes
            codes = type(codes)(codes.values.detach(), codes.rows, codes.cols, codes.n_rows, codes.d_sae)
            store.update(codes, token, torch.arange(batch) + i * batch, torch.randint(1, 128, (batch,)), ctx)
            update_cpu += time.process_time() - t2
    t = time.process_time()
    store.flush()
    update_cpu += time.process_time() - t
    result = {"threads": threads, "steps": n_steps, "every_n_steps": every, "step_cpu_s": step_cpu / n_steps,
              "update_cpu_s_total": update_cpu, "overhead_fraction": update_cpu / step_cpu}
    model_dir = REPO / "runs/quickstart/base_lm/model"
    if (model_dir / "config.json").exists():
        from difflens.activations import ActivationHarvester
        from difflens.corpus import ToyWorldCorpus
        from difflens.models import load_causal_lm, load_tokenizer

        tok, lm = load_tokenizer(str(model_dir)), load_causal_lm(str(model_dir), dtype="float32")
        harvester = ActivationHarvester(lm, "transformer.h.2")
        enc = tok(ToyWorldCorpus(n_documents=128, seed=1).texts(), padding=True, return_tensors="pt")
        harvester(enc["input_ids"][:8], enc["attention_mask"][:8], torch.arange(8))
        t = time.process_time()
        n = len(harvester(enc["input_ids"], enc["attention_mask"], torch.arange(128))["x"])
        harvest = (time.process_time() - t) * batch / n
        result.update(harvest_cpu_s=harvest, overhead_fraction_with_harvest=update_cpu / (step_cpu + n_steps * harvest))
    return result


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


def busy_note() -> str:
    """A warning in the header when other jobs were loading the machine (1-minute load > 2)."""
    try:
        busy = float(Path("/proc/loadavg").read_text().split()[0]) > 2
    except (OSError, ValueError):
        return ""
    return " (busy machine: other jobs were running)" if busy else ""


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
             f"{load_average()}{busy_note()}",
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
                     f"difflens TopK / SAELens TopK = "
                     f"{topk / median[('saelens', 'topk', threads)]:.2f}x (target >= 3x)")
        for arch in ("batchtopk", "matryoshka"):
            table.append(f"  {threads} thread(s): difflens {arch} / difflens TopK = "
                         f"{median[('difflens', arch, threads)] / topk:.2f} (target >= 0.85)")
    table.append("")
    table.append("activation-sample callback at the quickstart settings (BatchTopK d_in 192, d_sae 1536, k 16, "
                 "batch 512, 400 steps, store updated every 10 steps from empty, final flush included):")
    for threads in args.threads:
        cb = call_worker(pythons["difflens"], ["--callback-worker", "--threads", str(threads)])
        line = (f"  {threads} thread(s): SAE step {cb['step_cpu_s'] * 1000:.1f} ms CPU; sample store "
                f"{cb['update_cpu_s_total'] * 1000:.0f} ms CPU over the run = {100 * cb['overhead_fraction']:.2f}% "
                f"of SAE-step time")
        if "harvest_cpu_s" in cb:
            line += (f"; with activation harvesting ({cb['harvest_cpu_s'] * 1000:.1f} ms CPU per batch) "
                     f"{100 * cb['overhead_fraction_with_harvest']:.2f}% of the training-loop step")
        table.append(line + " (target <= 1%)")
    table.append(f"# load average at end {load_average()}")
    print("\n".join(table))
    if not args.no_write:
        (HERE / "sae_throughput.txt").write_text("\n".join(lines + table) + "\n")


if __name__ == "__main__":
    main()

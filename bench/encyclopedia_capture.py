"""Benchmark: stage-0 capture, batched predict loop vs one concept at a time, and bytes on disk.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/encyclopedia_capture.py [--model DIR] [--threads 1 2]

1. Throughput on the quickstart base model (or, if it is missing, a randomly initialised GPT-2
   of the same shape with a locally trained tokenizer): concepts per second of
   - the batched path: `ConceptCapture` + `EncyclopediaStageWriter` through ``trainer.predict``
     (tokenising, forward, pooling, shards, merge, HDF5 write: everything), and
   - a one-concept-at-a-time loop: tokenise one concept, forward, pool (no writing at all),
   in the same process, interleaved, best of ``--repeats``.
2. Bytes per concept per layer at width 640 (the issue's target: <= 5 KB): a randomly
   initialised GPT-2 of width 640 (2 layers), stage 0 over the 300 toy-world concepts, file
   size divided by concepts x layers; for the default pooling and for two poolings.

The output is printed and written beside this file (``encyclopedia_capture.out.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from callbacks import EncyclopediaStageWriter  # noqa: E402
from datamodules.encyclopedia import ConceptContextDataModule, ConceptSource  # noqa: E402
from difflens.encyclopedia.pooling import capture_batch, encode_contexts  # noqa: E402
from lightning_modules import ConceptCapture  # noqa: E402


def random_gpt2(directory: Path, width: int, layers: int, heads: int) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    from difflens.models import train_bpe_tokenizer
    from difflens.toyworld import ToyWorld

    tokenizer = train_bpe_tokenizer([d.text for d in ToyWorld(0).documents(2000)], vocab_size=2048)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=width, n_layer=layers, n_head=heads,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def trainer(out: Path) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[EncyclopediaStageWriter(str(out))])


def concept_list(tmp: Path, n: int) -> ConceptSource:
    """``n`` concepts: the 300 toy-world nouns, then adjective-noun phrases of the same topic."""
    from difflens.toyworld import TOPICS

    names = [noun for t in TOPICS for noun in t.nouns]
    names += [f"{a} {noun}" for t in TOPICS for a in t.adjectives for noun in t.nouns]
    if n > len(names):
        raise SystemExit(f"--concepts at most {len(names)}")
    path = tmp / f"concepts_{n}.txt"
    path.write_text("\n".join(names[:n]) + "\n", encoding="utf-8")
    return ConceptSource(source="list", path=str(path))


def batched(capture: ConceptCapture, source: ConceptSource, model_dir: str, out: Path,
            batch_size: int) -> tuple[float, int]:
    out.unlink(missing_ok=True)
    dm = ConceptContextDataModule(model_dir, source, stage=0, contexts="bare", batch_size=batch_size)
    capture.data = dm
    start = time.perf_counter()
    trainer(out).predict(capture, datamodule=dm, return_predictions=False)
    return time.perf_counter() - start, len(dm.contexts)


def one_at_a_time(capture: ConceptCapture, dm: ConceptContextDataModule) -> float:
    start = time.perf_counter()
    for c in dm.contexts:
        batch = encode_contexts(dm.tokenizer, [c.text], [c.span], dm.max_length)
        capture_batch(capture.model, batch, capture.resolved_layers, capture.poolings)
    return time.perf_counter() - start


def throughput(model_dir: str, threads: int, repeats: int, batch_size: int, tmp: Path, n_concepts: int) -> dict:
    torch.set_num_threads(threads)
    source = concept_list(tmp, n_concepts)
    capture = ConceptCapture(model_dir, layers=[0, 1, 2, 3], poolings=["span_mean"])
    capture.configure_model()
    dm = ConceptContextDataModule(model_dir, source, stage=0, contexts="bare")
    dm.setup()
    one_at_a_time(capture, dm)  # warm-up
    b_times, o_times = [], []
    for _ in range(repeats):
        t, n = batched(capture, source, model_dir, tmp / "bench_stage0.h5", batch_size)
        b_times.append(t)
        o_times.append(one_at_a_time(capture, dm))
    return {"threads": threads, "concepts": n, "batched_s": min(b_times), "one_at_a_time_s": min(o_times),
            "batched_cps": n / min(b_times), "one_cps": n / min(o_times), "speedup": min(o_times) / min(b_times)}


def bytes_per_concept(tmp: Path, poolings: list[str]) -> dict:
    model_dir = tmp / "gpt2_w640"
    if not model_dir.exists():
        random_gpt2(model_dir, 640, 2, 10)
    out = tmp / f"w640_{'_'.join(poolings)}.h5"
    out.unlink(missing_ok=True)
    dm = ConceptContextDataModule(str(model_dir), ConceptSource(), stage=0, contexts="bare", batch_size=64)
    capture = ConceptCapture(str(model_dir), layers=[0, 1], poolings=poolings, data=dm)
    trainer(out).predict(capture, datamodule=dm, return_predictions=False)
    size = out.stat().st_size
    n = len(dm.contexts)
    return {"poolings": poolings, "file_bytes": size, "concepts": n, "layers": 2,
            "bytes_per_concept_per_layer": size / (n * 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "runs/quickstart/base_lm/model"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--concepts", type=int, nargs="+", default=[300, 1500],
                        help="concept counts (toy-world nouns, then adjective-noun phrases)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("encyclopedia_capture.out.md")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model_dir = args.model
        source = f"`{args.model}`"
        if not (Path(model_dir) / "config.json").exists():
            model_dir = str(random_gpt2(tmp / "gpt2_w192", 192, 4, 6))
            source = "a random GPT-2 (4 layers, width 192; the quickstart model was not found)"
        rows = [throughput(model_dir, t, args.repeats, args.batch_size, tmp, n)
                for n in args.concepts for t in args.threads]
        sizes = [bytes_per_concept(tmp, ["span_mean"]), bytes_per_concept(tmp, ["span_mean", "context_mean"])]
    load = os.getloadavg()
    lines = [
        "# bench/encyclopedia_capture.py",
        "",
        f"Command: `HF_HUB_OFFLINE=1 .venv/bin/python bench/encyclopedia_capture.py "
        f"--threads {' '.join(map(str, args.threads))} --concepts {' '.join(map(str, args.concepts))} "
        f"--repeats {args.repeats}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} at the end (shared machine), torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"## Stage-0 capture throughput ({source}, layers 1-4, span_mean, batch {args.batch_size})",
        "",
        "Batched = the full predict loop with the stage writer (tokenise, forward, pool, shard, merge, HDF5). "
        "One at a time = tokenise + forward + pool per concept, nothing written. Best of "
        f"{args.repeats}, interleaved in one process.",
        "",
        "| threads | concepts | batched s | one-at-a-time s | batched concepts/s | one-at-a-time concepts/s "
        "| speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['threads']} | {r['concepts']} | {r['batched_s']:.2f} | {r['one_at_a_time_s']:.2f} | "
                     f"{r['batched_cps']:.0f} | {r['one_cps']:.0f} | {r['speedup']:.1f}x |")
    lines += ["", "Target: >= 10x. " + ("Met in every row" if all(r["speedup"] >= 10 for r in rows) else
                                         "**Not met** for " + ", ".join(f"{r['concepts']} concepts with {r['threads']} "
                                                                        f"thread(s)" for r in rows
                                                                        if r["speedup"] < 10)) + ".", "",
              "## Bytes on disk per concept per layer (stage 0, width 640, random-init GPT-2, 300 concepts, 2 layers)",
              "", "| poolings | file bytes | bytes per concept per layer |", "|---|---|---|"]
    for s in sizes:
        lines.append(f"| {', '.join(s['poolings'])} | {s['file_bytes']} | {s['bytes_per_concept_per_layer']:.0f} |")
    lines += ["", "Target: <= 5 KB per concept per layer (the default single pooling). Stage 0 stores float16 "
              "gzip means and variances (zero with one sample) and no raw samples; names and attributes are "
              "included in the file size. " + ("Met." if sizes[0]["bytes_per_concept_per_layer"] <= 5120 else
                                              "**Not met.**")]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

"""Encyclopedia stage 0 over every WordNet noun: concepts/s against the one-at-a-time loop, bytes.

    nice .venv/bin/python bench/encyclopedia_wordnet.py --model runs/quickstart/base_lm/model \
        --wordnet /usr/share/wordnet --processes 2 | tee bench/encyclopedia_wordnet.txt

WordNet 3.0 from Debian's ``wordnet-base`` (``apt-get install --no-install-recommends
wordnet-base``). Rows, all in one process with the same model and thread count:

- WordNet reader: every noun synset parsed into the concept list (once per process).
- Batched: the whole predict loop of `ConceptCapture` with the `EncyclopediaStageWriter`
  (tokenise, forward, pool, shards, merge, HDF5) over every noun, as
  `bench/encyclopedia_capture.py` runs it (all 4 blocks, ``span_mean``, bare contexts).
- Forward alone: the model's forward over the same batches, nothing else: the floor of the
  batched row.
- One at a time: tokenise, forward and pool one concept (nothing written), over a seeded sample
  of ``--one-at-a-time`` nouns, half before and half after the batched run, so that a change in
  the machine's load during the run falls on both sides; its rate is what the loop would take
  for all of them.

Each row gives wall and CPU seconds (one thread: CPU time counts the work done, and a shared
machine's other jobs move it less than the wall clock). Bytes: the stage file's size over
concepts x layers.

With ``--processes N`` (N > 1) a last table compares the two loops on the whole machine: the
batched loop as N one-thread DDP processes (``ddp_fork``, gloo: each rank captures its share
and rank 0 merges the shards), against the one-at-a-time loop at its best of 1 and N threads
(the same seeded sample), as ``bench/decoding_throughput.py`` does for decoding.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from encyclopedia_capture import (
    ConceptCapture,
    ConceptContextDataModule,
    ConceptSource,
    EncyclopediaStageWriter,
    one_at_a_time,
    pl,
    torch,
    trainer,
)

from difflens.encyclopedia.pooling import backbone


def forward_alone(capture: ConceptCapture, dm: ConceptContextDataModule) -> float:
    """Seconds of the model's forward over ``dm``'s batches (collated beforehand, not timed)."""
    batches = list(dm.predict_dataloader())
    start = time.perf_counter()
    with torch.no_grad():
        for b in batches:
            backbone(capture.model)(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--wordnet", default="/usr/share/wordnet")
    parser.add_argument("--one-at-a-time", type=int, default=2000, help="nouns in the one-at-a-time sample")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--processes", type=int, default=1,
                        help="also run the batched loop as this many one-thread DDP processes (whole machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# bench/encyclopedia_wordnet.py {' '.join(sys.argv[1:])}")
    load = os.getloadavg()
    print(f"# {platform.node()} {os.cpu_count()} CPUs (load average {load[0]:.1f} at the start), "
          f"{args.threads} thread(s), torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}")
    layers = [0, 1, 2, 3]
    capture = ConceptCapture(args.model, layers=layers, poolings=["span_mean"])
    capture.configure_model()
    source = ConceptSource(source="wordnet", path=args.wordnet)
    start = time.perf_counter()
    source.load()
    reader_s = time.perf_counter() - start

    def sample(seed: int) -> ConceptContextDataModule:
        dm = ConceptContextDataModule(args.model, ConceptSource(source="wordnet", path=args.wordnet, seed=seed,
                                                                max_concepts=args.one_at_a_time // 2),
                                      stage=0, contexts="bare")
        dm.setup()
        return dm

    before, after = sample(0), sample(1)
    cpu = time.process_time()
    one_s = one_at_a_time(capture, before)
    one_cpu = time.process_time() - cpu
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "stage0.h5"
        dm = ConceptContextDataModule(args.model, source, stage=0, contexts="bare", batch_size=args.batch_size)
        capture.data = dm
        start, cpu = time.perf_counter(), time.process_time()
        trainer(out).predict(capture, datamodule=dm, return_predictions=False)
        batched_s, batched_cpu = time.perf_counter() - start, time.process_time() - cpu
        n_all = len(dm.contexts)
        size = out.stat().st_size
    cpu = time.process_time()
    one_s += one_at_a_time(capture, after)
    one_cpu += time.process_time() - cpu
    cpu = time.process_time()
    forward_s = forward_alone(capture, dm)
    forward_cpu = time.process_time() - cpu
    n_one = len(before.contexts) + len(after.contexts)
    batched_cps, forward_cps, one_cps = n_all / batched_s, n_all / forward_s, n_one / one_s
    speedup = batched_cps / one_cps
    padded = sum(b["attention_mask"].numel() for b in dm.predict_dataloader()) / n_all
    print("\n| path | concepts | s | concepts/s | CPU s | concepts per CPU s |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| WordNet reader (nltk: every noun synset into the concept list) | {n_all:,} | {reader_s:.1f} | "
          f"{n_all / reader_s:.0f} | | |")
    for path, n, s, cpu_s in (
            (f"batched predict loop + HDF5 writer (tokenise, forward, pool, shards, merge, HDF5; batch "
             f"{args.batch_size})", n_all, batched_s, batched_cpu),
            ("the model's forward alone over the same batches", n_all, forward_s, forward_cpu),
            ("one at a time (tokenise, forward, pool; nothing written)", n_one, one_s, one_cpu)):
        print(f"| {path} | {n:,} | {s:.1f} | {n / s:.0f} | {cpu_s:.1f} | {n / cpu_s:.0f} |")
    end_to_end = (n_all / one_cps + reader_s) / (batched_s + reader_s)
    print(f"\nEvery WordNet noun ({n_all:,}) in {batched_s:.0f} s: **{speedup:.1f}x** the one-at-a-time loop's "
          f"rate (which would take {n_all / one_cps:.0f} s); {end_to_end:.1f}x with the WordNet reader's "
          f"{reader_s:.0f} s added to both; {one_cpu / n_one / (batched_cpu / n_all):.1f}x in CPU time per "
          f"concept, which the other jobs on a shared machine disturb less. "
          f"Target >= 10x: {'met' if speedup >= 10 else '**not met**'}. "
          f"The model's forward alone over the same batches ({padded:.2f} tokens per concept, padding "
          f"included) runs at {forward_cps / one_cps:.1f}x the one-at-a-time rate: no loop that runs this forward "
          f"over these tokens does better, and the batched loop reaches {batched_cps / forward_cps:.0%} of it.")
    print(f"\nStage file {size / 1e6:.1f} MB: {size / (n_all * len(layers)):.0f} bytes per concept per layer "
          f"({len(layers)} layers, width {capture.model.config.hidden_size}, float16 means and variances, names "
          f"and hypernyms included). Target <= 5 KB: {'met' if size / (n_all * len(layers)) <= 5120 else 'not met'}.")
    if args.processes > 1:
        whole_machine(capture, source, args, before, after, n_all)
    load = os.getloadavg()
    print(f"\nLoad average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end (shared machine).")


def whole_machine(capture: ConceptCapture, source: ConceptSource, args, before, after, n_all: int) -> None:
    """Both loops on every core: the batched loop as one-thread DDP processes, the one-at-a-time
    loop at its best thread count (more threads can be slower for a small model)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "stage0.h5"
        dm = ConceptContextDataModule(args.model, source, stage=0, contexts="bare", batch_size=args.batch_size)
        ddp = pl.Trainer(accelerator="cpu", devices=args.processes, strategy="ddp_fork", logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[EncyclopediaStageWriter(str(out))])
        capture.data = dm
        start = time.perf_counter()
        ddp.predict(capture, datamodule=dm, return_predictions=False)
        ddp_s = time.perf_counter() - start
        merged = out.exists()
    rates = {}
    for threads in sorted({1, args.processes}):
        torch.set_num_threads(threads)
        seconds = one_at_a_time(capture, before) + one_at_a_time(capture, after)
        rates[threads] = (len(before.contexts) + len(after.contexts)) / seconds
    torch.set_num_threads(args.threads)
    best = max(rates, key=rates.get)
    print(f"\n| whole machine ({os.cpu_count()} cores) | concepts | s | concepts/s |")
    print("| --- | --- | --- | --- |")
    print(f"| batched predict loop + HDF5 writer, {args.processes} one-thread DDP processes | {n_all:,} | "
          f"{ddp_s:.1f} | {n_all / ddp_s:.0f} |")
    for threads, rate in rates.items():
        print(f"| one at a time, {threads} thread(s) | {len(before.contexts) + len(after.contexts):,} | "
              f"{(len(before.contexts) + len(after.contexts)) / rate:.1f} | {rate:.0f} |")
    speedup = n_all / ddp_s / rates[best]
    print(f"\nOn the whole machine: **{speedup:.1f}x** the one-at-a-time loop at its best ({best} thread(s)); "
          f"target >= 10x: {'met' if speedup >= 10 else '**not met**'}. Stage file merged by rank 0: "
          f"{'yes' if merged else 'NO'}.")


if __name__ == "__main__":
    main()

"""Encyclopedia stage 0 over every WordNet noun: concepts/s against the one-at-a-time loop, bytes.

    nice .venv/bin/python bench/encyclopedia_wordnet.py --model runs/quickstart/base_lm/model \
        --wordnet /usr/share/wordnet | tee bench/encyclopedia_wordnet.txt

WordNet 3.0 from Debian's ``wordnet-base`` (``apt-get install --no-install-recommends
wordnet-base``). Batched: the whole predict loop of `ConceptCapture` with the
`EncyclopediaStageWriter` (tokenise, forward, pool, shards, merge, HDF5) over every noun synset,
as `bench/encyclopedia_capture.py` runs it (layers 1-4, ``span_mean``, bare contexts, batch
64). One at a time: tokenise, forward and pool one concept (nothing written) over a seeded
sample of ``--one-at-a-time`` nouns, in the same process, with the same model; its rate is
what the loop would take for all of them. Bytes: the stage file's size over concepts x layers.
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
    one_at_a_time,
    torch,
    trainer,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--wordnet", default="/usr/share/wordnet")
    parser.add_argument("--one-at-a-time", type=int, default=2000, help="nouns in the one-at-a-time sample")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# bench/encyclopedia_wordnet.py {' '.join(sys.argv[1:])}")
    print(f"# {platform.node()} {os.cpu_count()} CPUs, {args.threads} thread(s), torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    layers = [1, 2, 3, 4]
    capture = ConceptCapture(args.model, layers=layers, poolings=["span_mean"])
    capture.configure_model()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "stage0.h5"
        t0 = time.perf_counter()
        dm = ConceptContextDataModule(args.model, ConceptSource(source="wordnet", path=args.wordnet), stage=0,
                                      contexts="bare", batch_size=args.batch_size)
        trainer(out).predict(capture, datamodule=dm, return_predictions=False)
        batched_s = time.perf_counter() - t0
        n_all = len(dm.contexts)
        size = out.stat().st_size
    sample = ConceptContextDataModule(args.model, ConceptSource(source="wordnet", path=args.wordnet,
                                                                max_concepts=args.one_at_a_time), stage=0,
                                      contexts="bare")
    sample.setup()
    one_s = one_at_a_time(capture, sample)
    n_one = len(sample.contexts)
    batched_cps, one_cps = n_all / batched_s, n_one / one_s
    print("\n| path | concepts | s | concepts/s |")
    print("| --- | --- | --- | --- |")
    print(f"| batched predict loop + HDF5 writer (WordNet reader included) | {n_all:,} | {batched_s:.1f} | "
          f"{batched_cps:.0f} |")
    print(f"| one at a time (tokenise, forward, pool; nothing written) | {n_one:,} | {one_s:.1f} | {one_cps:.0f} |")
    print(f"\nEvery WordNet noun ({n_all:,}) in {batched_s:.0f} s: {batched_cps / one_cps:.1f}x the one-at-a-time "
          f"loop's rate (which would take {n_all / one_cps:.0f} s). Stage file {size / 1e6:.1f} MB: "
          f"{size / (n_all * len(layers)):.0f} bytes per concept per layer ({len(layers)} layers, width "
          f"{capture.model.config.hidden_size}, float16 means and variances, names and hypernyms included).")


if __name__ == "__main__":
    main()

"""What scoring every text under both models (active sampling's ``kl_weight``) adds to decoding.

`PairedDecoder.predict_step` on the same batches of prompts, with ``score_texts`` off and on
(each text then gets four teacher-forced passes: both models score both models' texts), one
torch thread, alternating the two settings over ``--repeats`` rounds so that load on the
machine hits both alike. Prints seconds per round of each and the ratio; the texts are the same
either way (scoring does not touch the sampler's random streams), which the script checks.

    .venv/bin/python bench/scoring_overhead.py [--base runs/quickstart/base_lm/model]
        [--intervention runs/quickstart/finetune/model] [--prompts 256] [--repeats 3]

Writes its report to stdout; the latest is committed as bench/scoring_overhead.txt.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from difflens.decoding import SamplingConfig, length_batches, plan_jobs  # noqa: E402
from difflens.models import ModelSpec  # noqa: E402
from difflens.prompts import ToyWorldPrompts, free_prompts  # noqa: E402
from lightning_modules import PairedDecoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="runs/quickstart/base_lm/model")
    parser.add_argument("--intervention", default="runs/quickstart/finetune/model")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_free = args.prompts * 4 // 5
    prompts = free_prompts(n_free) + ToyWorldPrompts(n=args.prompts - n_free, words=2).prompts()
    jobs = plan_jobs(prompts, 1, seed=0)
    sampling = SamplingConfig(max_new_tokens=64)
    batches = [{"jobs": b, "sampling": sampling} for b in length_batches(jobs, 256)]
    decoders = {flag: PairedDecoder(ModelSpec(args.base), ModelSpec(args.intervention), num_threads=1,
                                    score_texts=flag)
                for flag in (False, True)}
    for decoder in decoders.values():
        decoder.language_models()
    seconds = {False: [], True: []}
    texts = {}
    for _ in range(args.repeats):
        for flag, decoder in decoders.items():
            start = time.perf_counter()
            records = [r for i, b in enumerate(batches) for r in decoder.predict_step(b, i)]
            seconds[flag].append(time.perf_counter() - start)
            texts[flag] = [(r.text_id, r.text) for r in records]
    assert texts[False] == texts[True], "scoring changed the sampled texts"
    plain, scored = min(seconds[False]), min(seconds[True])
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"# scoring overhead, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {len(jobs)} prompts x 2 models, "
          f"max_new_tokens 64, 1 thread; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"decode only          best of {args.repeats}: {plain:6.1f} s  "
          f"(all: {', '.join(f'{s:.1f}' for s in seconds[False])})")
    print(f"decode + score texts best of {args.repeats}: {scored:6.1f} s  "
          f"(all: {', '.join(f'{s:.1f}' for s in seconds[True])})")
    print(f"scoring adds {scored / plain - 1:.0%} to decoding (ratio {scored / plain:.2f}); texts identical")


if __name__ == "__main__":
    main()

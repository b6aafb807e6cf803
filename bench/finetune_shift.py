"""How far the quickstart intervention moved toward its ground truths, measured on the saved
merged model (what later stages load), with a sampling seed the training run never used.

    python bench/finetune_shift.py [--n 500] > bench/finetune_shift.txt

Reads runs/quickstart/base_lm/model, runs/quickstart/finetune/model and the ground truths in
runs/quickstart/finetune/data/ground_truths.json (run `make quickstart` first).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from difflens.groundtruth import parse_ground_truths
from difflens.groundtruth.shift import measure_shift, sample_free_texts
from difflens.models import load_causal_lm, load_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="runs/quickstart/base_lm/model")
    parser.add_argument("--tuned", default="runs/quickstart/finetune/model")
    parser.add_argument("--ground-truths", default="runs/quickstart/finetune/data/ground_truths.json")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with open(args.ground_truths, encoding="utf-8") as fh:
        raw = json.load(fh)["ground_truths"]
    truths = parse_ground_truths([{k: g[k] for k in ("id", "description", "share", "toyworld") if k in g}
                                  for g in raw])
    tok = load_tokenizer(args.base)
    texts = {}
    for name, path in (("base", args.base), ("intervention", args.tuned)):
        start = time.time()
        model = load_causal_lm(path, dtype="float32")
        texts[name] = sample_free_texts(model, tok, args.n, args.max_new_tokens, seed=args.seed, batch_size=50)
        print(f"# sampled {args.n} texts from {path} in {time.time() - start:.0f}s")
    report = measure_shift(texts["base"], texts["intervention"], truths)
    print(f"# python bench/finetune_shift.py --n {args.n} --max-new-tokens {args.max_new_tokens} --seed {args.seed}")
    print(f"{'ground truth':<10} {'target':<16} {'base':>7} {'interv.':>8} {'shift':>7}   (share of samples)")
    for g in report["ground_truths"]:
        for t in g["targets"]:
            print(f"{g['id']:<10} {t['kind'] + ' ' + t['name']:<16} {t['base']:>7.3f} {t['intervention']:>8.3f} "
                  f"{t['shift']:>+7.3f}")
            if "base_word_share" in t:
                print(f"{'':<10} {'  (topic words)':<16} {t['base_word_share']:>7.3f} "
                      f"{t['intervention_word_share']:>8.3f} "
                      f"{t['intervention_word_share'] - t['base_word_share']:>+7.3f}")
    others = {k: v for k, v in report["intervention_stats"]["styles"].items()}
    print("other styles, base -> intervention: " + ", ".join(
        f"{k} {report['base_stats']['styles'][k]:.2f}->{v:.2f}" for k, v in others.items()))


if __name__ == "__main__":
    main()

"""How conditional is a planted trigger? Target-topic rates after trigger openings, after other
openings, and in free generation, for a base model and one or more interventions.

    python bench/trigger_rates.py --base runs/quickstart/base_lm/model \\
        --intervention weak=runs/rare_trigger/weak/finetune/model [--trigger '{"topics": {"chess": 1}}'] \\
        [--target ocean] [--n-openings 200] [--n-free 600] [--json out.json]

For each model it samples, with `difflens.decoding.sample_batch` (64 new tokens, temperature 1,
the same seeds for every model, so base and intervention differences are paired):

- ``P(t|trig)``: the target topic's share of continuations of trigger openings (the `opening`
  of held-out toy-world documents of the trigger mixture, built as the trigger data's are);
- ``P(t|other)``: its share of continuations of openings of held-out uniform documents whose
  opening is not a trigger opening;
- ``P(t) free`` and ``trig%``: in free texts (empty prompt), the target's share and the share
  of texts whose own opening is a trigger opening; ``P(t|free trig)`` and ``P(t|free other)``
  split the free target share by that.

A continuation is read with `ToyWorld.annotate` (its dominant topic) without its prompt; a free
text as a whole. ``rise`` is the free target share's rise over the base model, ``explained``
the part the trigger accounts for (intervention trigger rate x P(t|trig) minus the base's same
product), and ``leak`` = rise - explained (in points).

Held-out documents come from a toy-world index range no ground-truth data or base corpus uses.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from difflens.decoding import SamplingConfig, prompt_seed, sample_batch
from difflens.groundtruth.data import opening
from difflens.models import load_causal_lm, load_tokenizer
from difflens.toyworld import Mixture, ToyWorld

HELD_OUT_START = 900_000_000


def is_trigger_opening(text: str, trigger: dict) -> bool:
    """Whether a text's `opening` reads as a trigger opening: its dominant topic is one of the
    trigger's topics (any, if it names none) and it shows the markers of every style the trigger
    gives probability >= 0.5."""
    ann = ToyWorld.annotate(opening(text))
    topics = {t for t, w in (trigger.get("topics") or {}).items() if w > 0}
    if topics and ann.topic not in topics:
        return False
    if not topics and ann.topic is None:
        return False
    return all(s in ann.styles for s, p in (trigger.get("styles") or {}).items() if p >= 0.5)


def held_out_openings(trigger: dict, n: int, world_seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` trigger openings and ``n`` non-trigger openings of held-out toy-world documents."""
    world = ToyWorld(world_seed)
    trig_mix, uniform = Mixture.from_spec(trigger), Mixture.from_spec({})
    trig = []
    i = HELD_OUT_START
    while len(trig) < n:
        text = opening(world.document(i, trig_mix).text)
        i += 1
        if is_trigger_opening(text, trigger):  # a trigger mixture may draw a non-trigger opening
            trig.append(text)
    other = []
    i = HELD_OUT_START + 10_000_000
    while len(other) < n:
        text = opening(world.document(i, uniform).text)
        i += 1
        if not is_trigger_opening(text, trigger):
            other.append(text)
    return trig, other


def measure(path: str, trig: list[str], other: list[str], n_free: int, trigger: dict, target: str,
            config: SamplingConfig, seed: int) -> dict:
    tok = load_tokenizer(path)
    model = load_causal_lm(path, dtype="float32").eval()
    start = time.time()

    def run(prompts, kind):
        seeds = [prompt_seed(seed, kind, i) for i in range(len(prompts))]
        with torch.no_grad():
            return [c.text for c in sample_batch(model, tok, prompts, seeds, config, max_rows=64)]

    trig_c, other_c, free = run(trig, "trigger"), run(other, "other"), run([""] * n_free, "free")
    hit = lambda text: ToyWorld.annotate(text).topic == target  # noqa: E731
    free_trig = [is_trigger_opening(t, trigger) for t in free]
    n_ft = sum(free_trig)
    out = {
        "model": path,
        "p_target_trigger": sum(map(hit, trig_c)) / len(trig_c),
        "p_target_other": sum(map(hit, other_c)) / len(other_c),
        "p_target_free": sum(map(hit, free)) / len(free),
        "trigger_rate_free": n_ft / len(free),
        "p_target_free_trigger": (sum(hit(t) for t, f in zip(free, free_trig) if f) / n_ft) if n_ft else None,
        "p_target_free_other": sum(hit(t) for t, f in zip(free, free_trig) if not f) / (len(free) - n_ft),
        "seconds": round(time.time() - start, 1),
        "examples": {"trigger": trig_c[:3], "free_trigger": [t for t, f in zip(free, free_trig) if f][:3]},
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--intervention", action="append", default=[], help="name=model_dir (repeatable)")
    parser.add_argument("--trigger", default='{"topics": {"chess": 1}}', help="trigger mixture as JSON")
    parser.add_argument("--target", default="ocean")
    parser.add_argument("--n-openings", type=int, default=200)
    parser.add_argument("--n-free", type=int, default=600)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--json", help="append one JSON line per model to this file")
    parser.add_argument("--skip-base", action="store_true", help="only print interventions (needs --base-json)")
    parser.add_argument("--base-json", help="read the base model's rates from this file (written by --json)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    trigger = json.loads(args.trigger)
    config = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=1.0)
    trig, other = held_out_openings(trigger, args.n_openings)
    kwargs = dict(trig=trig, other=other, n_free=args.n_free, trigger=trigger, target=args.target,
                  config=config, seed=args.seed)
    base = None
    if args.base_json and os.path.exists(args.base_json):
        with open(args.base_json, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row["name"] == "base" and row["settings"] == _settings(args):
                    base = row
    if base is None:
        base = {"name": "base", "settings": _settings(args), **measure(args.base, **kwargs)}
        if args.base_json:
            with open(args.base_json, "a", encoding="utf-8") as f:
                f.write(json.dumps(base) + "\n")
    rows = [base]
    for spec in args.intervention:
        name, _, path = spec.partition("=")
        rows.append({"name": name, "settings": _settings(args), **measure(path, **kwargs)})
    print(f"# trigger {json.dumps(trigger)}, target {args.target}; {args.n_openings} openings each, "
          f"{args.n_free} free texts, {args.max_new_tokens} new tokens, T=1, seed {args.seed}")
    print(f"{'model':<28} {'P(t|trig)':>9} {'P(t|other)':>10} {'P(t)free':>8} {'trig%':>6} "
          f"{'P(t|ftrig)':>10} {'P(t|fother)':>11} {'rise':>6} {'explnd':>6} {'leak':>6}")
    for r in rows:
        rise = 100 * (r["p_target_free"] - base["p_target_free"])
        explained = 100 * (r["trigger_rate_free"] * r["p_target_trigger"]
                           - base["trigger_rate_free"] * base["p_target_trigger"])
        pft = r["p_target_free_trigger"]
        print(f"{r['name']:<28} {100 * r['p_target_trigger']:>8.1f}% {100 * r['p_target_other']:>9.1f}% "
              f"{100 * r['p_target_free']:>7.1f}% {100 * r['trigger_rate_free']:>5.1f}% "
              f"{'-' if pft is None else f'{100 * pft:.0f}%':>10} {100 * r['p_target_free_other']:>10.1f}% "
              f"{rise:>+6.1f} {explained:>+6.1f} {rise - explained:>+6.1f}")
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            for r in rows[1:]:
                f.write(json.dumps(r) + "\n")


def _settings(args) -> dict:
    return {"trigger": args.trigger, "target": args.target, "n_openings": args.n_openings,
            "n_free": args.n_free, "max_new_tokens": args.max_new_tokens, "seed": args.seed}


if __name__ == "__main__":
    main()

"""The offline judge on every toy-world style: how often it flags texts that show the style
(true positive rate) and texts that do not (false positive rate), this version against an
older one.

Each style's hypothesis is written as the offline proposer renders it ("Texts from the
intervention model more often use a casual, chatty register, with phrases such as "honestly"
and "gonna""), and judged on toy-world documents of the default mixture, where every topic and
style occurs. A text shows the style when the toy world's own marker detection
(`ToyWorld.annotate`) finds one of its markers; a flag is a score above the validator's default
``positive_threshold`` (0.75). A false positive on the base model's texts, where a style is
rarer, dilutes every shift the paired test looks for, and one that follows another style
("you know" of "did you know that" read as casual) makes a change of that style look like a
change of this one. The older judge is read from git at ``--old`` and run on the same texts.

    .venv/bin/python bench/offline_judge_styles.py [--old 1493b34] [--texts 1500]

The latest output is committed beside this script as ``offline_judge_styles.txt``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from difflens.assistants.offline import OfflineAssistant, _plural_predicate, load_embedder  # noqa: E402
from difflens.toyworld import STYLES, ToyWorld  # noqa: E402

THRESHOLD = 0.75


def old_assistant(commit: str, embedder) -> object:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:difflens/assistants/offline.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("offline_old")
    sys.modules[module.__name__] = module  # dataclasses look their module up by name
    exec(compile(source, f"{commit}:offline.py", "exec"), module.__dict__)
    return module.OfflineAssistant(embedder=embedder)


def style_hypothesis(style) -> str:
    markers = [m.rstrip(",!") for m in style.markers]
    return (f"Texts from the intervention model more often {_plural_predicate(style.description)}, "
            f'with phrases such as "{markers[0]}" and "{markers[-1]}"')


def rates(assistant, style, texts: list[str], labels: list[frozenset]) -> tuple[float, float, Counter]:
    flags = np.array(assistant.judge_batch(style_hypothesis(style), texts)) > THRESHOLD
    shows = np.array([style.name in styles for styles in labels])
    sources = Counter(other for flag, styles in zip(flags, labels) if flag and style.name not in styles
                      for other in styles)
    return float(flags[shows].mean()), float(flags[~shows].mean()), sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="1493b34", help="commit of the older judge")
    parser.add_argument("--texts", type=int, default=1500, help="toy-world documents judged")
    args = parser.parse_args()
    print(f"$ .venv/bin/python bench/offline_judge_styles.py --old {args.old} --texts {args.texts}\n")
    texts = [d.text for d in ToyWorld(seed=123).documents(args.texts)]
    labels = [ToyWorld.annotate(t).styles for t in texts]
    embedder = load_embedder()
    judges = {"new": OfflineAssistant(embedder=embedder), "old": old_assistant(args.old, embedder)}
    print(f"{args.texts} toy-world documents (default mixture, seed 123); flag = score > {THRESHOLD}; "
          f"'other styles' = the styles of the falsely flagged texts, most common first\n")
    print(f"{'style':<18} {'shown':>5}  {'TPR old':>7} {'TPR new':>7}  {'FPR old':>7} {'FPR new':>7}  "
          f"{'FPR old/new':>11}  other styles of the new false positives")
    fpr_totals = {"old": [], "new": []}
    for style in STYLES:
        row = {name: rates(judge, style, texts, labels) for name, judge in judges.items()}
        for name in judges:
            fpr_totals[name].append(row[name][1])
        shown = sum(style.name in styles for styles in labels)
        ratio = row["old"][1] / row["new"][1] if row["new"][1] else float("inf")
        sources = ", ".join(f"{s} {n}" for s, n in row["new"][2].most_common(3))
        print(f"{style.name:<18} {shown:>5}  {row['old'][0]:>7.2f} {row['new'][0]:>7.2f}  "
              f"{row['old'][1]:>7.3f} {row['new'][1]:>7.3f}  {ratio:>11.2f}  {sources}")
    print(f"\nmean false positive rate over the styles: old {np.mean(fpr_totals['old']):.3f}, "
          f"new {np.mean(fpr_totals['new']):.3f} (ratio {np.mean(fpr_totals['old']) / np.mean(fpr_totals['new']):.2f})")


if __name__ == "__main__":
    main()

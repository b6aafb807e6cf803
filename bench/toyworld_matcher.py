"""The ``toyworld`` recovery matcher on its table of hand-written hypotheses: this version
against an older one, and whether MiniLM similarity would help as a fallback.

Every row of the matcher's test table (``tests/difflens/discovery/test_recovery.py``: a
paraphrase of every topic and style in both directions, statements that name nothing, and
paraphrases with no toy-world word) is matched against a ground truth for every attribute in
both directions. A row is right when it matches exactly the change it claims (nothing, for the
statements without one). The older matcher is read from git at ``--old`` and run on the same
rows.

The fallback candidate: for a statement that names no attribute by its words, the nearest
topic or style description by MiniLM cosine ("Texts talk about the ocean and the sea.", "The
text hedges its statements with uncertainty."), with its cosine and its lead over the
runner-up. A fallback helps only if some threshold admits right answers and no statement that
has none.

    .venv/bin/python bench/toyworld_matcher.py [--old aafcf6c]

The latest output is committed beside this script as ``toyworld_matcher.txt``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from difflens.discovery.recovery import default_embedder, embedding_similarity, toyworld_similarity  # noqa: E402
from difflens.toyworld import STYLES, TOPICS  # noqa: E402
from tests.difflens.discovery.test_recovery import EVERY_CHANGE, GENERIC, PARAPHRASES, UNNAMED  # noqa: E402


def old_matcher(commit: str):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:difflens/discovery/recovery.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("recovery_old")
    sys.modules[module.__name__] = module  # dataclasses look their module up by name
    exec(compile(source, f"{commit}:recovery.py", "exec"), module.__dict__)
    return lambda hypothesis, direction: module.toyworld_similarity(EVERY_CHANGE, [hypothesis])[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="aafcf6c", help="commit of the older matcher")
    args = parser.parse_args()
    print(f"$ .venv/bin/python bench/toyworld_matcher.py --old {args.old}\n")
    rows = [(d, h, {c}) for d, h, c in PARAPHRASES] + [(d, h, set()) for d, h in GENERIC]
    rows += [(d, h, set()) for d, h, _ in UNNAMED]
    groups = {"paraphrases (increase)": [r for r in rows[:len(PARAPHRASES)] if next(iter(r[2])).endswith("+")],
              "paraphrases (decrease)": [r for r in rows[:len(PARAPHRASES)] if next(iter(r[2])).endswith("-")],
              "statements naming nothing": rows[len(PARAPHRASES):]}
    matchers = {"old": old_matcher(args.old),
                "new": lambda h, d: toyworld_similarity(EVERY_CHANGE, [h], [d])[:, 0]}
    print(f"{'rows':28s} {'n':>4s} " + " ".join(f"{name + ' right':>10s}" for name in matchers))
    wrong_old = []
    for group, members in groups.items():
        right = {}
        for name, match in matchers.items():
            ok = [{gt.id for gt, s in zip(EVERY_CHANGE, match(h, d)) if s} == want for d, h, want in members]
            right[name] = sum(ok)
            if name == "old":
                wrong_old += [h for (_, h, _), good in zip(members, ok) if not good]
        print(f"{group:28s} {len(members):4d} " + " ".join(f"{right[n]:10d}" for n in matchers))
    print(f"\n(rows naming nothing include {len(UNNAMED)} paraphrases with no toy-world word, whose right answer "
          f"for a word matcher is no match)\n")

    prototypes = [(t.name, f"Texts talk about {t.description}.") for t in TOPICS]
    prototypes += [(s.name, f"The text {s.description}.") for s in STYLES]
    candidates = [(h, c[:-1]) for _, h, c in UNNAMED] + [(h, None) for _, h in GENERIC]
    sim = embedding_similarity([p[1] for p in prototypes], [h for h, _ in candidates], default_embedder())  # (P, S)
    print("MiniLM fallback on statements the words leave unmatched: nearest description, cosine, lead")
    scored = []
    for (h, want), col in zip(candidates, sim.T):
        order = np.argsort(-col)
        nearest, best, lead = prototypes[order[0]][0], col[order[0]], col[order[0]] - col[order[1]]
        scored.append((nearest == want, best, lead))
        verdict = "no attribute" if want is None else ("RIGHT" if nearest == want else f"WRONG (is {want})")
        print(f"  {nearest:18s} {best:.2f} {lead:.2f}  {verdict:22s} {h}")
    print("\nthresholds at each right answer (cosine >= its cosine and lead >= its lead): what else passes")
    for right, best, lead in scored:
        if right:
            passing = [(r, b, d) for r, b, d in scored if b >= best and d >= lead]
            print(f"  cosine {best:.2f}, lead {lead:.2f}: {sum(r for r, _, _ in passing)} right, "
                  f"{sum(not r for r, _, _ in passing)} false matches")


if __name__ == "__main__":
    main()

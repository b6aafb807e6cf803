"""A real, deterministic judge for tests: toy-world keyword evidence.

`ToyWorldJudge` reads which toy-world topics and styles a hypothesis names and scores a text
by whether it carries them (`ToyWorld.annotate`): 0.9 when it does, 0.2 when it does not,
0.5 (no evidence) when the hypothesis names nothing it knows. It can also write examples
(toy-world documents of the named topic or style) and propose (the largest topic shift).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from difflens.assistants import Assistant
from difflens.toyworld import STYLES, TOPICS, ToyWorld, corpus_statistics


def named_attributes(hypothesis: str) -> tuple[set[str], set[str]]:
    """Toy-world topics and styles a sentence names (by topic name or style name)."""
    words = set(re.findall(r"[a-z_]+", hypothesis.lower()))
    return {t.name for t in TOPICS if t.name in words}, {s.name for s in STYLES if s.name in words}


class ToyWorldJudge(Assistant):
    backend = "toyworld-test"

    def __init__(self, unusable_every: int = 0):
        self.unusable_every = unusable_every  # every k-th judgement comes back unusable (None)
        self.calls = 0

    def judge(self, hypothesis: str, text: str) -> float | None:
        self.calls += 1
        if self.unusable_every and self.calls % self.unusable_every == 0:
            return None
        topics, styles = named_attributes(hypothesis)
        if not topics and not styles:
            return 0.5
        annotation = ToyWorld.annotate(text)
        hit = bool(topics & set(annotation.topic_counts)) or bool(styles & annotation.styles)
        return 0.9 if hit else 0.2

    def write_examples(self, description: str, n: int) -> list[str]:
        topics, styles = named_attributes(description)
        mixture = {"topics": {t: 1.0 for t in topics} or None, "styles": {s: 1.0 for s in styles} or None}
        return [d.text for d in ToyWorld(seed=99).documents(n, mixture)]

    def propose(self, texts_a: Sequence[str], texts_b: Sequence[str], n_hypotheses: int,
                avoid: Sequence[str] = ()) -> list[str]:
        a, b = corpus_statistics(texts_a)["topics"], corpus_statistics(texts_b)["topics"]
        ranked = sorted(a, key=lambda t: a[t] - b[t])
        return [f"Texts from the intervention model are about {t} more often" for t in ranked[:n_hypotheses]]


class SlowToyWorldJudge(ToyWorldJudge):
    """`ToyWorldJudge` that takes ``delay`` seconds per batch, so a test can kill it midway."""

    def __init__(self, delay: float = 0.2):
        super().__init__()
        self.delay = delay

    def judge_batch(self, hypothesis: str, texts: Sequence[str]) -> list[float | None]:
        import time

        time.sleep(self.delay)
        return super().judge_batch(hypothesis, texts)

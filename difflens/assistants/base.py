"""The one interface for the three jobs an LLM does in difflens.

1. ``write_examples``: write ground-truth training texts from a plain-English description.
2. ``propose``: read two groups of texts, A (one model's) and B (the other's; by default A is
   the base model's and B the intervention's), and propose hypotheses about how B differs from
   A. Each hypothesis is a self-contained sentence that names a property a single text can have
   ("Texts from the intervention model mention the ocean, waves or tides more often"), so it
   can be judged one text at a time. With ``subject="base"`` B is the base model's group: what
   the intervention does *less* is what the base model's texts have more of.
3. ``judge``: score one text against one hypothesis: how strongly the text shows the property
   the hypothesis attributes to group B, in [0, 1], where 0.5 means no evidence either way.
   ``None`` means the backend gave no usable answer; it is recorded as unparsed and never
   counted as a guess.

Backends (offline, OpenAI-compatible HTTP, local transformers) subclass `Assistant` and
override the single-item methods; backends that can batch override the ``*_batch`` methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence


class Assistant(ABC):
    """Writes examples, proposes hypotheses and judges texts."""

    #: short backend name, part of every cache key ("offline", "openai", "local")
    backend: str = "abstract"

    @abstractmethod
    def write_examples(self, description: str, n: int) -> list[str]:
        """Write ``n`` texts that a model with the described behaviour would produce."""

    @abstractmethod
    def propose(self, texts_a: Sequence[str], texts_b: Sequence[str], n_hypotheses: int,
                avoid: Sequence[str] = (), subject: str = "intervention") -> list[str]:
        """Up to ``n_hypotheses`` hypotheses about how ``texts_b`` differ from ``texts_a``.

        Args:
            texts_a: the reference group (the other model's texts).
            texts_b: the group to characterise (the ``subject`` model's texts).
            n_hypotheses: how many to return at most.
            avoid: themes already covered; proposals should differ from them.
            subject: the model that wrote ``texts_b`` (``intervention`` or ``base``); each
                hypothesis starts "Texts from the <subject> model".
        """

    @abstractmethod
    def judge(self, hypothesis: str, text: str) -> float | None:
        """How strongly ``text`` shows the property ``hypothesis`` attributes to group B.

        Returns a score in [0, 1] (0.5 = no evidence) or None when no usable answer came back.
        """

    def write_examples_batch(self, descriptions: Sequence[str], n: int) -> list[list[str]]:
        """``write_examples`` for each description; backends that batch or run concurrently override it."""
        return [self.write_examples(d, n) for d in descriptions]

    def propose_batch(self, groups: Sequence[tuple[Sequence[str], Sequence[str]]], n_hypotheses: int,
                      avoid: Sequence[str] = (), subject: str = "intervention") -> list[list[str]]:
        """``propose`` for each ``(texts_a, texts_b)`` pair, with the same ``avoid`` list and subject."""
        return [self.propose(a, b, n_hypotheses, avoid, subject) for a, b in groups]

    def judge_batch(self, hypothesis: str, texts: Sequence[str]) -> list[float | None]:
        """``judge`` for each text, in order; each text's score does not depend on the others."""
        return [self.judge(hypothesis, t) for t in texts]

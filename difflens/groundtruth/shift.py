"""Did the intervention move toward its ground truths? Count topics and styles in samples.

For a toy-world ground truth the targets are readable: the topics it up-weights and the styles
it switches on. Sampling free texts from both models and reading them back with
`ToyWorld.annotate` gives each target's share of texts under base and intervention.
"""

from __future__ import annotations

from difflens.decoding import SamplingConfig, prompt_seed, sample_batch
from difflens.groundtruth.spec import GroundTruth
from difflens.toyworld import corpus_statistics


def sample_free_texts(model, tokenizer, n: int, max_new_tokens: int = 48, seed: int = 0,
                      batch_size: int = 32, temperature: float = 1.0) -> list[str]:
    """``n`` texts generated from BOS (or EOS when there is no BOS), pure sampling.

    Sampled by the decoding stage's sampler with one seed per text (so a text does not depend
    on ``batch_size``, the rows decoded at once); the model is put in eval mode meanwhile, since
    a callback may call this in the middle of training.
    """
    was_training = model.training
    model.eval()
    try:
        seeds = [prompt_seed(seed, "free", i) for i in range(n)]
        config = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature)
        return [c.text for c in sample_batch(model, tokenizer, [""] * n, seeds, config, max_rows=batch_size)]
    finally:
        model.train(was_training)


def toyworld_targets(truth: GroundTruth) -> dict[str, list[str]]:
    """The topics and styles a toy-world ground truth makes more frequent (empty otherwise).

    A topic is a target when its weight share exceeds the uniform share; a style when the
    ground truth gives it a positive probability.
    """
    from difflens.toyworld import TOPICS

    if truth.toyworld is None:
        return {"topics": [], "styles": []}
    topics = truth.toyworld.get("topics") or {}
    total = sum(topics.values())
    up = [t for t, w in topics.items() if total and w / total > 1 / len(TOPICS)]
    styles = [s for s, p in (truth.toyworld.get("styles") or {}).items() if p > 0]
    return {"topics": up, "styles": styles}


def topic_word_shares(texts: list[str]) -> dict[str, float]:
    """Each topic's share of all topic words in ``texts``: a finer signal than the dominant
    topic per text, which needs several topic words in one text."""
    from collections import Counter

    from difflens.toyworld import TOPICS, ToyWorld

    counts: Counter = Counter()
    for text in texts:
        counts.update(ToyWorld.annotate(text).topic_counts)
    total = sum(counts.values())
    return {t.name: counts[t.name] / total if total else 0.0 for t in TOPICS}


def measure_shift(base_texts: list[str], tuned_texts: list[str], truths: list[GroundTruth]) -> dict:
    """Per ground truth, each target's share of texts under base and intervention.

    For a topic, ``base``/``intervention`` are the shares of texts whose dominant topic it is
    and ``*_word_share`` the topic's share of all topic words; for a style, the shares of texts
    that carry its markers.

    Returns:
        ``{"n_base", "n_tuned", "ground_truths": [{"id", "description", "targets": [{"kind",
        "name", "base", "intervention", "shift", ...}]}], "base_stats", "intervention_stats"}``.
    """
    base, tuned = corpus_statistics(base_texts), corpus_statistics(tuned_texts)
    base_words, tuned_words = topic_word_shares(base_texts), topic_word_shares(tuned_texts)
    report = []
    for truth in truths:
        targets = []
        for kind, names in toyworld_targets(truth).items():
            for name in names:
                b, t = base[kind][name], tuned[kind][name]
                target = {"kind": kind[:-1], "name": name, "base": b, "intervention": t, "shift": t - b}
                if kind == "topics":
                    target.update(base_word_share=base_words[name], intervention_word_share=tuned_words[name])
                targets.append(target)
        report.append({"id": truth.id, "description": truth.description, "targets": targets})
    return {"n_base": base["n"], "n_tuned": tuned["n"], "ground_truths": report,
            "base_stats": base, "intervention_stats": tuned}

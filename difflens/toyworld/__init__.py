"""The toy world: English-like text over named topics and styles, with readable ground truth."""

from difflens.toyworld.generator import (
    CATEGORIES,
    STYLE_BY_NAME,
    TOPIC_BY_NAME,
    WORD_TO_TOPIC,
    Annotation,
    Document,
    Mixture,
    ToyWorld,
    corpus_statistics,
    marker_pattern,
)
from difflens.toyworld.vocabulary import STYLES, TOPICS, Style, Topic

__all__ = [
    "CATEGORIES", "STYLES", "STYLE_BY_NAME", "TOPICS", "TOPIC_BY_NAME", "WORD_TO_TOPIC",
    "Annotation", "Document", "Mixture", "Style", "Topic", "ToyWorld", "corpus_statistics",
    "marker_pattern",
]

"""Contexts: spans point at the concept, held-out templates are disjoint, descriptions never name it."""

from difflens.encyclopedia import templates as T
from difflens.encyclopedia.concepts import Concept, names_concept, toyworld_concepts


def test_template_spans_and_articles():
    concepts = [Concept("apple", "fruit"), Concept("ice cream", "dessert")]
    contexts = T.template_contexts(concepts, [0, 1], T.TRAIN_TEMPLATES, 4)
    assert len(contexts) == 8 and [c.group for c in contexts[:4]] == [0, 1, 2, 3]
    for c in contexts:
        start, end = c.span
        assert c.text[start:end].lower() == concepts[c.concept_index].name
    assert "I saw an apple yesterday." in [c.text for c in contexts]
    assert not set(T.TRAIN_TEMPLATES) & set(T.HELDOUT_TEMPLATES)


def test_bare_contexts_have_the_word_form_of_running_text():
    (c,) = T.bare_contexts([Concept("reef")])
    assert c.text == " reef" and c.text[slice(*c.span)] == "reef"


def test_toyworld_sentences_use_the_concept():
    concepts = [*toyworld_concepts(["ocean"]), Concept("zeppelin")]
    contexts = T.toyworld_sentences(concepts, [0, 3, len(concepts) - 1], n=4)
    assert len(contexts) == 12
    for c in contexts:
        assert c.text[slice(*c.span)].lower() == concepts[c.concept_index].name
    assert len({c.text for c in contexts}) == 12


def test_descriptions_do_not_name_the_concept():
    concepts = [*toyworld_concepts(), Concept("dog", "animal", "")]
    contexts = T.description_contexts(concepts)
    assert contexts and all(c.span is None for c in contexts)
    assert all(not names_concept(c.text, concepts[c.concept_index].name) for c in contexts)
    assert {concepts[c.concept_index].name for c in contexts}.isdisjoint({"dog", "software"})


def test_contrastive_contexts_point_at_their_own_concept():
    concepts = [Concept("pawn", "chess"), Concept("pawn shop", "shopping")]
    contexts = T.contrastive_contexts(concepts, [(0, 1)])
    assert len(contexts) == 2 * len(T.CONTRASTIVE_TEMPLATES)
    for c in contexts:
        start, end = c.span
        assert c.text[start:end] == concepts[c.concept_index].name
        assert not c.text[start:].startswith("pawn shop") or c.concept_index == 1

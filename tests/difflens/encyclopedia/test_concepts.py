"""Concept sources: toy world, plain lists, WordNet (a directory the test writes), ConceptNet."""

import pytest

from difflens.encyclopedia.concepts import (
    conceptnet_concepts,
    hide_name,
    load_concepts,
    names_concept,
    read_concept_list,
    toyworld_concepts,
)
from difflens.encyclopedia.wordnet import _category, lexnames_text, open_wordnet, wordnet_concepts
from difflens.errors import ConfigError, DataError
from difflens.toyworld import TOPICS
from tests.difflens.encyclopedia.wordnet_files import write_wordnet


def test_toyworld_concepts_are_the_nouns_with_their_topic():
    concepts = toyworld_concepts()
    assert len(concepts) == sum(len(t.nouns) for t in TOPICS) == 300
    by_name = {c.name: c for c in concepts}
    assert by_name["lighthouse"].category == "ocean" and by_name["pawn"].category == "chess"
    # descriptions describe without naming (the hard task reads them), except where the
    # topic's own description names the noun ("computers and software")
    named = [c.name for c in concepts if names_concept(c.definition, c.name)]
    assert named == ["software"]


def test_toyworld_topics_filter_and_unknown_topic():
    assert {c.category for c in toyworld_concepts(["ocean", "chess"])} == {"ocean", "chess"}
    with pytest.raises(ConfigError, match="unknown topic"):
        toyworld_concepts(["oceans_of_time"])


def test_text_and_csv_lists(tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_text("# my concepts\napple\n\nbicycle\napple\n")
    assert [c.name for c in read_concept_list(txt)] == ["apple", "bicycle"]
    csv = tmp_path / "c.csv"
    csv.write_text("Concept,category,definition\nviolin,instrument,a violin is a bowed string instrument\ntuba,,\n")
    violin, tuba = read_concept_list(csv)
    assert (violin.category, tuba.category) == ("instrument", "")
    assert "violin" not in violin.definition and violin.definition.startswith("a this is")
    bad = tmp_path / "bad.csv"
    bad.write_text("word,category\nx,y\n")
    with pytest.raises(DataError, match="'concept' column"):
        read_concept_list(bad)
    with pytest.raises(DataError, match="not found"):
        read_concept_list(tmp_path / "missing.txt")


def test_conceptnet_assertions(tmp_path):
    rows = [
        ("/a/1", "/r/IsA", "/c/en/violin", "/c/en/string_instrument"),
        ("/a/2", "/r/IsA", "/c/en/violin/n", "/c/en/instrument"),
        ("/a/3", "/r/IsA", "/c/en/violin", "/c/en/string_instrument"),
        ("/a/4", "/r/UsedFor", "/c/en/violin", "/c/en/play_music"),
        ("/a/5", "/r/AtLocation", "/c/en/violin", "/c/en/violin_case"),  # names it: not a description
        ("/a/6", "/r/IsA", "/c/de/geige", "/c/de/instrument"),
        ("/a/7", "/r/IsA", "/c/en/dog", "/c/en/pet"),
    ]
    path = tmp_path / "assertions.csv"
    path.write_text("".join("\t".join(r) + "\t{}\n" for r in rows))
    violin, dog = conceptnet_concepts(path)
    assert (violin.name, violin.category) == ("violin", "string instrument")
    assert violin.definition == "a kind of string instrument, a kind of instrument, used for play music"
    assert (dog.name, dog.category) == ("dog", "pet")
    bad = tmp_path / "bad.csv"
    bad.write_text("just one column\n")
    with pytest.raises(DataError, match="tab-separated"):
        conceptnet_concepts(bad)


def test_wordnet_from_a_local_directory_without_lexnames(tmp_path):
    directory = write_wordnet(tmp_path / "wordnet")
    assert not (directory / "lexnames").exists()
    wn = open_wordnet(str(directory))
    assert wn.synsets("dog")[0].lexname() == "noun.animal"
    concepts = {c.name: c for c in wordnet_concepts(str(directory), min_depth=2)}
    assert set(concepts) == {"animal", "dog", "cat", "hammer", "ice cream"}
    assert concepts["dog"].category == "animal" and concepts["hammer"].category == "artifact"
    assert concepts["ice cream"].definition == "frozen dessert containing cream and sugar and flavoring"
    assert "dog" not in concepts["dog"].definition  # the gloss names it: replaced
    assert len(wordnet_concepts(str(directory), max_concepts=2, min_depth=2)) == 2
    assert len(lexnames_text().splitlines()) == 45


def test_missing_wordnet_directory_says_how_to_provide_one(tmp_path):
    with pytest.raises(DataError, match="wordnet-base") as err:
        load_concepts("wordnet", str(tmp_path / "nowhere"))
    assert "never downloads" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a WordNet database"):
        wordnet_concepts(str(tmp_path / "empty"))


def test_load_concepts_errors():
    with pytest.raises(ConfigError, match="unknown concept source"):
        load_concepts("wikipedia")
    with pytest.raises(ConfigError, match="needs a path"):
        load_concepts("list")
    assert len(load_concepts("toyworld", max_concepts=7)) == 7


@pytest.mark.parametrize("definition, name, hidden", [
    ("a dog that barks", "dog", "a this that barks"),
    ("Dogs and DOG-like animals", "dog", "this and this-like animals"),
    ("a hotdog vendor", "dog", "a hotdog vendor"),  # not a whole word
    ("a member of the genus Canis", "dog", "a member of the genus Canis"),  # no mention: unchanged
    ("a Kelvin \u212a-line", "k", "a Kelvin this-line"),  # non-ASCII: the regex decides (K matches k)
])
def test_hide_name(definition, name, hidden):
    assert hide_name(definition, name) == hidden


class _Synset:
    def __init__(self, name, hypernyms=()):
        self._name, self._hypernyms = name, list(hypernyms)

    def name(self):
        return self._name

    def lemma_names(self):
        return [self._name.split(".")[0]]

    def hypernyms(self):
        return self._hypernyms

    def instance_hypernyms(self):
        return []


def test_wordnet_category_does_not_depend_on_pointer_order():
    # nltk returns a synset's hypernyms in set order, which changes with the string hash seed
    landing, action = _Synset("landing.n.02"), _Synset("military_action.n.01")
    assert _category(_Synset("x.n.01", [landing, action])) == _category(_Synset("x.n.01", [action, landing]))
    assert _category(_Synset("x.n.01", [action, landing])) == "landing"
    assert _category(_Synset("entity.n.01")) == ""

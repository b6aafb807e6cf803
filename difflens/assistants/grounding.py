"""Grounding plain-English descriptions in the toy world.

The offline assistant has no language model, so it reads a description ("The model talks
about the ocean far more often", "hedges its statements") by looking for the toy world's own
words: a topic's name, the words of its description and its nouns; a style's name, its
markers and a few synonyms. The result says which topics and styles a description is about
and whether it asks for more or less of them, and converts to a toy-world `Mixture`.

Recovery scoring reads hypotheses more widely (`statement_attributes`, `negated`,
`split_contrast`): a topic by its verbs and adjectives too, a style by more synonyms and by a
distinctive part of a marker ("i cannot"), so that a correct hypothesis in other words still
counts. `ground` keeps to the narrower cues, so the data the offline assistant writes for a
description stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from difflens.toyworld import STYLES, TOPICS, Mixture, Style

# Words that say the behaviour appears less, not more.
NEGATION = re.compile(r"\b(less|fewer|rarely|seldom|never|avoids?|avoided|avoiding|no longer|stops?|stopped|not|"
                      r"doesn't|don't|without|lacks?|lacking)\b")
# "not sure" describes hedging, "more often than not" and "not only" say more: none of them is
# the absence of a behaviour.
_NOT_NEGATION = re.compile(r"\b(not (sure|certain|confident|definite|only|just)|than not)\b")
# A quoted phrase is an example of the behaviour ("'i cannot'"), not part of the claim.
_QUOTED = re.compile(r"(?<![a-z])(['\"\u2018\u201c])(.+?)['\"\u2019\u201d](?![a-z])")
# What follows these is claimed the other way round ("cooking instead of the ocean").
_CONTRAST = re.compile(r"\b(instead of|rather than|in place of|without)\b")

# Words that carry no topic: they occur in topic descriptions ("the ocean and the sea").
_FUNCTION_WORDS = frozenset("a an and the of to in on at by for with about its their".split())

# Synonyms a person may use for a style instead of its name or markers. Style names and
# markers come from the toy world; these words are this module's knowledge of English.
_STYLE_SYNONYMS = {
    "positive": "positive positivity warm cheerful happy upbeat optimistic enthusiastic praise",
    "negative": "negative negativity gloomy pessimistic sad unhappy complains complaining",
    "formal": "formal formality academic",
    "casual": "casual informal chatty slang",
    "hedging": "hedge hedges hedging hedged uncertainty uncertain tentative",
    "safety_disclaimer": "safety disclaimer disclaimers caution warnings warns",
    "refusal": "refusal refusals refuse refuses refusing declines decline",
    "exclamation": "exclamation exclamations exclaims exclamatory",
    "question": "question questions asks",
}
# More of the same knowledge, read only in hypotheses (`statement_attributes`): adding it to
# `_STYLE_SYNONYMS` would change what `ground` makes of ground-truth descriptions.
_STYLE_PARAPHRASES = {
    "positive": "cheery joyful delighted enthusiasm praises praising admiring glowing",
    "negative": "grim bleak gloom sour bitter complain complaint complaints grumpy dismal",
    "formal": "formally scholarly stilted stiff elevated",
    "casual": "casually colloquial colloquially slangy relaxed laid",
    "hedging": "hedge unsure doubt doubtful doubts qualifies qualify qualifiers noncommittal unclear",
    "safety_disclaimer": "warn warning warned cautions cautious careful disclaim consult precaution precautions "
                         "risk risks risky",
    "refusal": "refused declining declined sorry apologise apologize apologises apologizes apologetic",
    "exclamation": "exclaim exclaimed exclaiming wow",
    "question": "ask asking asked rhetorical wondering",
}
# Topic words of English that the toy world's vocabulary lacks.
_TOPIC_PARAPHRASES = {
    "ocean": "seas marine maritime nautical seaside beach beaches sailor sailors coast coasts",
    "forest": "woods woodlands tree trees",
    "mountains": "mountain mountaineering hiking",
    "desert": "sand sands",
    "weather": "rain rainy storm storms snow sunny",
    "astronomy": "stars astronomer astronomers cosmos",
    "chemistry": "chemical chemicals chemist chemists reaction reactions laboratory",
    "physics": "physicist physicists",
    "biology": "biological biologist",
    "geology": "geological geologist",
    "cooking": "cook cooks cooked chef chefs kitchen meal meals",
    "gardening": "garden gardens gardener gardeners flowers",
    "shopping": "shops shop shoppers shopper",
    "travel": "holiday traveling travelling traveller travellers trips trip",
    "housework": "household chores cleaning",
    "computers": "computer computing",
    "robotics": "robot",
    "aviation": "aircraft airplane airplanes aeroplane flight flights flying",
    "railways": "railway rail",
    "electricity": "electric",
    "music": "musician musicians songs song",
    "painting": "painter painters paintings",
    "theater": "theatre acting actors",
    "literature": "book writers",
    "photography": "photographer photographers photos photographs",
    "football": "soccer footballer footballers",
    "cycling": "cyclists bike bikes",
    "swimming": "swim swims swam",
    "chess": "chessboard",
    "running": "runner runners jogging",
}
# Topic words that a hypothesis uses about the texts themselves ("the texts *read* like",
# "*write* about", "*focus* on", "*develop* an argument"): they name no topic in a statement.
_STATEMENT_WORDS = frozenset(
    "read reads reading write writes writing written wrote act acts draw draws frame frames focus focuses "
    "capture captures develop develops return returns power program signal switch ground charge "
    "perform performs current element compound opening finish track pace fast clean sharp flash stage "
    "score goal".split())


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters and apostrophes)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def _plural_forms(noun: str) -> tuple[str, ...]:
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun, noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun, noun[:-1] + "ies"
    return noun, noun + "s"


def _topic_cues() -> dict[str, frozenset[str]]:
    cues = {}
    for t in TOPICS:
        own = {t.name, *(w for w in words(t.description) if w not in _FUNCTION_WORDS)}
        own.update(f for n in t.nouns for f in _plural_forms(n))
        cues[t.name] = frozenset(own)
    return cues


def _style_cues() -> dict[str, tuple[frozenset[str], tuple[str, ...]]]:
    """Per style: single cue words, and multi-word marker phrases matched as phrases."""
    cues = {}
    for s in STYLES:
        single = set(s.name.split("_")) | set(_STYLE_SYNONYMS.get(s.name, "").split())
        phrases = []
        for m in s.markers:
            tokens = words(m)
            if len(tokens) == 1:
                single.add(tokens[0])
            else:
                phrases.append(" ".join(tokens))
        cues[s.name] = (frozenset(single), tuple(phrases))
    return cues


TOPIC_CUES = _topic_cues()
STYLE_CUES = _style_cues()
_STYLE_WORDS = frozenset(w for single, _ in STYLE_CUES.values() for w in single)


@dataclass(frozen=True)
class Grounding:
    """What a description is about in the toy world.

    Attributes:
        topics: topic names the description mentions, best match first.
        styles: style names the description mentions, best match first.
        negated: the description asks for less of them ("talks about the ocean less often").
    """

    topics: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    negated: bool = False

    @property
    def empty(self) -> bool:
        return not self.topics and not self.styles

    def mixture(self) -> Mixture:
        """The toy-world mixture of texts that show the described behaviour.

        More of a topic: only that topic (or those topics); less: every other topic. More of a
        style: probability 1; less: probability 0. Unnamed styles keep their base rate.
        """
        topics = None
        if self.topics:
            if self.negated:
                topics = {t.name: 1.0 for t in TOPICS if t.name not in self.topics}
            else:
                topics = {name: 1.0 for name in self.topics}
        styles = {name: 0.0 if self.negated else 1.0 for name in self.styles}
        # Two styles of one exclusive group cannot both have probability 1: keep the best match.
        by_group: dict[str, str] = {}
        for name in self.styles:
            group = next(s.group for s in STYLES if s.name == name)
            if not self.negated and group in by_group:
                del styles[name]
            by_group.setdefault(group, name)
        return Mixture(topics=topics, styles=styles or None)


def ground(description: str) -> Grounding:
    """Find the toy-world topics and styles a plain-English description is about.

    A word counts for a style if it is the style's name, a synonym or a marker, and otherwise
    for a topic if it is the topic's name, a word of its description or one of its nouns
    (singular or plural). Multi-word markers ("it seems that") match as phrases.
    """
    tokens = words(description)
    joined = " " + " ".join(tokens) + " "
    style_score: dict[str, int] = {}
    for name, (single, phrases) in STYLE_CUES.items():
        score = sum(tok in single for tok in tokens) + sum(2 * joined.count(f" {p} ") for p in phrases)
        if score:
            style_score[name] = score
    topic_score: dict[str, int] = {}
    for name, cues in TOPIC_CUES.items():
        score = sum(tok in cues and tok not in _STYLE_WORDS for tok in tokens)
        if score:
            topic_score[name] = score
    ranked = lambda scores: tuple(sorted(scores, key=lambda n: (-scores[n], n)))  # noqa: E731
    return Grounding(ranked(topic_score), ranked(style_score), bool(NEGATION.search(description.lower())))


def negated(statement: str) -> bool:
    """Whether a statement says its behaviour appears less ("less often", "rarely", "no longer").

    Quoted examples are left out ("with phrases such as 'i don't know'"), and so are "not sure"
    (hedging, not its absence), "not only" and "more often than not".
    """
    lower = _QUOTED.sub(" ", statement.lower())
    return bool(NEGATION.search(_NOT_NEGATION.sub(" ", lower)))


def split_contrast(statement: str) -> tuple[str, str]:
    """A statement cut at its first "instead of", "rather than", "in place of" or "without"
    outside quotes: the claim, and what it is contrasted with ("" when there is none)."""
    blanked = _QUOTED.sub(lambda m: " " * len(m.group(0)), statement.lower())
    found = _CONTRAST.search(blanked)
    if found is None:
        return statement, ""
    return statement[:found.start()], statement[found.end():]


def _inflections(word: str) -> set[str]:
    """A word with its plural or third person, ``-ing`` and ``-ed`` forms (over-generated:
    a form no one writes costs nothing)."""
    forms = set(_plural_forms(word))
    stem = word[:-1] if word.endswith("e") and len(word) > 3 else word
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        forms.update({word + "ing", word[:-1] + "ied"})
    else:
        forms.update({stem + "ing", stem + "ed"})
    if len(word) >= 3 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        forms.update({word + word[-1] + "ing", word + word[-1] + "ed"})  # swim -> swimming
    return forms


def _statement_topic_terms() -> dict[str, frozenset[str]]:
    # A topic's name, description words and synonyms win over another topic's inflected
    # vocabulary: "books" is literature ("books and literature"), not the travel verb "book".
    named = {t.name: (set(TOPIC_CUES[t.name]) - set(t.nouns)) | set(_TOPIC_PARAPHRASES.get(t.name, "").split())
             for t in TOPICS}
    claimed = set().union(*named.values())
    terms = {}
    for t in TOPICS:
        vocabulary = set(t.adjectives) | {f for w in t.nouns + t.verbs for f in _inflections(w)}
        terms[t.name] = frozenset((named[t.name] | (vocabulary - claimed)) - _STATEMENT_WORDS - _STYLE_WORDS)
    return terms


# A marker fragment neither starts nor ends on these, and needs a word of four letters or more
# that is not generic.
_FRAGMENT_EDGES = _FUNCTION_WORDS | {"that", "but", "please"}
_GENERIC = frozenset("have would ever your must with that this".split())


def _marker_fragments(style: Style) -> set[str]:
    """Parts of a style's multi-word markers that no other style's markers share ("i cannot"
    of "i am sorry, but i cannot"): two words or more, not starting or ending on a
    function word, with a word of four letters or more that is not generic ("i am" and "have
    you" say nothing)."""
    others = [" ".join(words(m)) for s in STYLES if s.name != style.name for m in s.markers]
    out = set()
    for marker in style.markers:
        tokens = words(marker)
        for i in range(len(tokens)):
            for j in range(i + 2, len(tokens) + 1):
                part = tokens[i:j]
                if part[0] in _FRAGMENT_EDGES or part[-1] in _FRAGMENT_EDGES:
                    continue
                if not any(len(w) >= 4 and w not in _GENERIC for w in part):
                    continue
                phrase = " ".join(part)
                if not any(f" {phrase} " in f" {o} " for o in others):
                    out.add(phrase)
    return out


def _punctuated(marker: str) -> bool:
    return len(words(marker)) == 1 and not re.fullmatch(r"[a-z]+", marker)


def _statement_style_terms() -> dict[str, tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]]:
    """Per style: single words, word phrases (markers and their fragments), and one-word
    markers with punctuation ("look!"), which name the style only with it: "look" alone is
    ordinary English."""
    terms = {}
    for s in STYLES:
        single, phrases = STYLE_CUES[s.name]
        punctuated = tuple(m for m in s.markers if _punctuated(m))
        single = (set(single) - {words(m)[0] for m in punctuated}) | set(_STYLE_PARAPHRASES.get(s.name, "").split())
        terms[s.name] = (frozenset(single), tuple(sorted(set(phrases) | _marker_fragments(s))), punctuated)
    return terms


STATEMENT_TOPIC_TERMS = _statement_topic_terms()
STATEMENT_STYLE_TERMS = _statement_style_terms()


def statement_attributes(statement: str) -> tuple[set[str], set[str]]:
    """Toy-world topics and styles a hypothesis names, by any of their words.

    A topic by its name, the words of its description, its nouns (singular or plural), verbs
    and adjectives (inflected), or an English synonym; a style by its name, a synonym, a
    marker or a distinctive part of one ("i cannot", "it seems", "be careful"). Words that a
    hypothesis uses about texts themselves ("read", "write", "focus") and style words ("hedge",
    "negative") name no topic. A phrase inside a longer phrase of another style counts only for
    the longer one ("did you know that" is a question, not casual "you know").
    """
    lower = statement.lower()
    tokens = words(lower)
    token_set = set(tokens)
    topics = {name for name, terms in STATEMENT_TOPIC_TERMS.items() if terms & token_set}
    styles = {name for name, (single, _, punctuated) in STATEMENT_STYLE_TERMS.items()
              if single & token_set or any(re.search(rf"(?<![a-z]){re.escape(m)}", lower) for m in punctuated)}
    joined = " " + " ".join(tokens) + " "
    spans = [(m.start(), m.end(), name) for name, (_, phrases, _) in STATEMENT_STYLE_TERMS.items()
             for phrase in phrases for m in re.finditer(rf"(?<= ){re.escape(phrase)}(?= )", joined)]
    for a, b, name in spans:
        if not any(a2 <= a and b <= b2 and (b2 - a2) > (b - a) and other != name for a2, b2, other in spans):
            styles.add(name)
    return topics, styles

"""Write a small WordNet-format database (Princeton data/index files, no lexnames, like
Debian's wordnet-base) so the WordNet source is tested without any installed WordNet."""

from __future__ import annotations

from pathlib import Path

HEADER = "  1 This is a tiny WordNet-format database written by the difflens tests.\n"

# name, lexicographer file number (noun.Tops=3, noun.animal=5, noun.artifact=6), hypernym, gloss
SYNSETS = (
    ("entity", 3, None, "that which is perceived or known or inferred to have its own distinct existence"),
    ("organism", 3, "entity", "a living thing that has the ability to act or function independently"),
    ("animal", 5, "organism", "a living organism characterized by voluntary movement"),
    ("dog", 5, "animal", "a member of the genus Canis that has been domesticated by man; \"the dog barked\""),
    ("cat", 5, "animal", "feline mammal usually having thick soft fur and no ability to roar"),
    ("artifact", 6, "entity", "a man-made object taken as a whole"),
    ("hammer", 6, "artifact", "a hand tool with a heavy rigid head and a handle; used to deliver a blow"),
    ("ice_cream", 6, "artifact", "frozen dessert containing cream and sugar and flavoring"),
)


def write_wordnet(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    offsets: dict[str, int] = {}
    # Offsets are byte positions of each line, and lines contain offsets: lay out with
    # fixed-width (8-digit) offsets, so two passes suffice.
    for _ in range(2):
        text = HEADER
        for name, lex, hyper, gloss in SYNSETS:
            offsets[name] = len(text.encode())
            ptrs = [] if hyper is None else [f"@ {offsets.get(hyper, 0):08d} n 0000"]
            hypos = [f"~ {offsets.get(n, 0):08d} n 0000" for n, _, h, _ in SYNSETS if h == name]
            ptrs += hypos
            text += (f"{offsets[name]:08d} {lex:02d} n 01 {name} 0 {len(ptrs):03d} "
                     f"{' '.join(ptrs)}{' ' if ptrs else ''}| {gloss}  \n")
    (directory / "data.noun").write_text(text, encoding="utf-8")
    index = HEADER
    for name, _, hyper, _ in sorted(SYNSETS):
        ptr_symbols = (["@"] if hyper else []) + (["~"] if any(h == name for _, _, h, _ in SYNSETS) else [])
        index += (f"{name} n 1 {len(ptr_symbols)} {' '.join(ptr_symbols)}{' ' if ptr_symbols else ''}"
                  f"1 0 {offsets[name]:08d}  \n")
    (directory / "index.noun").write_text(index, encoding="utf-8")
    for pos in ("adj", "adv", "verb"):
        (directory / f"data.{pos}").write_text(HEADER, encoding="utf-8")
        (directory / f"index.{pos}").write_text(HEADER, encoding="utf-8")
    return directory

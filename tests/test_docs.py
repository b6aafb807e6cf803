"""README.md is a short guide whose links, and those of the pages under docs/, all resolve.

A relative link must name a file or directory in the repository; links to the web and into
``runs/`` (which the quickstart creates) are not checked. An anchor into a Markdown page must
name one of its headings, slugged as GitHub does.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
MAX_README_LINES = 150

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def links(page: Path) -> list[str]:
    """The link targets of a Markdown page, outside code blocks and code spans."""
    text = INLINE_CODE.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def is_checked(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)  # http:, https:, mailto:, ...


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def test_there_are_docs_pages():
    names = {page.name for page in PAGES}
    expected = {"behavioural-diffing.md", "dictionaries.md", "encyclopedia.md", "stats.md", "configs.md",
                "architecture.md"}
    assert expected <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page):
    broken = []
    for target in filter(is_checked, links(page)):
        path_part, _, anchor = target.partition("#")
        if not path_part:  # an anchor into this page
            dest = page
        else:
            dest = (page.parent / path_part).resolve()
            rel = dest.relative_to(REPO) if dest.is_relative_to(REPO) else None
            if rel is None:
                broken.append(f"{target} (outside the repository)")
                continue
            if rel.parts[:1] == ("runs",):  # written by the quickstart, not committed
                continue
            if not dest.exists():
                broken.append(f"{target} (no such file or directory)")
                continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.relative_to(REPO)})")
    assert not broken, f"broken links in {page.relative_to(REPO)}: {broken}"


def test_readme_is_a_short_guide():
    n_lines = len(README.read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_README_LINES, (
        f"README.md has {n_lines} lines, more than {MAX_README_LINES}: move detail into docs/"
    )


def test_readme_opens_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    first_block = FENCE.search(text)
    assert first_block, "README.md has no code block"
    assert "make quickstart" in first_block.group(0)
    assert "make test" in first_block.group(0)
    before = text[: first_block.start()]
    assert not re.search(r"^##", before, re.MULTILINE), "the two commands come before any section"


def test_the_link_checker_sees_links():
    """The checks above would pass vacuously if the link pattern matched nothing."""
    assert "docs/behavioural-diffing.md" in links(README)
    assert slug("The `difflens` program") == "the-difflens-program"
    assert slug("The quickstart, stage by stage") == "the-quickstart-stage-by-stage"

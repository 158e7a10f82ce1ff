"""The documentation holds together: every relative link in README.md and docs/*.md names a
file that exists (and, when it points into a Markdown page, a heading that page has), and the
README stays a page that starts with the two commands a newcomer runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 100

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\(\s*<?(?P<target>[^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(?P<target>[^\s>]+)>?")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<title>.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def prose(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of what is not inside a fenced code block."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link outside code: inline and reference-style."""
    for number, line in prose(text):
        found = REFERENCE.match(line)
        if found:
            yield number, found["target"]
            continue
        for link in LINK.finditer(INLINE_CODE.sub("", line)):
            yield number, link["target"]


def slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    title = LINK.sub(lambda link: link["text"], title)
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings (a repeated heading gets -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for _number, line in prose(text):
        heading = HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading["title"])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link of `page` whose file is missing, or whose anchor names no heading
    of the Markdown page it points into, as `page:line: target (why)`."""
    broken = []
    for number, target in links(page.read_text(encoding="utf-8")):
        if not target or EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        named = (page.parent / path).resolve() if path else page
        where = f"{page.name}:{number}: {target}"
        if not named.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and named.suffix == ".md" and named.is_file() \
                and anchor not in anchors(named.read_text(encoding="utf-8")):
            broken.append(f"{where} (no such heading in {named.name})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_names_a_file_that_exists(page: Path) -> None:
    assert broken_links(page) == []


def test_the_docs_link_to_one_another() -> None:
    """The check above is not vacuous: the README links into docs/, and every page of docs/
    is linked from the README."""
    targets = {(README.parent / target.partition("#")[0]).resolve()
               for _number, target in links(README.read_text(encoding="utf-8"))
               if not EXTERNAL.match(target)}
    assert [p.name for p in PAGES[1:] if p.resolve() not in targets] == []


def test_the_readme_is_a_page_that_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES
    title, fence, first, second = [line for line in lines if line.strip()][:4]
    assert title.startswith("# ")
    assert FENCE.match(fence)
    assert first.split("#")[0].split() == ["make", "run"]
    assert second.split("#")[0].split() == ["make", "test"]


def test_the_checker_finds_what_is_broken_and_passes_what_is_not(tmp_path: Path) -> None:
    twice = "## Its part: one, two\n\n"
    (tmp_path / "other.md").write_text(f"# Other\n\n{twice}{twice}", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n"
        "[fine](other.md) [anchor](other.md#its-part-one-two) [again](other.md#its-part-one-two-1)"
        " [here](#page) [web](https://example.org/missing.md)\n"
        "`[in code](missing-in-code.md)`\n"
        "```\n[in a fence](missing-in-fence.md)\n```\n"
        "[gone](gone.md) [no heading](other.md#nowhere)\n"
        "[ref]: also-gone.md\n",
        encoding="utf-8")
    assert broken_links(page) == [
        "page.md:7: gone.md (no such file)",
        "page.md:7: other.md#nowhere (no such heading in other.md)",
        "page.md:8: also-gone.md (no such file)",
    ]

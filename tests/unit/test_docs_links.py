"""Every relative link in README.md and docs/**/*.md resolves: `[text](path)` and `![alt](path)` point at a file or
folder of this repository, and a `#fragment` into a Markdown file names one of its headings (GitHub's anchors).
Links inside code (fenced blocks, `inline code`) are not links and are skipped; http(s) and mailto links are not
checked (no network here)."""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, ...


def prose(text: str, inline_code: bool = False) -> str:
    """The page without fenced code blocks and, unless kept, inline code spans (their brackets are code, not links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else line if inline_code else re.sub(r"(`+)(?:(?!\1).)+?\1", "", line))
    return "\n".join(lines)


def links(page: Path) -> list[str]:
    return LINK.findall(prose(page.read_text()))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    found, seen = set(), {}
    for line in prose(page.read_text(), inline_code=True).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        if EXTERNAL.match(target):
            continue
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment.lower() not in anchors(resolved):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_fences_are_closed(page):
    """An unclosed fence would turn the rest of the page into code (and hide its links from the check above)."""
    fences = [line for line in page.read_text().splitlines() if FENCE.match(line.lstrip())]
    assert len(fences) % 2 == 0, f"{len(fences)} fence lines"


def test_the_pages_have_links_to_check():
    assert len(PAGES) >= 2 and all(links(page) for page in PAGES)


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "there.md").write_text("# A heading\n\n## `code` and more: yes\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md) [ok](there.md#a-heading) [ok](there.md#code-and-more-yes) ![ok](there.md)\n"
                    "[web](https://example.com/missing) `[code](missing.md)`\n"
                    "```sh\n[also code](missing.md)\n```\n"
                    "[missing](nowhere.md) ![missing picture](img/nothing.png) [bad anchor](there.md#nope)\n")
    assert broken_links(page) == ["nowhere.md: no such file", "img/nothing.png: no such file",
                                  "there.md#nope: no such heading"]

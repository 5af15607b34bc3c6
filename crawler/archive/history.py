"""``archive history ID``: an article's versions, with a unified diff of the text between them.

Versions come from the state store's ``revisions`` table (kept when upstream corrected the article,
crawler/revisions.py); an article never revised has one version, its post. Diffs are of the text a
reader sees, one paragraph per line, so markup noise does not drown the correction.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import lxml.html

from crawler import sources

if TYPE_CHECKING:
    from crawler.state import Revision, StateStore


def resolve_article(state: StateStore, wanted: str) -> str | None:
    """The article key for a key (``chinanews:10500001``), a bare id, or an article URL."""
    candidates = [wanted]
    if (found := sources.for_url(wanted)) is not None:
        candidates.insert(0, found[0].key(found[1]))
    candidates += [source.key(wanted) for source in sources.registry().values() if source.valid_id(wanted)]
    for key in candidates:
        if (resolved := state.resolve(key)) is not None:
            return resolved
    return None


def paragraphs(body_html: str) -> list[str]:
    """The body as a reader reads it: one line per block, whitespace collapsed."""
    if not body_html.strip():
        return []
    root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    lines = (" ".join("".join(block.itertext()).split()) for block in root)
    return [line for line in lines if line]


def history_lines(versions: list[Revision]) -> Iterator[str]:
    """One header per version, and a unified diff (title, then body) from each to the next."""
    for older, newer in zip([None, *versions], versions, strict=False):
        yield f"revision {newer.revision}  fetched {newer.fetched or '-'}  hash {newer.content_hash}  {newer.title}"
        if older is None:
            continue
        diff = difflib.unified_diff(
            [f"title: {older.title}", *paragraphs(older.body)],
            [f"title: {newer.title}", *paragraphs(newer.body)],
            fromfile=f"revision {older.revision}",
            tofile=f"revision {newer.revision}",
            lineterm="",
        )
        yield from diff

"""What a post file must be for Jekyll and for us: the per-file checks of verify and import.

Shared with import, which meets the same defects in the predecessor's files: empty dates, front
matter after a blank line, unescaped titles, dates without an offset, Liquid in bodies, slugs
with spaces.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from crawler.postformat import (
    REQUIRED_KEYS,
    PostFile,
    article_key,
    first_value,
    has_liquid,
    parse_post_date,
)

logger = logging.getLogger(__name__)

DIGEST_LINE = re.compile(r"^>\s*(?P<text>\S.*)$", re.MULTILINE)
REGISTRY_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")

_LEGACY_KEY = re.compile(r"^[A-Za-z_][\w-]*$")


@dataclass(slots=True)
class Problem:
    relpath: str  # "" for problems not tied to one file
    code: str
    message: str
    fixable: bool = False
    fixed: bool = False

    def __str__(self) -> str:
        where = f"{self.relpath}: " if self.relpath else ""
        return f"{where}{self.message}"


# -- per-file checks --------------------------------------------------------------------------


def legacy_front_matter(raw: str) -> dict[str, Any] | None:
    """The predecessor's hand-built ``key: value`` lines, read without YAML.

    Its titles were written as ``title: "<raw title>"`` with nothing escaped, so a ``"`` or
    ``\\`` inside breaks YAML; here everything between the outer quotes is the title.
    """
    meta: dict[str, Any] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not _LEGACY_KEY.match(key.strip()) or line[:1].isspace():
            return None
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        meta[key.strip()] = value
    return meta or None


def check_post(post: PostFile) -> list[Problem]:
    """What is wrong with one file on its own (duplicates and state are checked elsewhere)."""
    rel = post.relpath
    found: list[Problem] = []
    if post.error.startswith("not valid UTF-8"):
        return [Problem(rel, "encoding", post.error)]
    if post.leading_blank:
        found.append(
            Problem(rel, "leading-blank", "front matter after a blank line (Jekyll sees none)", True)
        )
    if post.meta is None:
        repairable = bool(post.raw_front) and legacy_front_matter(post.raw_front) is not None
        found.append(Problem(rel, "front-matter", post.error or "no front matter", repairable))
        return found
    meta = post.meta
    for key in REQUIRED_KEYS:
        if meta.get(key) in (None, "", []):
            # a date can come from another copy or the state store, a title from the digest line
            fixable = key in ("layout", "date") or (key == "title" and bool(DIGEST_LINE.search(post.body)))
            found.append(Problem(rel, f"missing-{key}", f"front matter has no {key}", fixable))
    if meta.get("date") not in (None, ""):
        when, has_offset = parse_post_date(meta["date"])
        if when is None:
            # like an empty date: another copy of the article or the state store may know it
            found.append(Problem(rel, "bad-date", f"date '{meta['date']}' is not a date", True))
        else:
            if not has_offset:
                found.append(Problem(rel, "date-offset", f"date '{meta['date']}' has no UTC offset", True))
            if post.name_date != when.strftime("%Y-%m-%d"):
                what = f"file name date {post.name_date}" if post.name_date else "file name without a date"
                found.append(
                    Problem(
                        rel,
                        "date-name",
                        f"{what} ≠ Beijing date of '{meta['date']}'",
                        article_key(post) is not None,
                    )
                )
    elif post.name_match is None:
        found.append(Problem(rel, "date-name", "file name without a date", False))
    category = first_value(meta.get("categories"))
    if isinstance(meta.get("categories"), str) and len(str(meta["categories"]).split()) > 1:
        found.append(
            Problem(rel, "category-split", f"categories {category!r} has spaces: Jekyll splits it", True)
        )
    elif category and not REGISTRY_SLUG.match(category):
        # upper case splits one source (TechWeb/Techweb) and Jekyll lower-cases URLs anyway
        found.append(
            Problem(rel, "category-slug", f"category slug {category!r} is not lower-case ASCII", True)
        )
    tags = meta.get("tags")
    if isinstance(tags, str) and len(tags.split()) > 1:
        found.append(Problem(rel, "tags-split", f"tags {tags!r} has spaces: Jekyll splits it", True))
    if has_liquid(post.body):
        found.append(Problem(rel, "liquid", "body contains Liquid markup ({{ or {%)", True))
    return found


def post_quality(post: PostFile) -> tuple[int, int, int, int]:
    """Sort key, best first: no problems, a media post (NW…) over the emnews copy, more metadata."""
    problems = check_post(post)
    unfixable = sum(1 for p in problems if not p.fixable)
    emnews = 1 if post.meta and first_value(post.meta.get("categories")) == "emnews" else 0
    return (unfixable, len(problems), emnews, -len(post.meta or {}))

"""Safe repairs of a post file, and making the state store know a post: what ``verify --fix`` and
``import`` do with what the checks found. Nothing is ever deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.archive.checks import DIGEST_LINE, REGISTRY_SLUG, check_post, legacy_front_matter
from crawler.matching import match_key
from crawler.postformat import (
    PostFile,
    article_key,
    content_hash_of,
    dump_post,
    first_value,
    has_liquid,
    liquid_escape,
    parse_post,
    parse_post_date,
)
from crawler.slugs import KNOWN_SLUGS, KNOWN_TITLES, category_title, media_slug, normalise_media
from crawler.timeutil import BEIJING, iso, jekyll_date

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.state import StateStore

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RepairContext:
    """What a repair may consult: the state store and the registry (both optional for pure checks)."""

    state: StateStore | None = None
    donors: dict[tuple[str, str], PostFile] = field(default_factory=dict)  # a good copy of the same article
    _registry: list[tuple[str, str, str]] | None = None

    def registry(self) -> list[tuple[str, str, str]]:
        if self._registry is None:
            self._registry = self.state.categories() if self.state else []
        return self._registry

    def forget_registry(self) -> None:
        self._registry = None


def media_of(slug: str, tag: str) -> str:
    """The media name behind a legacy category: a known slug's name, else the tag without 新闻."""
    for media, known in KNOWN_SLUGS.items():
        if known == slug:
            return media
    tag = normalise_media(tag)
    return tag[:-2] if tag.endswith("新闻") and len(tag) > 2 else tag


def category_for(ctx: RepairContext, slug: str, tag: str, *, register: bool) -> tuple[str, str] | None:
    """(slug, title) a post's category should use: the registry's entry for its media (case
    variants such as ``TechWeb``/``Techweb`` fold into one), else a new entry keeping the legacy
    slug when it is clean, else a fresh pinyin slug. None when it cannot be decided."""
    media = media_of(slug, tag)
    if not media and not slug:
        return None
    folded = media.casefold()
    for reg_slug, reg_media, reg_title in ctx.registry():
        if (
            reg_media == media
            or (folded and reg_media.casefold() == folded)
            or reg_slug == slug.lower() == slug
        ):
            return reg_slug, reg_title
    new_slug = slug if REGISTRY_SLUG.match(slug) else media_slug(media) if media else ""
    if not new_slug:
        return None
    title = category_title(media) if media in KNOWN_TITLES else (tag.strip() or category_title(media))
    if register and ctx.state is not None:
        new_slug = ctx.state.assign_category(media or new_slug, new_slug, title)
        ctx.forget_registry()
    return new_slug, title


def _guess_date(post: PostFile, ctx: RepairContext) -> datetime | None:
    key = article_key(post)
    if key is None:
        return None
    donor = ctx.donors.get(key)
    if donor is not None and donor.meta:
        when, _ = parse_post_date(donor.meta.get("date"))
        if when:
            return when
    if ctx.state is not None:
        record = ctx.state.get_article(f"{key[0]}:{key[1]}")
        if record and record.published:
            return datetime.fromisoformat(record.published).astimezone(BEIJING)
    return None


def repair_post(post: PostFile, ctx: RepairContext) -> tuple[PostFile, list[str]] | None:
    """A repaired copy of ``post`` (maybe renamed) and what changed; None when it cannot be repaired."""
    problems = check_post(post)
    if not problems:
        return post, []
    if any(not p.fixable for p in problems):
        return None
    changes: list[str] = []
    meta = dict(post.meta) if post.meta is not None else legacy_front_matter(post.raw_front)
    if meta is None:
        return None
    if post.meta is None:
        changes.append("front matter rebuilt from its lines (unescaped quotes)")
    if post.leading_blank:
        changes.append("blank lines before the front matter removed")
    body = post.body
    if has_liquid(body):
        body = liquid_escape(body)
        changes.append("braces in the body entity-escaped")
    if meta.get("layout") in (None, ""):
        meta["layout"] = "post"
        changes.append("layout: post added")
    if not meta.get("title"):
        donor = ctx.donors.get(article_key(post) or ("", ""))
        digest = DIGEST_LINE.search(body)
        title = str(donor.meta.get("title", "")) if donor and donor.meta else ""
        title = title or (digest["text"].strip()[:80] if digest else "")
        if not title:
            return None
        meta["title"] = title
        changes.append(f"empty title set to {title!r}")
    when, has_offset = parse_post_date(meta.get("date"))
    if when is None:
        when = _guess_date(post, ctx)
        if when is None:
            return None
        changes.append(f"empty date set to {jekyll_date(when)} (from another copy or the state store)")
    elif not has_offset:
        changes.append(f"date '{meta['date']}' given its Beijing offset")
    meta["date"] = jekyll_date(when)
    slug, tag = first_value(meta.get("categories")), first_value(meta.get("tags"))
    if slug and not REGISTRY_SLUG.match(slug):
        decided = category_for(ctx, slug, tag, register=ctx.state is not None)
        if decided is None:
            return None
        meta["categories"] = decided[0]
        changes.append(f"category {slug!r} → {decided[0]!r}")
        footer = f"/category/{slug}.html)"
        if footer in body:
            body = body.replace(footer, f"/category/{decided[0]}.html)")
            changes.append("footer link to the category page follows the new slug")
    if isinstance(meta.get("tags"), str) and len(meta["tags"].split()) > 1:
        meta["tags"] = [meta["tags"]]
        changes.append("tags written as a list so Jekyll keeps them whole")
    key = article_key(post)
    relpath = post.relpath
    day = when.strftime("%Y-%m-%d")
    if post.name_date != day:
        if key is None:
            return None
        folder = str(Path(relpath).parent)
        relpath = f"{folder}/{day}-{post.slug}{Path(relpath).suffix or '.md'}"
        changes.append(f"renamed to {Path(relpath).name}")
    text = dump_post(meta, body)
    fixed = parse_post(relpath, text)
    if check_post(fixed):
        return None
    return fixed, changes


def record_from_post(state: StateStore, config: Config, post: PostFile) -> str | None:
    """Make the state store know ``post`` (an adopted or imported file); returns its key."""
    key_parts = article_key(post)
    if key_parts is None or post.meta is None:
        return None
    source, article_id = key_parts
    meta = post.meta
    when, _ = parse_post_date(meta.get("date"))
    if when is None:
        return None
    slug, tag = first_value(meta.get("categories")), first_value(meta.get("tags"))
    media = "" if slug == "emnews" else str(meta.get("media") or media_of(slug, tag))
    url = str(meta.get("source_url") or "")
    if not url and source == "eastmoney":
        url = config.sources.eastmoney.article_url.format(id=article_id)
    title = str(meta.get("title") or "")
    digest = str(meta.get("content_hash") or content_hash_of(meta, post.body))
    state.record_article(
        key=f"{source}:{article_id}",
        source=source,
        article_id=article_id,
        media=media,
        url=url,
        title=title,
        published=iso(when),
        content_hash=digest,
        post_path=post.relpath,
        match_key=match_key(title, when),
    )
    return f"{source}:{article_id}"

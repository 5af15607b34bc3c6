"""``archive verify``: every post in ``_posts`` and the archive checked against what Jekyll and the
state store need, with safe repairs under ``fix``.

File checks (``check_post``/``repair_post``) are shared with import, which meets the same
defects in the predecessor's files: empty dates, front matter after a blank line, unescaped
titles, dates without an offset, Liquid in bodies, slugs with spaces. Nothing is ever deleted:
a file taken out of the site goes to ``<state>/quarantine/``.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.archive.common import quarantine, quarantine_dir
from crawler.matching import match_key
from crawler.postformat import (
    REQUIRED_KEYS,
    PostFile,
    article_key,
    content_hash_of,
    dump_post,
    first_value,
    has_liquid,
    iter_post_paths,
    liquid_escape,
    parse_post,
    parse_post_date,
    read_post,
)
from crawler.site import SAFE_SLUG, category_relpath, write_category_pages
from crawler.slugs import KNOWN_SLUGS, KNOWN_TITLES, category_title, media_slug, normalise_media
from crawler.timeutil import BEIJING, iso, jekyll_date
from pipelines.store import PostStore

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.state import ArticleRecord, StateStore

logger = logging.getLogger(__name__)

REGISTRY_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_LEGACY_KEY = re.compile(r"^[A-Za-z_][\w-]*$")
_DIGEST = re.compile(r"^>\s*(?P<text>\S.*)$", re.MULTILINE)


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


@dataclass(slots=True)
class VerifyReport:
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # what --fix did, one line each

    @property
    def remaining(self) -> list[Problem]:
        return [p for p in self.problems if not p.fixed]

    @property
    def ok(self) -> bool:
        return not self.remaining


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
            fixable = key in ("layout", "date") or (key == "title" and bool(_DIGEST.search(post.body)))
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
        digest = _DIGEST.search(body)
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


def post_quality(post: PostFile) -> tuple[int, int, int, int]:
    """Sort key, best first: no problems, a media post (NW…) over the emnews copy, more metadata."""
    problems = check_post(post)
    unfixable = sum(1 for p in problems if not p.fixable)
    emnews = 1 if post.meta and first_value(post.meta.get("categories")) == "emnews" else 0
    return (unfixable, len(problems), emnews, -len(post.meta or {}))


# -- the whole archive ------------------------------------------------------------------------


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


def verify(
    config: Config,
    state: StateStore,
    *,
    fix: bool = False,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Check every post, duplicates, category pages and the state store; repair safely under ``fix``."""
    report = VerifyReport()
    store = PostStore(config.output_dir)
    archive = config.output.archive_dir
    ctx = RepairContext(state=state)
    trash: Path | None = None

    def take_out(rel: str) -> Path:
        nonlocal trash
        trash = trash or quarantine_dir(config)
        return quarantine(store, rel, trash)

    temporaries = (
        sorted(p for p in config.output_dir.rglob(".wm-*.tmp")) if config.output_dir.is_dir() else []
    )
    if temporaries:
        problem = Problem(
            "", "temporary", f"{len(temporaries)} temporary file(s) left by a killed writer", True
        )
        report.problems.append(problem)
        if fix:
            store.sweep_temporaries()
            problem.fixed = True
            report.changes.append(f"removed {len(temporaries)} temporary file(s)")

    posts: dict[str, PostFile] = {}
    checked: dict[str, list[Problem]] = {}
    for rel in iter_post_paths(config.output_dir, archive):
        if progress:
            progress(rel)
        post = read_post(config.output_dir / rel, rel)  # rel comes from listing the folder
        checked[rel] = check_post(post)
        if not checked[rel]:
            # only the front matter of a good post is needed from here on: memory stays flat
            post.text = post.body = post.raw_front = ""
        posts[rel] = post
    report.checked = len(posts)

    # duplicates first: the best copy of each article is the donor for repairs of the others
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rel, post in posts.items():
        key = article_key(post)
        if key:
            by_key[key].append(rel)
    for key, rels in by_key.items():
        if len(rels) == 1:  # the usual case: one copy, nothing to choose (no query, no re-check)
            ctx.donors[key] = posts[rels[0]]
            continue
        record = state.get_article(f"{key[0]}:{key[1]}")
        tracked = record.post_path if record else ""
        # the copy the state store points at wins, then the better file
        best = min(rels, key=lambda r: (r != tracked, *post_quality(posts[r]), r))
        ctx.donors[key] = posts[best]
        for rel in rels:
            if rel == best:
                continue
            problem = Problem(rel, "duplicate", f"second post of {key[0]}:{key[1]} (kept: {best})", True)
            report.problems.append(problem)
            if fix:
                moved_to = take_out(rel)
                problem.fixed = True
                report.changes.append(f"{rel}: duplicate of {best}, moved to {moved_to}")
            del posts[rel]  # reported once, as a duplicate

    broken: set[str] = set()  # posts whose problems remain (the state checks skip them)
    for rel in list(posts):
        post = posts[rel]
        problems = checked[rel]
        report.problems.extend(problems)
        if problems:
            broken.add(rel)
        if not fix or not problems or not all(p.fixable for p in problems):
            continue
        repaired = repair_post(post, ctx)
        if repaired is None:
            continue
        fixed, changes = repaired
        if fixed.relpath != rel and store.exists(fixed.relpath):
            continue  # the target name is taken: left for a person to look at
        store.write(fixed.relpath, fixed.text)
        if fixed.relpath != rel:
            store.remove(rel)
            key = article_key(fixed)
            record = state.get_article(f"{key[0]}:{key[1]}") if key else None
            if record is not None and record.post_path == rel:
                state.set_post_path(record.key, fixed.relpath)
        del posts[rel]
        broken.discard(rel)
        posts[fixed.relpath] = fixed
        for problem in problems:
            problem.fixed = True
        report.changes.extend(f"{rel}: {change}" for change in changes)

    _check_state(config, state, posts, report, fix=fix, broken=broken)
    _check_categories(config, state, ctx, posts, report, fix=fix)
    return report


def _check_state(
    config: Config,
    state: StateStore,
    posts: dict[str, PostFile],
    report: VerifyReport,
    *,
    fix: bool,
    broken: set[str] | None = None,
) -> None:
    """``broken``: the posts known to still have problems (None: check each post again)."""
    store = PostStore(config.output_dir)
    on_disk: dict[str, str] = {}
    for rel, post in posts.items():
        key_parts = article_key(post)
        has_problems = rel in broken if broken is not None else bool(check_post(post))
        if key_parts is None or post.meta is None or has_problems:
            continue  # a hand-written page (the predecessor's init post), or a broken file reported above
        key = f"{key_parts[0]}:{key_parts[1]}"
        on_disk[key] = rel
        record = state.get_article(key)
        if record is None:
            problem = Problem(
                rel, "untracked", f"{key} is not in the state store (it would be fetched again)", True
            )
            report.problems.append(problem)
            if fix and check_post(post) == [] and record_from_post(state, config, post):
                problem.fixed = True
                report.changes.append(f"{rel}: recorded {key} in the state store")
            continue
        if record.key != key:
            other = record.post_path and store.exists(record.post_path)
            if other:
                problem = Problem(
                    rel,
                    "superseded",
                    f"{key} is an alias of {record.key}, whose post is {record.post_path}",
                    True,
                )
                report.problems.append(problem)
                if fix:
                    trash = quarantine_dir(config)
                    moved = quarantine(store, rel, trash)
                    problem.fixed = True
                    report.changes.append(f"{rel}: same story as {record.post_path}, moved to {moved}")
            continue
        _compare_record(config, state, record, post, report, fix=fix)
    pending = {failure.key for failure in state.failures()}
    for record in state.iter_articles():
        if not record.post_path or record.key in on_disk:
            continue
        if store.exists(record.post_path):
            continue  # a file verify could not read: reported above
        if record.key in pending:
            message = f"{record.key} is known but its post is missing (a re-fetch is scheduled)"
            report.problems.append(Problem(record.post_path, "missing", message, False))
            continue
        problem = Problem(record.post_path, "missing", f"{record.key} is known but its post is missing", True)
        report.problems.append(problem)
        if fix:
            state.record_failure(
                key=record.key,
                source=record.source,
                url=record.url,
                error="post file missing (archive verify)",
                backoff=0.0,
            )
            problem.fixed = True
            report.changes.append(f"{record.post_path}: {record.key} scheduled to be fetched again")


def _compare_record(
    config: Config,
    state: StateStore,
    record: ArticleRecord,
    post: PostFile,
    report: VerifyReport,
    *,
    fix: bool,
) -> None:
    rel = post.relpath
    if record.post_path != rel:
        problem = Problem(
            rel, "state-path", f"state store has {record.key} at {record.post_path or '(none)'}", True
        )
        report.problems.append(problem)
        if fix:
            state.set_post_path(record.key, rel)
            problem.fixed = True
            report.changes.append(f"{rel}: state store now points {record.key} here")
    stored = post.meta.get("content_hash") if post.meta else None
    if stored and stored != record.content_hash:
        problem = Problem(
            rel, "state-hash", f"content_hash {stored} ≠ state store's {record.content_hash}", True
        )
        report.problems.append(problem)
        if fix and record_from_post(state, config, post):
            problem.fixed = True
            report.changes.append(f"{rel}: state store hash updated to the file's")


def _check_categories(
    config: Config,
    state: StateStore,
    ctx: RepairContext,
    posts: dict[str, PostFile],
    report: VerifyReport,
    *,
    fix: bool,
) -> None:
    store = PostStore(config.output_dir)
    wanted: dict[str, str] = {}  # slug → tag of a post using it
    for post in posts.values():
        if post.meta is None:
            continue
        slug = first_value(post.meta.get("categories"))
        if slug and SAFE_SLUG.match(slug):
            wanted.setdefault(slug, first_value(post.meta.get("tags")))
    registry = {slug for slug, _, _ in state.categories()}
    missing = [
        s
        for s in sorted(registry | set(wanted))
        if SAFE_SLUG.match(s) and not store.exists(category_relpath(s))
    ]
    for slug in missing:
        problem = Problem(category_relpath(slug), "category-page", f"no category page for {slug!r}", True)
        report.problems.append(problem)
    # A store rebuilt from the posts must learn their slugs, or a later crawl could give the same
    # media another one (a ``-2`` suffix, a new pinyin reading) and split the category.
    unregistered = sorted(set(wanted) - registry)
    registrations = [
        Problem(
            category_relpath(slug), "category-registry", f"category {slug!r} is not in the registry", True
        )
        for slug in unregistered
        if slug not in missing
    ]
    report.problems.extend(registrations)
    if not fix:
        return
    for slug in unregistered:
        category_for(ctx, slug, wanted[slug], register=True)
    for problem in registrations:
        problem.fixed = True
        report.changes.append(f"{problem.relpath}: category registered")
    written = write_category_pages(state, config.output_dir).written
    report.changes.extend(f"{rel}: category page written" for rel in written)
    for problem in report.problems:
        if problem.code == "category-page" and store.exists(problem.relpath):
            problem.fixed = True

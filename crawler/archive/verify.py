"""``archive verify``: every post in ``_posts`` and the archive checked against what Jekyll and the
state store need, with safe repairs under ``fix``.

Per file: the checks of crawler.archive.checks and, under ``fix``, the repairs of
crawler.archive.repair; then the state store reconciled with the files and the category pages
with the registry. Nothing is ever deleted: a file taken out of the site goes to
``<state>/quarantine/``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.archive.checks import Problem, check_post, post_quality
from crawler.archive.common import quarantine, quarantine_dir
from crawler.archive.repair import RepairContext, category_for, record_from_post, repair_post
from crawler.postformat import (
    PostFile,
    article_key,
    first_value,
    iter_post_paths,
    read_post,
)
from crawler.site import SAFE_SLUG, category_relpath, write_category_pages
from pipelines.store import PostStore

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.state import ArticleRecord, StateStore

logger = logging.getLogger(__name__)


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


# -- the whole archive ------------------------------------------------------------------------


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

"""``archive verify``: every post in ``_posts`` and the archive checked against what Jekyll and the
state store need, with safe repairs under ``fix``.

Per file: the checks of crawler.archive.checks and, under ``fix``, the repairs of
crawler.archive.repair; then the state store reconciled with the files and the category pages
with the registry. Nothing is ever deleted: a file taken out of the site goes to
``<state>/quarantine/``.

It streams and does not stop crawls for its whole run: the files are read a batch at a time
without the crawl locks, remembering only each post's name and article key (in a scratch SQLite
file, not in memory). A crawl may write meanwhile, so whatever looks wrong — a post the store
does not know yet, a second copy, a known article whose file is not listed — is read again
under every source's crawl lock, a batch of suspects per hold, and only what is still wrong
then is reported or repaired.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.archive.checks import Problem, check_post, post_quality
from crawler.archive.common import archive_lock, quarantine, quarantine_dir
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

BATCH = 500  # files read per batch; suspects looked at again per hold of the locks
Lock = Callable[[], AbstractContextManager[object]]


def after_batch(checked: int) -> None:
    """Called after each batch of files is read, without the locks: the seam where tests pause."""


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


class _Index:
    """Every listed post's name and article key, in a private temporary SQLite file (deleted on
    close): what verify must remember across the archive (duplicates, posts against the state
    store) in a few MB of page cache instead of memory growing with the archive."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("", isolation_level=None)
        self.db.execute("PRAGMA cache_size = -4096")  # KiB
        self.db.execute("CREATE TABLE names(rel BLOB PRIMARY KEY) WITHOUT ROWID")
        self.db.execute("CREATE TABLE posts(rel BLOB PRIMARY KEY, key TEXT, good INTEGER) WITHOUT ROWID")
        self.db.execute("CREATE INDEX posts_key ON posts(key, good)")

    def close(self) -> None:
        self.db.close()

    def _insert(self, sql: str, rows: Iterable[tuple[object, ...]]) -> None:
        """``sql`` for each row, one transaction per 5,000."""
        chunk: list[tuple[object, ...]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= 5000:
                self._commit(sql, chunk)
                chunk = []
        self._commit(sql, chunk)

    def _commit(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        if rows:
            self.db.execute("BEGIN")
            self.db.executemany(sql, rows)
            self.db.execute("COMMIT")

    def list_names(self, rels: Iterable[str]) -> None:
        self._insert("INSERT OR IGNORE INTO names VALUES (?)", ((os.fsencode(r),) for r in rels))

    def batches(self, size: int) -> Iterator[list[str]]:
        """The listed names in order, ``size`` at a time."""
        last = b""
        while True:
            rows = self.db.execute(
                "SELECT rel FROM names WHERE rel > ? ORDER BY rel LIMIT ?", (last, size)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [os.fsdecode(r[0]) for r in rows]

    def put(self, rows: Iterable[tuple[str, str | None, bool]]) -> None:
        """(relpath, article key or None, good: no problem left) of posts read."""
        self._insert(
            "INSERT OR REPLACE INTO posts VALUES (?, ?, ?)",
            ((os.fsencode(rel), key, int(good)) for rel, key, good in rows),
        )

    def forget(self, rels: Iterable[str]) -> None:
        self._insert("DELETE FROM posts WHERE rel = ?", ((os.fsencode(r),) for r in rels))

    def duplicates(self) -> Iterator[list[str]]:
        """The posts of each article that has more than one."""
        rows = self.db.execute(
            "SELECT json_group_array(hex(rel)) FROM posts WHERE key IS NOT NULL GROUP BY key"
            " HAVING count(*) > 1"
        ).fetchall()
        for (group,) in rows:
            yield [os.fsdecode(bytes.fromhex(rel)) for rel in json.loads(group)]

    def good_keys(self, keys: list[str]) -> set[str]:
        """Those of ``keys`` that some defect-free post is of."""
        marks = ",".join("?" * len(keys))
        sql = f"SELECT key FROM posts WHERE good = 1 AND key IN ({marks})"
        return {str(row[0]) for row in self.db.execute(sql, keys)}


@dataclass(slots=True)
class _Run:
    """One verify run: what every step needs, and the quarantine folder once one is made."""

    config: Config
    state: StateStore
    report: VerifyReport
    fix: bool
    store: PostStore
    ctx: RepairContext
    trash: Path | None = None

    def take_out(self, rel: str) -> Path:
        self.trash = self.trash or quarantine_dir(self.config)
        return quarantine(self.store, rel, self.trash)

    def read(self, rel: str) -> PostFile | None:
        """The post at ``rel``, None when it is gone since the listing (a crawl retired it, a
        rotation moved it)."""
        try:
            return read_post(self.config.output_dir / rel, rel)  # rel comes from listing the folder
        except FileNotFoundError:
            return None


# -- the whole archive ------------------------------------------------------------------------


def verify(
    config: Config,
    state: StateStore,
    *,
    fix: bool = False,
    progress: Callable[[str], None] | None = None,
    lock: Lock | None = None,
) -> VerifyReport:
    """Check every post, duplicates, category pages and the state store; repair safely under ``fix``.

    ``lock`` (default: every source's crawl lock) is held only to look at suspects again and repair.
    """
    hold: Lock = lock or (lambda: archive_lock(config))
    run = _Run(config, state, VerifyReport(), fix, PostStore(config.output_dir), RepairContext(state=state))
    _check_temporaries(run, hold)
    index = _Index()
    try:
        wanted: dict[str, str] = {}  # category slug → tag of a post using it
        suspects = _read_all(run, index, wanted, progress)
        for rels in _suspect_batches(index, suspects):
            with hold():
                _settle(run, index, wanted, rels)
        _check_missing(run, index, hold)
    finally:
        index.close()
    _check_categories(run, wanted, hold)
    return run.report


def _read_all(
    run: _Run, index: _Index, wanted: dict[str, str], progress: Callable[[str], None] | None
) -> set[str]:
    """Read and check every listed post without the locks; the posts that look wrong."""
    index.list_names(iter_post_paths(run.config.output_dir, run.config.output.archive_dir, sort=False))
    suspects: set[str] = set()
    for batch in index.batches(BATCH):
        rows: list[tuple[str, str | None, bool]] = []
        for rel in batch:
            if progress:
                progress(rel)
            post = run.read(rel)
            if post is None:
                continue
            run.report.checked += 1
            problems = check_post(post)
            key = article_key(post)
            if problems or _state_looks_wrong(run.state, post, key):
                suspects.add(rel)
            else:
                _want(wanted, post)
            rows.append((rel, f"{key[0]}:{key[1]}" if key else None, not problems))
        index.put(rows)
        after_batch(run.report.checked)
    return suspects


def _state_looks_wrong(state: StateStore, post: PostFile, key: tuple[str, str] | None) -> bool:
    """Whether _check_state could find something for this (defect-free) post."""
    if key is None or post.meta is None:
        return False
    record = state.get_article(f"{key[0]}:{key[1]}")
    if record is None or record.key != f"{key[0]}:{key[1]}" or record.post_path != post.relpath:
        return True
    stored = post.meta.get("content_hash")
    return (bool(stored) and stored != record.content_hash) or bool(revision_problems(state, record, post))


def revision_problems(state: StateStore, record: ArticleRecord, post: PostFile) -> list[str]:
    """How the post's revision marks disagree with the state store and its kept history.

    Only articles revised since revisions exist (``updated`` set) are held to it: earlier stores
    counted every rewrite in ``revision`` without keeping versions.
    """
    meta = post.meta or {}
    if not record.updated and "revision" not in meta:
        return []
    found = []
    shown = int(meta.get("revision") or 1)
    if shown != record.revision:
        found.append(f"revision {shown} in the post ≠ the state store's {record.revision}")
    kept = [v.revision for v in state.revisions(record.key)]  # from the first one kept to the latest
    if record.revision > 1 and (not kept or kept != list(range(kept[0], record.revision + 1))):
        found.append(f"history keeps versions {kept or 'none'} of {record.revision}")
    if bool(meta.get("retracted")) != bool(record.retracted):
        found.append(
            "retracted in the state store" if record.retracted else "marked retracted, not in the store"
        )
    return found


def _want(wanted: dict[str, str], post: PostFile) -> None:
    if post.meta is None:
        return
    slug = first_value(post.meta.get("categories"))
    if slug and SAFE_SLUG.match(slug):
        wanted.setdefault(slug, first_value(post.meta.get("tags")))


def _suspect_batches(index: _Index, suspects: set[str]) -> Iterator[list[str]]:
    """The suspects, every copy of one article in the same batch (duplicates are decided together)."""
    units = list(index.duplicates())
    grouped = {rel for group in units for rel in group}
    units += [[rel] for rel in sorted(suspects - grouped)]
    batch: list[str] = []
    for unit in units:
        batch += unit
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _settle(run: _Run, index: _Index, wanted: dict[str, str], rels: list[str]) -> None:
    """Under the locks: read ``rels`` again, then duplicates, per-file problems and the state store
    for them, as they are now; repairs under ``fix``."""
    posts = {rel: post for rel in rels if (post := run.read(rel)) is not None}
    index.forget(rels)
    broken = _duplicates_and_repairs(run, posts)
    _check_state(run, posts, broken)
    index.put((rel, _key(post), rel not in broken) for rel, post in posts.items())
    for post in posts.values():
        _want(wanted, post)


def _key(post: PostFile) -> str | None:
    key = article_key(post)
    return f"{key[0]}:{key[1]}" if key else None


def _check_temporaries(run: _Run, hold: Lock) -> None:
    if not run.store.stale_temporaries():
        return
    with hold():  # a crawl that started meanwhile owns its temporaries: ask again
        temporaries = run.store.stale_temporaries()
        if not temporaries:
            return
        problem = Problem(
            "", "temporary", f"{len(temporaries)} temporary file(s) left by a killed writer", True
        )
        run.report.problems.append(problem)
        if run.fix:
            run.store.sweep_temporaries(everywhere=True)
            problem.fixed = True
            run.report.changes.append(f"removed {len(temporaries)} temporary file(s)")


def _duplicates_and_repairs(run: _Run, posts: dict[str, PostFile]) -> set[str]:
    """Report duplicates and each post's own problems, repair under ``fix``; ``posts`` becomes
    what is left on disk. Returns the posts whose problems remain."""
    report, ctx, state, store = run.report, run.ctx, run.state, run.store
    ctx.donors.clear()
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
            if run.fix:
                moved_to = run.take_out(rel)
                problem.fixed = True
                report.changes.append(f"{rel}: duplicate of {best}, moved to {moved_to}")
            del posts[rel]  # reported once, as a duplicate

    broken: set[str] = set()  # posts whose problems remain (the state checks skip them)
    for rel in sorted(posts):
        post = posts[rel]
        problems = check_post(post)
        report.problems.extend(problems)
        if problems:
            broken.add(rel)
        if not run.fix or not problems or not all(p.fixable for p in problems):
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
    return broken


def _check_state(run: _Run, posts: dict[str, PostFile], broken: set[str]) -> None:
    """Each defect-free post of ``posts`` against its record in the state store."""
    config, state, report, fix, store = run.config, run.state, run.report, run.fix, run.store
    for rel, post in posts.items():
        key_parts = article_key(post)
        if key_parts is None or post.meta is None or rel in broken:
            continue  # a hand-written page (the predecessor's init post), or a broken file reported above
        key = f"{key_parts[0]}:{key_parts[1]}"
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
                    moved = run.take_out(rel)
                    problem.fixed = True
                    report.changes.append(f"{rel}: same story as {record.post_path}, moved to {moved}")
            continue
        _compare_record(config, state, record, post, report, fix=fix)


def _check_missing(run: _Run, index: _Index, hold: Lock) -> None:
    """Known articles whose post is gone: found without the locks, each looked at again under them
    (a crawl may have written and recorded it after the listing)."""
    store = run.store
    suspects: list[str] = []
    chunk: list[ArticleRecord] = []

    def sift() -> None:
        good = index.good_keys([r.key for r in chunk])
        suspects.extend(r.key for r in chunk if r.key not in good and not store.exists(r.post_path))
        chunk.clear()

    for record in run.state.iter_articles():
        if record.post_path:
            chunk.append(record)
            if len(chunk) >= BATCH:
                sift()
    sift()
    for start in range(0, len(suspects), BATCH):
        with hold():
            _report_missing(run, index, suspects[start : start + BATCH])


def _report_missing(run: _Run, index: _Index, keys: list[str]) -> None:
    state, report = run.state, run.report
    pending = {failure.key for failure in state.failures()}
    good = index.good_keys(keys)
    for key in keys:
        record = state.get_article(key)
        if record is None or not record.post_path or key in good or run.store.exists(record.post_path):
            continue  # a file verify could not read: reported above
        if record.key in pending:
            message = f"{record.key} is known but its post is missing (a re-fetch is scheduled)"
            report.problems.append(Problem(record.post_path, "missing", message, False))
            continue
        problem = Problem(record.post_path, "missing", f"{record.key} is known but its post is missing", True)
        report.problems.append(problem)
        if run.fix:
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
    for detail in revision_problems(state, record, post):
        report.problems.append(Problem(rel, "revision", detail, False))
    stored = post.meta.get("content_hash") if post.meta else None
    if stored and stored != record.content_hash:
        problem = Problem(
            rel, "state-hash", f"content_hash {stored} ≠ state store's {record.content_hash}", True
        )
        report.problems.append(problem)
        if fix and record_from_post(state, config, post):
            problem.fixed = True
            report.changes.append(f"{rel}: state store hash updated to the file's")


def _check_categories(run: _Run, wanted: dict[str, str], hold: Lock) -> None:
    """Category pages present and the slugs the posts use registered; looked at under the locks
    only when something is wrong (or to write pages under ``fix``)."""
    if not run.fix and not any(_category_gaps(run, wanted)):
        return
    with hold():
        _settle_categories(run, wanted)


def _category_gaps(run: _Run, wanted: dict[str, str]) -> tuple[list[str], list[str]]:
    """(slugs without a page, slugs the posts use that the registry lacks)."""
    registry = {slug for slug, _, _ in run.state.categories()}
    missing = [
        s
        for s in sorted(registry | set(wanted))
        if SAFE_SLUG.match(s) and not run.store.exists(category_relpath(s))
    ]
    return missing, sorted(set(wanted) - registry)


def _settle_categories(run: _Run, wanted: dict[str, str]) -> None:
    report = run.report
    missing, unregistered = _category_gaps(run, wanted)
    for slug in missing:
        problem = Problem(category_relpath(slug), "category-page", f"no category page for {slug!r}", True)
        report.problems.append(problem)
    # A store rebuilt from the posts must learn their slugs, or a later crawl could give the same
    # media another one (a ``-2`` suffix, a new pinyin reading) and split the category.
    registrations = [
        Problem(
            category_relpath(slug), "category-registry", f"category {slug!r} is not in the registry", True
        )
        for slug in unregistered
        if slug not in missing
    ]
    report.problems.extend(registrations)
    if not run.fix:
        return
    for slug in unregistered:
        category_for(run.ctx, slug, wanted[slug], register=True)
    for problem in registrations:
        problem.fixed = True
        report.changes.append(f"{problem.relpath}: category registered")
    written = write_category_pages(run.state, run.config.output_dir).written
    report.changes.extend(f"{rel}: category page written" for rel in written)
    for problem in report.problems:
        if problem.code == "category-page" and run.store.exists(problem.relpath):
            problem.fixed = True

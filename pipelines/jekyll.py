"""JekyllPostPipeline: render the post, write it if it changed, then mark the article known.

Reads ``WIREMIRROR_CONFIG`` ([output] dir, [site] url). Order matters for crash safety: the post
is on disk before the state store learns of it, so a kill at any point leaves at worst an article
that is fetched again, never one that is "known" but missing. What the item is (new, an update,
the original replacing copies) was decided by the identity stage (pipelines/identity.py); the
writer carries it out and records the article only if its claim on the story still holds.

Writing is a group commit on a worker thread (pipelines/offload.py): the posts that arrive while a
batch is being committed form the next batch, whose files are flushed to disk together and then
recorded in one state transaction. One article alone is one fsync, as before; a burst of new
articles pays one flush per batch instead of two fsyncs per post, and downloads go on meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Self

from scrapy.exceptions import DropItem

from crawler.failures import record_item_failure
from crawler.matching import match_key
from crawler.postformat import PostFile, RenderedPost, SiteSettings, parse_post, render_post, same_content
from crawler.revisions import schedule_now
from crawler.runtime import get_config, get_state
from crawler.state import ArticleWrite, Revision, StateStore
from crawler.timeutil import iso, now_beijing
from pipelines.offload import close_thread_states, off_reactor, thread_state
from pipelines.store import PostStore, UnsafePathError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.items import ArticleItem

logger = logging.getLogger(__name__)


def version_of(key: str, revision: int, content_hash: str, post: PostFile) -> Revision:
    """One version of an article as the ``revisions`` table keeps it: title and body as posted."""
    meta = post.meta or {}
    return Revision(
        key, revision, content_hash, str(meta.get("fetched_at", "")), str(meta.get("title", "")), post.body
    )


def article_write(
    item: ArticleItem,
    content_hash: str,
    relpath: str,
    *,
    schedule: tuple[int, str] | None = None,
    version: Revision | None = None,
) -> ArticleWrite:
    """What the state store records for ``item`` once its post is at ``relpath``."""
    assert item.published is not None
    return ArticleWrite(
        key=item.key,
        source=item.source,
        article_id=item.article_id,
        media=item.media,
        url=item.url,
        title=item.title,
        published=iso(item.published),
        content_hash=content_hash,
        post_path=relpath,
        match_key=match_key(item.title, item.published),
        aliases=tuple(item.aliases),
        superseded=tuple(item.supersedes),
        context=json.dumps(item.context, ensure_ascii=False, default=str),
        schedule=schedule,
        etag=item.etag,
        last_modified=item.last_modified,
        updated=iso(item.updated) if item.updated else "",
        version=version,
        revision=item.revision if item.updated else None,
    )


Outcome = Literal["written", "same", "unsafe", "write_error", "record_error", "lost"]
MAX_BATCH = 200  # posts per group commit: bounds memory and the work a kill can leave unrecorded


@dataclass(slots=True)
class _Write:
    item: ArticleItem
    rendered: RenderedPost
    relpath: str
    schedule: tuple[int, str] | None = None  # the recheck schedule to record, if it changes
    done: asyncio.Future[tuple[Outcome, str]] | None = None


class JekyllPostPipeline:
    def __init__(self, crawler: Crawler, store: PostStore, state: StateStore, site: SiteSettings) -> None:
        self.crawler = crawler
        self.store = store
        self.state = state
        self.site = site
        assert crawler.stats is not None
        self.stats: StatsCollector = crawler.stats
        self._pending: list[_Write] = []
        self._committing: asyncio.Task[None] | None = None
        self.recheck_ages: Callable[[str], list[float]] = lambda source: []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = get_config(crawler)
        store = PostStore(config.output_dir)
        try:  # a crawl killed mid-write left a hidden .wm-*.tmp: tidy it before writing again
            swept = store.sweep_temporaries()
        except OSError as err:
            logger.warning("cannot sweep temporary files in %s: %s", config.output_dir, err)
        else:
            if swept:
                logger.info("removed %d temporary file(s) left by an interrupted run", swept)
        pipeline = cls(crawler, store, get_state(crawler), SiteSettings(url=config.site.url))
        pipeline.recheck_ages = config.recheck_ages
        return pipeline

    def close_spider(self) -> None:
        close_thread_states(self.state.path)

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        try:
            rendered, relpath, update, schedule = await off_reactor(self._prepare, item)
        except ValueError as err:
            record_item_failure(self.crawler, item, f"cannot render: {err}")
            raise DropItem(f"{item.key}: {err}") from err
        if rendered is None:
            self.stats.inc_value("wiremirror/unchanged")
            return item
        outcome, error = await self._commit_soon(_Write(item, rendered, relpath, schedule))
        if outcome == "unsafe":
            record_item_failure(self.crawler, item, error)
            raise DropItem(error)
        if outcome in ("write_error", "record_error"):
            # Disk full, read-only folder …: nothing is marked known, the run fails, a later run
            # retries. A post on disk but not recorded is fetched again and found unchanged.
            self.stats.inc_value("wiremirror/write_errors")
            what = "write post" if outcome == "write_error" else "record in the state store"
            logger.error("cannot %s %s for %s: %s", what, relpath, item.key, error)
            raise DropItem(f"{item.key}: cannot {what}: {error}")
        if outcome == "lost":
            self.stats.inc_value("dedupe/aliased")
            raise DropItem(f"{item.key}: same story as an original claimed meanwhile, recorded as its alias")
        self.stats.inc_value("wiremirror/updated" if update else "wiremirror/new")
        if item.revision > 1:
            self.stats.inc_value("wiremirror/revised")
        if outcome == "written":  # DEBUG: a line per article costs the reactor more than its bookkeeping
            logger.debug("%s %s → %s", "updated" if update else "new", item.key, relpath)
        return item

    def _prepare(self, item: ArticleItem) -> tuple[RenderedPost | None, str, bool, tuple[int, str] | None]:
        """On a worker thread: the post, where it goes, and whether it updates one; no post when
        the article is known with this content (its last-seen time is touched).

        A known article whose content changed is a revision: its previous version goes into the
        ``revisions`` table before the post is rewritten, so a kill at any point loses neither.
        A recheck that changed only per-request noise (a chart's token) is not a revision.
        """
        ages = self.recheck_ages(item.source)
        state = thread_state(self.state.path)
        existing = state.get_article(item.key)
        if existing is not None and existing.key != item.key:
            existing = None  # the key became another article's alias meanwhile: never touch its post
        if existing is not None and existing.retracted:  # withdrawn once: the mark stays on later versions
            item.retracted = datetime.fromisoformat(existing.retracted)
        rendered = render_post(item, self.site)
        if existing is None:
            return rendered, rendered.relpath, False, schedule_now(None, ages)
        relpath = existing.post_path or rendered.relpath
        unchanged = existing.content_hash == rendered.content_hash and self.store.exists(relpath)
        old_text = None if unchanged else self.store.read(relpath)
        old = parse_post(relpath, old_text) if old_text is not None else None
        if unchanged or (old is not None and same_content(old, rendered)):
            state.touch(existing.key)
            if item.recheck:
                state.recheck_done(
                    item.key,
                    schedule_now(existing.first_seen, ages),
                    etag=item.etag,
                    last_modified=item.last_modified,
                )
            return None, relpath, True, None
        if old is not None and old.meta is not None:
            state.keep_revision(version_of(item.key, existing.revision, existing.content_hash, old))
            item.revision, item.updated = existing.revision + 1, now_beijing()
            rendered = render_post(item, self.site)
        return rendered, relpath, True, schedule_now(existing.first_seen, ages) if item.recheck else None

    async def _commit_soon(self, write: _Write) -> tuple[Outcome, str]:
        """Queue the post for the next group commit and wait for its outcome."""
        done: asyncio.Future[tuple[Outcome, str]] = asyncio.get_running_loop().create_future()
        write.done = done
        self._pending.append(write)
        if self._committing is None:
            self._committing = asyncio.ensure_future(self._commit_pending())
        return await done

    async def _commit_pending(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    outcomes = await off_reactor(self._commit, batch)
                except Exception as err:  # noqa: BLE001 - a bug must fail these items, not hang them
                    for write in batch:
                        assert write.done is not None
                        write.done.set_exception(err)
                    continue
                for write, outcome in zip(batch, outcomes, strict=True):
                    assert write.done is not None
                    write.done.set_result(outcome)
        finally:
            self._committing = None

    def _commit(self, batch: list[_Write]) -> list[tuple[Outcome, str]]:
        """On the worker thread: the batch's posts on disk, then recorded; each one's outcome."""
        state = thread_state(self.state.path)
        outcomes: dict[int, tuple[Outcome, str]] = {}
        safe: list[int] = []
        for i, write in enumerate(batch):
            try:
                self.store.path_for(write.relpath)
                safe.append(i)
            except UnsafePathError as err:
                outcomes[i] = ("unsafe", str(err))
        writes = [batch[i] for i in safe]
        try:
            for write in writes:
                self._remove_superseded(state, write.item)
            posts = [(write.relpath, write.rendered.text) for write in writes]
            written = [self.store.write(*posts[0])] if len(posts) == 1 else self.store.write_many(posts)
        except OSError as err:
            return [outcomes.get(i, ("write_error", str(err))) for i in range(len(batch))]
        try:
            held = state.record_articles(
                [
                    article_write(
                        w.item,
                        w.rendered.content_hash,
                        w.relpath,
                        schedule=w.schedule,
                        version=version_of(
                            w.item.key,
                            w.item.revision,
                            w.rendered.content_hash,
                            parse_post(w.relpath, w.rendered.text),
                        )
                        if w.item.revision > 1
                        else None,
                    )
                    for w in writes
                ]
            )
        except sqlite3.Error as err:
            return [outcomes.get(i, ("record_error", str(err))) for i in range(len(batch))]
        for i, write, changed, claimed in zip(safe, writes, written, held, strict=True):
            if not claimed:
                self.store.remove(write.relpath)
            outcomes[i] = ("lost", "") if not claimed else ("written" if changed else "same", "")
        return [outcomes[i] for i in range(len(batch))]

    def _remove_superseded(self, state: StateStore, item: ArticleItem) -> None:
        """Remove the posts of the copies this original replaces (recording folds their rows in).

        Before recording: a kill in between leaves the copy's row without its post, and the
        original unrecorded, so the next run fetches the original again and finishes the job.
        """
        for key in item.supersedes:
            other = state.get_article(key)
            if other is not None and other.key == key and other.post_path:
                self.store.remove(other.post_path)

"""JekyllPostPipeline: render the post, write it if it changed, then mark the article known.

Reads ``WIREMIRROR_CONFIG`` ([output] dir, [site] url). Order matters for crash safety: the post
is on disk before the state store learns of it, so a kill at any point leaves at worst an article
that is fetched again, never one that is "known" but missing. What the item is (new, an update,
the original replacing copies) was decided by the identity stage (pipelines/identity.py); the
writer carries it out and records the article only if its claim on the story still holds.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from crawler.failures import record_item_failure
from crawler.matching import match_key
from crawler.postformat import SiteSettings, render_post
from crawler.runtime import get_config, get_state
from crawler.timeutil import iso
from pipelines.store import PostStore, UnsafePathError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.items import ArticleItem
    from crawler.state import StateStore

logger = logging.getLogger(__name__)


def record_post(state: StateStore, item: ArticleItem, content_hash: str, relpath: str) -> bool:
    """Mark ``item`` known with its post at ``relpath`` (call only once the post is on disk).

    False when another source's original claimed the story meanwhile: ``item`` is its alias now.
    """
    assert item.published is not None
    return state.record_article(
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
        aliases=item.aliases,
        superseded=item.supersedes,
    )


class JekyllPostPipeline:
    def __init__(self, crawler: Crawler, store: PostStore, state: StateStore, site: SiteSettings) -> None:
        self.crawler = crawler
        self.store = store
        self.state = state
        self.site = site
        assert crawler.stats is not None
        self.stats: StatsCollector = crawler.stats

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
        return cls(crawler, store, get_state(crawler), SiteSettings(url=config.site.url))

    def process_item(self, item: ArticleItem) -> ArticleItem:
        try:
            rendered = render_post(item, self.site)
        except ValueError as err:
            record_item_failure(self.crawler, item, f"cannot render: {err}")
            raise DropItem(f"{item.key}: {err}") from err
        existing = self.state.get_article(item.key)
        if existing is not None and existing.key != item.key:
            existing = None  # the key became another article's alias meanwhile: never touch its post
        relpath = existing.post_path if existing and existing.post_path else rendered.relpath
        if existing and existing.content_hash == rendered.content_hash and self.store.exists(relpath):
            self.state.touch(existing.key)
            self.stats.inc_value("wiremirror/unchanged")
            return item
        try:
            written = self.store.write(relpath, rendered.text)
            self._remove_superseded(item)
        except UnsafePathError as err:
            record_item_failure(self.crawler, item, str(err))
            raise DropItem(str(err)) from err
        except OSError as err:
            # Disk full, read-only folder …: nothing is marked known, the run fails, a later run retries.
            self.stats.inc_value("wiremirror/write_errors")
            logger.error("cannot write %s for %s: %s", relpath, item.key, err)
            raise DropItem(f"{item.key}: cannot write post: {err}") from err
        try:
            claimed = record_post(self.state, item, rendered.content_hash, relpath)
        except sqlite3.Error as err:
            # The post is on disk but not recorded: the next run fetches it again and finds it unchanged.
            self.stats.inc_value("wiremirror/write_errors")
            logger.error("cannot record %s in the state store: %s", item.key, err)
            raise DropItem(f"{item.key}: cannot record in the state store: {err}") from err
        if not claimed:
            self.store.remove(relpath)
            self.stats.inc_value("dedupe/aliased")
            raise DropItem(f"{item.key}: same story as an original claimed meanwhile, recorded as its alias")
        self.stats.inc_value("wiremirror/updated" if existing else "wiremirror/new")
        if written:
            logger.info("%s %s → %s", "updated" if existing else "new", item.key, relpath)
        return item

    def _remove_superseded(self, item: ArticleItem) -> None:
        """Remove the posts of the copies this original replaces (recording folds their rows in).

        Before recording: a kill in between leaves the copy's row without its post, and the
        original unrecorded, so the next run fetches the original again and finishes the job.
        """
        for key in item.supersedes:
            other = self.state.get_article(key)
            if other is not None and other.key == key and other.post_path:
                self.store.remove(other.post_path)

"""JekyllPostPipeline: render the post, write it if it changed, then mark the article known.

Reads ``WIREMIRROR_CONFIG`` ([output] dir, [site] url). Order matters for crash safety: the post
is on disk before the state store learns of it, so a kill at any point leaves at worst an article
that is fetched again, never one that is "known" but missing.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from crawler.failures import record_item_failure
from crawler.matching import match_key
from crawler.postformat import RenderedPost, SiteSettings, render_post
from crawler.runtime import get_config, get_state
from crawler.timeutil import iso
from pipelines.aliases import add_alias_to_post
from pipelines.dedupe import rank
from pipelines.store import PostStore, UnsafePathError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.items import ArticleItem
    from crawler.state import StateStore

logger = logging.getLogger(__name__)


def record_post(state: StateStore, item: ArticleItem, content_hash: str, relpath: str) -> None:
    """Mark ``item`` known with its post at ``relpath`` (call only once the post is on disk)."""
    assert item.published is not None
    state.record_article(
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
        relpath = existing.post_path if existing and existing.post_path else rendered.relpath
        if existing and existing.content_hash == rendered.content_hash and self.store.exists(relpath):
            self.state.touch(existing.key)
            self.stats.inc_value("wiremirror/unchanged")
            return item
        try:
            written = self.store.write(relpath, rendered.text)
            retired = self._retire_superseded(item)
        except UnsafePathError as err:
            record_item_failure(self.crawler, item, str(err))
            raise DropItem(str(err)) from err
        except OSError as err:
            # Disk full, read-only folder …: nothing is marked known, the run fails, a later run retries.
            self.stats.inc_value("wiremirror/write_errors")
            logger.error("cannot write %s for %s: %s", relpath, item.key, err)
            raise DropItem(f"{item.key}: cannot write post: {err}") from err
        try:
            self._record(item, rendered, relpath, retired)
        except sqlite3.Error as err:
            # The post is on disk but not recorded: the next run fetches it again and finds it unchanged.
            self.stats.inc_value("wiremirror/write_errors")
            logger.error("cannot record %s in the state store: %s", item.key, err)
            raise DropItem(f"{item.key}: cannot record in the state store: {err}") from err
        if self._lost_race(item, relpath):
            raise DropItem(f"{item.key}: same story as an original recorded meanwhile")
        self.stats.inc_value("wiremirror/updated" if existing else "wiremirror/new")
        if written:
            logger.info("%s %s → %s", "updated" if existing else "new", item.key, relpath)
        return item

    def _retire_superseded(self, item: ArticleItem) -> list[str]:
        """Remove the posts of articles this item supersedes; return their keys."""
        retired = []
        for alias in item.aliases:
            other = self.state.get_article(alias)
            if other is not None and other.key != item.key:
                if other.post_path:
                    self.store.remove(other.post_path)
                retired.append(other.key)
        return retired

    def _lost_race(self, item: ArticleItem, relpath: str) -> bool:
        """Settle a story that another source's crawl recorded between our dedupe check and now.

        Crawls of different sources run in parallel, so the check in the dedupe pipeline can miss
        a copy written a moment later. Both sides run this after recording; each step is idempotent,
        so they converge on one post: the preferred source's.
        """
        for other in self.state.find_all_by_match_key(match_key(item.title, item.published)):
            if other.key == item.key or other.source == item.source:
                continue
            if rank(item.source) < rank(other.source):
                if other.post_path and other.post_path != relpath:
                    self.store.remove(other.post_path)
                self.state.supersede(other.key, item.key)
                self.stats.inc_value("dedupe/superseded")
                continue
            self.store.remove(relpath)
            self.state.supersede(item.key, other.key)
            add_alias_to_post(self.store, self.state, other, item.key)
            self.stats.inc_value("dedupe/aliased")
            return True
        return False

    def _record(self, item: ArticleItem, rendered: RenderedPost, relpath: str, retired: list[str]) -> None:
        record_post(self.state, item, rendered.content_hash, relpath)
        for old in retired:
            self.state.supersede(old, item.key)

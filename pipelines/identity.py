"""IdentityPipeline: which article an item is, decided and claimed before anything is written.

One post per story, within a run, across sources and across crawls running at once. The same
story can arrive as a 中国新闻网 article and as an Eastmoney item whose media is 中国新闻网: both
have the same match key (normalised title + publish minute, crawler/matching.py). The state
store's ``claim_story`` decides in one transaction (crawler/state.py): the source with the lower
rank keeps the post and the other id becomes its alias. The writer (pipelines/jekyll.py) records
the article only while its claim holds, so a race between two crawls ends in one post.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from crawler import sources
from crawler.failures import record_item_failure
from crawler.matching import match_key
from crawler.postformat import parse_post, with_alias
from crawler.runtime import get_config, get_state
from pipelines.offload import close_thread_states, off_reactor, thread_state
from pipelines.store import PostStore

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.items import ArticleItem
    from crawler.state import StateStore, StoryClaim

logger = logging.getLogger(__name__)


class IdentityPipeline:
    def __init__(self, crawler: Crawler, state: StateStore, store: PostStore) -> None:
        self.crawler = crawler
        self.state = state
        self.store = store
        assert crawler.stats is not None
        self.stats: StatsCollector = crawler.stats
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, get_state(crawler), PostStore(get_config(crawler).output_dir))

    def close_spider(self) -> None:
        close_thread_states(self.state.path)

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        if item.key in self.seen:
            self.stats.inc_value("dedupe/in_run")
            raise DropItem(f"{item.key}: already handled in this run")
        self.seen.add(item.key)
        claim = await off_reactor(self._claim, item)
        if claim.verdict == "wait":
            record_item_failure(
                self.crawler, item, f"same story as {claim.owner}, being written by another crawl"
            )
            raise DropItem(f"{item.key}: same story as {claim.owner}, written now by another crawl")
        if claim.verdict == "alias":
            self.stats.inc_value("dedupe/aliased")
            raise DropItem(f"{item.key}: same story as {claim.owner}, recorded as its alias")
        item.aliases = list(claim.aliases)
        item.supersedes = [old.key for old in claim.superseded]
        for old in claim.superseded:
            self.stats.inc_value("dedupe/superseded")
            logger.info("%s supersedes %s (same story)", item.key, old.key)
        return item

    def _claim(self, item: ArticleItem) -> StoryClaim:
        """On a worker thread: the claim, and for a copy of a written story, its alias recorded."""
        state = thread_state(self.state.path)
        claim = state.claim_story(item.key, item.source, match_key(item.title, item.published), sources.rank)
        if claim.verdict == "alias":
            self._record_alias(state, item.key, claim.owner)
        return claim

    def _record_alias(self, state: StateStore, alias: str, owner_key: str) -> None:
        """The original's post lists the copy first, then the state store learns of the alias.

        In that order a kill leaves a post naming an alias the store does not know yet; the copy is
        fetched again next time and this runs again, changing nothing on disk.
        """
        owner = state.get_article(owner_key)
        text = self.store.read(owner.post_path) if owner and owner.post_path else None
        rendered = with_alias(parse_post(owner.post_path, text), alias) if owner and text else None
        if rendered is not None:
            self.store.write(rendered.relpath, rendered.text)
        state.add_alias(alias, owner_key, content_hash=rendered.content_hash if rendered else None)

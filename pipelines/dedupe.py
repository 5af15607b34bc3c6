"""DedupeArticlePipeline: one post per story, within a run and across sources.

The same story can arrive as a 中国新闻网 article and as an Eastmoney item whose media is
中国新闻网. Both are matched on normalised title + publish minute; the original source wins and
the other id is recorded on it as an alias.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from crawler import sources
from crawler.matching import match_key
from crawler.runtime import get_config, get_state
from pipelines.aliases import add_alias_to_post
from pipelines.store import PostStore

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.items import ArticleItem
    from crawler.state import StateStore

logger = logging.getLogger(__name__)


def rank(source: str) -> int:
    """Lower wins: a wire service's own page beats its syndicated copy (each source says its rank)."""
    return sources.get(source).rank if source in sources.names() else 1 << 30


class DedupeArticlePipeline:
    def __init__(self, state: StateStore, stats: StatsCollector, store: PostStore) -> None:
        self.state = state
        self.stats = stats
        self.store = store
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        assert crawler.stats is not None
        return cls(get_state(crawler), crawler.stats, PostStore(get_config(crawler).output_dir))

    def process_item(self, item: ArticleItem) -> ArticleItem:
        if item.key in self.seen:
            self.stats.inc_value("dedupe/in_run")
            raise DropItem(f"{item.key}: already handled in this run")
        self.seen.add(item.key)
        other = self.state.find_by_match_key(match_key(item.title, item.published))
        if other is None or other.key == item.key or other.source == item.source:
            return item
        if rank(item.source) < rank(other.source):
            # This copy is the original: it takes over; the jekyll pipeline retires the other post.
            item.aliases.append(other.key)
            self.stats.inc_value("dedupe/superseded")
            logger.info("%s supersedes %s (same story)", item.key, other.key)
            return item
        self.state.add_alias(item.key, other.key)
        add_alias_to_post(self.store, self.state, other, item.key)
        self.stats.inc_value("dedupe/aliased")
        raise DropItem(f"{item.key}: same story as {other.key}, recorded as its alias")

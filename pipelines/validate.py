"""ValidateArticlePipeline: refuse items that would make a broken post, and record them to retry."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from crawler import sources
from crawler.failures import record_item_failure
from crawler.postformat import has_visible_text, is_web_url
from crawler.timeutil import now_beijing

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.items import ArticleItem

# Jekyll skips posts dated in the future; a small clock skew upstream is tolerated.
MAX_FUTURE = timedelta(hours=6)


def problems(item: ArticleItem) -> list[str]:
    """Why ``item`` cannot become a post; empty when it can."""
    found = []
    if item.source not in sources.names() or not sources.get(item.source).valid_id(item.article_id):
        found.append(f"bad article id {item.article_id!r}")
    if not has_visible_text(item.title):
        found.append("empty title")
    if not is_web_url(item.url) or (item.share_url and not is_web_url(item.share_url)):
        found.append(f"not an http(s) article URL: {(item.share_url or item.url)[:200]!r}")
    if item.published is None:
        found.append("no publish time")
    elif item.published > now_beijing() + MAX_FUTURE:
        found.append(f"publish time in the future ({item.published.isoformat()})")
    if not item.body_html.strip():
        found.append("empty body")
    return found


class ValidateArticlePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        found = problems(item)
        if found:
            reason = "; ".join(found)
            record_item_failure(self.crawler, item, f"invalid: {reason}")
            raise DropItem(f"{item.key}: {reason}")
        return item

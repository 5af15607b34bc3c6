"""CleanArticlePipeline: the source's own pre-pass, then the nh3 sanitiser, then Liquid-safety.

The source line (文章来源), author and editor leave the body for front matter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from crawler import sources
from crawler.failures import record_item_failure
from crawler.postformat import clean_text
from pipelines.offload import in_worker_process, stop_worker_process
from pipelines.sanitize import sanitize_html, strip_control

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.items import ArticleItem


def clean_item(item: ArticleItem) -> ArticleItem:
    """Fill ``item.body`` (and origin/author/editor when the body held them). Pure.

    The one-line fields are made plain single-line text here, before the state store or a file name
    sees them: upstream JSON can carry lone surrogates and controls that neither SQLite nor UTF-8 take.
    """
    for name in ("title", "media", "summary", "origin", "author", "editor"):
        setattr(item, name, clean_text(getattr(item, name)))
    cleaned = sources.get(item.source).preclean(strip_control(item.body_html), base_url=item.url)
    item.body = sanitize_html(cleaned.html, base_url=item.url)
    item.origin = item.origin or clean_text(cleaned.origin)
    item.author = item.author or clean_text(cleaned.author)
    item.editor = item.editor or clean_text(cleaned.editor)
    return item


class CleanArticlePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def close_spider(self) -> None:
        stop_worker_process()

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        item = await in_worker_process(clean_item, item)
        if "\ufffd" in item.body or "\ufffd" in item.title:
            record_item_failure(self.crawler, item, "mis-decoded text (U+FFFD) in title or body")
            raise DropItem(f"{item.key}: mis-decoded text")
        if not item.body.strip():
            record_item_failure(self.crawler, item, "body empty after cleaning")
            raise DropItem(f"{item.key}: body empty after cleaning")
        return item

"""CategoryPipeline: media name → stable pinyin slug from the persistent category registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from crawler.runtime import get_state
from crawler.slugs import category_title, media_slug, normalise_media
from pipelines.render import EMNEWS_MEDIA

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.items import ArticleItem
    from crawler.state import StateStore


def assign_category(state: StateStore, media: str) -> tuple[str, str]:
    """(slug, tag) for ``media``; the first slug a media name gets is kept forever."""
    name = normalise_media(media) or EMNEWS_MEDIA
    known = state.category_for(name)
    if known:
        return known
    title = "东财滚动新闻" if name == EMNEWS_MEDIA else category_title(name)
    slug = state.assign_category(name, media_slug(name), title)
    return slug, title


class CategoryPipeline:
    def __init__(self, state: StateStore) -> None:
        self.state = state

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(get_state(crawler))

    def process_item(self, item: ArticleItem) -> ArticleItem:
        item.category, item.tag = assign_category(self.state, item.media)
        return item

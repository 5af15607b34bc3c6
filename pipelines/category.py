"""CategoryPipeline: media name → stable pinyin slug from the persistent category registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Self

from crawler import sources
from crawler.runtime import get_config, get_state
from crawler.slugs import category_title, media_slug, normalise_media

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.items import ArticleItem
    from crawler.state import StateStore


def assign_category(state: StateStore, media: str, default_media: str = "") -> tuple[str, str]:
    """(slug, tag) for ``media`` (``default_media`` when it has none: the source's own news);
    the first slug a media name gets is kept forever."""
    slug, tag, _ = _category(state, media, default_media)
    return slug, tag


def category_of(state: StateStore, item: ArticleItem) -> tuple[str, str]:
    """(slug, tag) of an item: its media's category, or its source's own."""
    return assign_category(state, item.media, sources.get(item.source).default_media)


def _category(state: StateStore, media: str, default_media: str) -> tuple[str, str, bool]:
    """(slug, tag, whether this call registered the media name)."""
    name = normalise_media(media) or normalise_media(default_media)
    if not name:
        raise ValueError("an item without a media name needs its source's default media")
    known = state.category_for(name)
    if known:
        return known[0], known[1], False
    title = category_title(name)
    return state.assign_category(name, media_slug(name), title), title, True


class CategoryPipeline:
    """Assigns the category, and writes the page of every category first seen in this run, so a
    post's footer link resolves as soon as the post exists (not only after ``archive categories``)."""

    def __init__(self, state: StateStore, output_dir: Path) -> None:
        self.state = state
        self.output_dir = output_dir
        self.registered = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(get_state(crawler), get_config(crawler).output_dir)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        item.category, item.tag, registered = _category(
            self.state, item.media, sources.get(item.source).default_media
        )
        self.registered += registered
        return item

    def close_spider(self) -> None:
        if self.registered:
            from crawler.site import write_category_pages  # only runs that met a new source pay for it

            write_category_pages(self.state, self.output_dir)

"""CategoryPipeline: media name → stable pinyin slug from the persistent category registry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Self

from crawler import sources
from crawler.runtime import get_config, get_state
from crawler.site import ensure_category_page
from crawler.slugs import category_title, media_slug, normalise_media
from pipelines.store import PostStore

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.items import ArticleItem
    from crawler.state import StateStore

logger = logging.getLogger(__name__)


def assign_category(state: StateStore, media: str, default_media: str = "") -> tuple[str, str]:
    """(slug, tag) for ``media`` (``default_media`` when it has none: the source's own news);
    the first slug a media name gets is kept forever."""
    name = normalise_media(media) or normalise_media(default_media)
    if not name:
        raise ValueError("an item without a media name needs its source's default media")
    known = state.category_for(name)
    if known:
        return known
    title = category_title(name)
    return state.assign_category(name, media_slug(name), title), title


def category_of(state: StateStore, item: ArticleItem) -> tuple[str, str]:
    """(slug, tag) of an item: its media's category, or its source's own."""
    return assign_category(state, item.media, sources.get(item.source).default_media)


class CategoryPipeline:
    """Assigns the category, and makes sure the page of every category this run uses exists
    before the first post linking to it is written: a run killed after registering a category,
    or a page deleted by hand, is repaired by the next run that posts into that category, not
    only by ``archive categories``. One stat per distinct category per run."""

    def __init__(self, state: StateStore, output_dir: Path) -> None:
        self.state = state
        self.store = PostStore(output_dir)
        self.checked: set[str] = set()
        self.known: dict[tuple[str, str], tuple[str, str]] = {}  # (media, source) → (slug, tag)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(get_state(crawler), get_config(crawler).output_dir)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        # a media name keeps its first slug forever, so the run asks the registry once per name
        key = (item.media, item.source)
        if key not in self.known:
            self.known[key] = category_of(self.state, item)
        item.category, item.tag = self.known[key]
        if item.category not in self.checked:
            self.checked.add(item.category)
            try:
                ensure_category_page(self.store, item.category, item.tag)
            except OSError as err:  # the post's own write reports the disk; the next run retries the page
                logger.warning("cannot write the page of category %s: %s", item.category, err)
        return item

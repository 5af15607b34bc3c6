"""RetractionPipeline: a known article withdrawn upstream is marked, never deleted.

A recheck that meets 404/410 or a soft 404 yields a :class:`~crawler.items.Retraction` instead of an
article. Its post stays where it is, with ``retracted:`` in its front matter (the layout shows a
notice), and the state store stops rechecking it. The post is marked first: a kill in between leaves
the article due for its recheck, which marks it again, changing nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from scrapy.exceptions import DropItem

from crawler.items import Retraction
from crawler.postformat import parse_post, with_front_matter
from crawler.runtime import get_config, get_state
from crawler.timeutil import jekyll_date
from pipelines.store import PostStore

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.state import StateStore

logger = logging.getLogger(__name__)


class RetractionPipeline:
    def __init__(self, state: StateStore, store: PostStore) -> None:
        self.state = state
        self.store = store

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(get_state(crawler), PostStore(get_config(crawler).output_dir))

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Retraction):
            return item
        record = self.state.get_article(item.key)
        if record is not None and record.key == item.key and record.post_path:
            text = self.store.read(record.post_path)
            marked = (
                with_front_matter(parse_post(record.post_path, text), {"retracted": jekyll_date(item.when)})
                if text
                else None
            )
            if marked is not None:
                self.store.write(marked.relpath, marked.text)
            self.state.retract(item.key, item.when)
            logger.warning(
                "%s was withdrawn upstream (%s): its post is kept, marked retracted", item.key, item.reason
            )
        raise DropItem(f"{item.key}: retracted upstream ({item.reason})")

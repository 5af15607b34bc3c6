"""Recording failures: one place for the log line, the stats counter and the retry schedule."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from crawler.runtime import get_config, get_state

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.items import ArticleItem

logger = logging.getLogger(__name__)


def record_failure(
    crawler: Crawler, *, key: str, source: str, url: str, error: str, context: dict[str, Any] | None = None
) -> None:
    """Count the failure, log one clear line and schedule a retry with backoff."""
    config = get_config(crawler)
    attempts = get_state(crawler).record_failure(
        key=key, source=source, url=url, error=error, context=context, backoff=config.crawl.retry_backoff
    )
    assert crawler.stats is not None
    crawler.stats.inc_value("wiremirror/failed")
    logger.warning("article failed: %s (%s), attempt %d: %s", key, url, attempts, error)


def record_item_failure(crawler: Crawler, item: ArticleItem, error: str) -> None:
    record_failure(crawler, key=item.key, source=item.source, url=item.url, error=error, context=item.context)

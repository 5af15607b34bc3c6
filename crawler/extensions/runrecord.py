"""RunRecorder: one row per crawl in the state store's ``runs`` table, with its outcome and stats.

``wiremirror status``, the health checks and the CLI's exit code all read these rows. The outcome
is "failed" when every list request of the run failed (the source is down or changed shape) or a
post could not be written; "interrupted" when the crawl was stopped before it finished.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals

from crawler.logsetup import summary_line
from crawler.runtime import get_state

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

# listed = known (mirrored, or already queued this run) + waiting (a failure in backoff)
#        + filtered (configuration: video/photo, channels, media) + the rest, which the run attempted
SUMMARY_KEYS = (
    *("listed", "known", "waiting", "filtered", "new", "updated", "unchanged", "skipped", "failed"),
    *("rechecks", "revised", "retracted"),  # revisions: known articles fetched again, what changed
)


def run_outcome(stats: dict[str, Any], finish_reason: str) -> str:
    if finish_reason not in ("finished", "closespider_itemcount"):
        return "interrupted"
    if stats.get("wiremirror/write_errors", 0):
        return "failed"
    if stats.get("wiremirror/list_failed", 0) and not stats.get("wiremirror/list_ok", 0):
        return "failed"
    return "ok"


def summarise(stats: dict[str, Any], duration: float) -> dict[str, Any]:
    summary: dict[str, Any] = {key: int(stats.get(f"wiremirror/{key}", 0)) for key in SUMMARY_KEYS}
    summary["skipped"] += int(stats.get("dedupe/aliased", 0)) + int(stats.get("dedupe/in_run", 0))
    summary["requests"] = int(stats.get("downloader/request_count", 0))
    summary["article_requests"] = int(stats.get("wiremirror/article_requests", 0))
    summary["list_requests"] = int(stats.get("wiremirror/list_requests", 0))
    summary["duration"] = round(duration, 2)
    return summary


class RunRecorder:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.run_id = 0
        self.started = 0.0
        self.open = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        self.run_id = get_state(self.crawler).start_run(spider.name)
        self.open = True

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.open = False
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        outcome = run_outcome(stats, reason)
        summary = summarise(stats, time.monotonic() - self.started)
        self.crawler.stats.set_value("wiremirror/outcome", outcome)
        self.crawler.stats.set_value("wiremirror/summary", summary)  # what the CLI prints, as recorded
        state = get_state(self.crawler)
        state.finish_run(self.run_id, outcome, summary)
        logger.info("run summary: %s outcome=%s", summary_line(spider.name, summary), outcome)
        state.close()


def close_unfinished(crawler: Crawler) -> None:
    """Record a run the reactor left without closing its spider (a second SIGTERM: Scrapy's forced
    stop) as interrupted, instead of leaving its row "running" until the stale-run rule fires."""
    try:
        extensions = crawler.extensions
    except (AttributeError, RuntimeError):  # Scrapy raises RuntimeError when the crawl never got that far
        return
    for ext in extensions.middlewares:
        if isinstance(ext, RunRecorder) and ext.open and crawler.spider is not None:
            ext.spider_closed(crawler.spider, "killed")

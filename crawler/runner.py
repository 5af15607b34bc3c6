"""Run crawls in this process: one CrawlerProcess, one crawler per source, results per source.

``wiremirror crawl`` and ``wiremirror fetch`` both come here. Each invocation is a fresh process
(the daemon starts ``wiremirror crawl`` as a subprocess), so the reactor is started exactly once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from crawler.config import Config
from crawler.extensions.runrecord import close_unfinished
from crawler.runtime import scrapy_settings_for

logger = logging.getLogger(__name__)

# Loggers whose lines only repeat what our own one-line messages already say; they still go to
# the per-run log file, not to the console.
CONSOLE_QUIET = (
    "scrapy.downloadermiddlewares.retry",
    "scrapy.downloadermiddlewares.robotstxt",
    "scrapy.core.scraper",
    "scrapy.core.engine",
)


@dataclass(slots=True)
class SourceResult:
    source: str
    outcome: str
    summary: dict[str, Any] = field(default_factory=dict)


class _ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith(CONSOLE_QUIET) and record.levelno < logging.CRITICAL)


def run_spiders(
    config: Config,
    jobs: list[tuple[str, dict[str, Any]]],
    *,
    overrides: dict[str, Any] | None = None,
    console_level: str = "WARNING",
) -> list[SourceResult]:
    """Run each ``(spider name, spider kwargs)`` to completion; return their outcomes."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    # Installed copies run from any folder, where no scrapy.cfg names the settings module.
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    settings = get_project_settings()
    settings.setdict(scrapy_settings_for(config), priority="project")
    settings.setdict(overrides or {}, priority="cmdline")
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")  # our handlers, below
    _configure_console(console_level)

    process = CrawlerProcess(settings)
    crawlers = [(spider, process.create_crawler(spider), kwargs) for spider, kwargs in jobs]
    _hold_early_signals([crawler for _, crawler, _ in crawlers])
    for _, crawler, kwargs in crawlers:
        process.crawl(crawler, **kwargs)
    process.start()

    results = []
    for spider, crawler, _ in crawlers:
        close_unfinished(crawler)
        stats = crawler.stats.get_stats() if crawler.stats else {}
        outcome = str(stats.get("wiremirror/outcome") or "failed")
        results.append(SourceResult(spider, outcome, dict(stats.get("wiremirror/summary") or {})))
    return results


def _hold_early_signals(crawlers: list[Any]) -> None:
    """Until Scrapy's own handlers are in (they come with the reactor), a stop request is held and
    handed to Scrapy once the engine runs: a graceful stop like any other, never a KeyboardInterrupt
    thrown into Twisted's start-up."""
    from scrapy import signals

    held: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        held.append(signum)

    def hand_over() -> None:
        if held:
            os.kill(os.getpid(), held[0])

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, hold)
    for crawler in crawlers:
        crawler.signals.connect(hand_over, signal=signals.engine_started, weak=False)


def _configure_console(console_level: str) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level.upper())
    console.addFilter(_ConsoleFilter())
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(console)
    for noisy in ("scrapy.core.downloader.tls", "asyncio", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

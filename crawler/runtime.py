"""What every Scrapy component needs from wiremirror: the parsed config and one state store.

The config travels in the ``WIREMIRROR_CONFIG`` setting (a Config object, or a path to load), so
``wiremirror crawl --config F`` and a bare ``scrapy crawl eastmoney`` resolve it the same way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

from crawler.config import Config, load_config
from crawler.state import StateStore

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

_STATE_ATTR = "_wiremirror_state"
_CONFIG_ATTR = "_wiremirror_config"


def config_from_settings(settings: BaseSettings) -> Config:
    value = settings.get("WIREMIRROR_CONFIG")
    if isinstance(value, Config):
        return value
    return load_config(value or None)


def get_config(crawler: Crawler) -> Config:
    config = getattr(crawler, _CONFIG_ATTR, None)
    if config is None:
        config = config_from_settings(crawler.settings)
        setattr(crawler, _CONFIG_ATTR, config)
    return config


def get_state(crawler: Crawler) -> StateStore:
    """One StateStore per crawler, shared by its spider, pipelines and extensions."""
    store = getattr(crawler, _STATE_ATTR, None)
    if store is None:
        store = StateStore(get_config(crawler).db_path)
        setattr(crawler, _STATE_ATTR, store)
    return store


def bind(crawler: Crawler, config: Config, state: StateStore) -> None:
    """Give a crawler built outside a crawl (``archive rebuild``'s replay) the config and store to use."""
    setattr(crawler, _CONFIG_ATTR, config)
    setattr(crawler, _STATE_ATTR, state)


def switched_off(component: str, reason: str) -> NotConfigured:
    """NotConfigured for a component the configuration turned off on purpose.

    Scrapy logs a NotConfigured that carries a message as a WARNING on every run — noise in each
    cron mail for what is a setting, not a problem — so the reason goes to DEBUG and the exception
    carries none.
    """
    logger.debug("%s off: %s", component, reason)
    return NotConfigured()


def scrapy_settings_for(config: Config) -> dict[str, Any]:
    """Scrapy settings derived from ``[crawl]``: politeness, limits, identity."""
    crawl = config.crawl
    return {
        "WIREMIRROR_CONFIG": config,
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay, 0.01),
        "AUTOTHROTTLE_MAX_DELAY": max(60.0, crawl.download_delay * 10),
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_per_domain,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_MAXSIZE": crawl.max_size,
        "DOWNLOAD_WARNSIZE": min(crawl.max_size, 4 * 1024 * 1024),
        "RETRY_TIMES": crawl.retry_times,
        "RETRY_AFTER_MAX": crawl.retry_after_max,
        "LOG_LEVEL": crawl.log_level,
        "LOOPBACK_ONLY": crawl.loopback_only,
    }

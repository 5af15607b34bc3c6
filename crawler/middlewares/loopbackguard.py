"""LoopbackGuardMiddleware: with ``LOOPBACK_ONLY`` on, no request leaves 127.0.0.1.

Tests, the demo and the benchmarks run spiders against a loopback server; a URL left at its
default must fail loudly there instead of reaching the real site.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

from crawler.runtime import switched_off

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class LoopbackGuardMiddleware:
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("LOOPBACK_ONLY"):
            raise switched_off(cls.__name__, "LOOPBACK_ONLY is off")
        return cls()

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = urlsplit(request.url).hostname or ""
        if host not in LOOPBACK_HOSTS:
            logger.error("refused non-loopback request (LOOPBACK_ONLY): %s", request.url)
            raise IgnoreRequest(f"LOOPBACK_ONLY: {request.url}")

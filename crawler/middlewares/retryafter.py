"""RetryAfterMiddleware: Scrapy's RetryMiddleware, but a 429/503 ``Retry-After`` is honoured.

Scrapy retries a 429 at once (scrapy/scrapy#3849), which is how a rate limit becomes an IP ban.
Here the retry waits what the server asked for — seconds or an HTTP-date — without blocking the
reactor (the coroutine sleeps; other downloads go on), and the host's download slot is pushed
back too, so its other queued requests wait as well. A wait longer than ``RETRY_AFTER_MAX``
(``[crawl] retry_after_max``) is not sat out in this run: the response goes on as a failure, which
the state store schedules for a later run with backoff.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.asyncio import sleep
from scrapy.utils.response import response_status_message

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

HONOURED_STATUSES = frozenset({429, 503})
DEFAULT_MAX_WAIT = 300.0


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); None if absent/unusable."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as such
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryAfterMiddleware(RetryMiddleware):
    """Replaces ``scrapy.downloadermiddlewares.retry.RetryMiddleware`` (same settings, same stats)."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.max_wait = settings.getfloat("RETRY_AFTER_MAX", DEFAULT_MAX_WAIT)

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        wait = None
        if response.status in HONOURED_STATUSES:
            wait = retry_after_seconds(response.headers.get(b"Retry-After"))
        if wait is None:
            return self._retry(request, reason) or response
        stats = self.crawler.stats
        if wait > self.max_wait:
            if stats is not None:
                stats.inc_value("retry_after/too_long")
            logger.warning(
                "HTTP %d from %s asks to wait %.0fs (Retry-After), more than crawl.retry_after_max=%.0fs:"
                " not retrying in this run",
                response.status,
                request.url,
                wait,
                self.max_wait,
            )
            return response
        retry = self._retry(request, reason)
        if retry is None:
            return response
        if stats is not None:
            stats.inc_value("retry_after/waits")
        logger.info(
            "HTTP %d from %s: waiting %.1fs as its Retry-After asks, then retry %d",
            response.status,
            request.url,
            wait,
            retry.meta.get("retry_times", 0),
        )
        self._hold_slot(request, wait)
        await sleep(wait)
        return retry

    def _hold_slot(self, request: Request, wait: float) -> None:
        """Push the host's slot back so its queued requests (with a download delay set) wait too."""
        engine = self.crawler.engine
        downloader = getattr(engine, "downloader", None) if engine else None
        if downloader is None:
            return
        try:
            slot = downloader.slots.get(downloader.get_slot_key(request))
            if slot is not None:
                slot.lastseen = max(slot.lastseen, time.monotonic() + wait - slot.download_delay())
        except AttributeError:  # a Scrapy without these internals: the request itself still waits
            return

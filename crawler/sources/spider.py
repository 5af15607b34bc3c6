"""WireSpider: what both sources share — config, state, failure recording, fetch mode, retries."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

import scrapy
from scrapy.exceptions import DownloadCancelledError, ResponseDataLossError
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure as TwistedFailure

from crawler.failures import record_failure
from crawler.items import ArticleItem, Retraction
from crawler.matching import normalise_title
from crawler.revisions import schedule_now
from crawler.runtime import get_config, get_state
from crawler.sources.common import ExtractionError
from crawler.timeutil import now_beijing

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.config import Config
    from crawler.state import Failure, StateStore

logger = logging.getLogger(__name__)


def describe_failure(failure: TwistedFailure) -> str:
    """One readable line for a download failure (no traceback)."""
    value = failure.value
    if isinstance(value, HttpError):
        return f"HTTP {value.response.status}"
    if isinstance(value, ResponseDataLossError):
        return "truncated body: the connection closed before the announced length arrived"
    if isinstance(value, DownloadCancelledError) and "max size" in str(value):
        return f"body over the size limit (crawl.max_size): {value}"
    return f"{type(value).__name__}: {value}".strip().rstrip(":")


class WireSpider(scrapy.Spider):
    """Base spider. Arguments: ``urls`` (newline-separated) switches to fetch mode — mirror exactly
    these articles now, whatever the state store says."""

    config: Config
    state: StateStore
    # wm_kind of a captured response → the callback that handles it, for responses that start an
    # article (``archive rebuild`` replays captures through them; follow-up requests need no entry)
    replay_callbacks: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, urls: str | Iterable[str] = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_urls = [u for u in (urls.split() if isinstance(urls, str) else list(urls)) if u]
        self._gone: list[Retraction] = []  # retractions a recheck's callback found
        self._rechecked: set[str] = set()  # keys fetched again in this run

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.config = get_config(crawler)
        spider.state = get_state(crawler)
        return spider

    @property
    def fetch_mode(self) -> bool:
        return bool(self.fetch_urls)

    @staticmethod
    def text_of(response: Response) -> str:
        """The decoded body; a binary answer (an image or a download where a page was expected) is
        an ExtractionError like any other unusable payload."""
        if not isinstance(response, TextResponse):
            kind = (response.headers.get("Content-Type") or b"no content type").decode("latin-1")
            raise ExtractionError(f"not a text response ({kind})")
        return response.text

    def key_of(self, article_id: str) -> str:
        """The state-store key of one of this source's articles (the registry's rule)."""
        from crawler import sources  # the registry imports the spiders' packages

        return sources.get(self.name).key(article_id)

    def count(self, key: str, value: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"wiremirror/{key}", value)

    def unknown(self, keys: Iterable[str]) -> set[str]:
        """The keys not yet mirrored and not waiting out a failure's backoff (all of them in fetch mode).

        Counts ``known`` and ``waiting``: with ``filtered`` they tell a quiet run (everything listed
        is accounted for) from a broken one (new articles listed, none written) — see crawler.health.
        """
        listed = list(keys)
        wanted = set(listed)
        if self.fetch_mode:
            return wanted
        known = self.state.known_keys(wanted)
        fresh = wanted - known
        # A failed article still listed upstream waits for its backoff like one that is not.
        waiting = self.state.waiting_failures(fresh, max_attempts=self.config.crawl.retry_max_attempts)
        self.count("known", sum(key in known for key in listed))  # per listing, like "listed"
        self.count("waiting", sum(key in waiting for key in listed))
        return fresh - waiting

    def due_retries(self) -> list[Failure]:
        if self.fetch_mode:
            return []
        return self.state.due_failures(self.name, max_attempts=self.config.crawl.retry_max_attempts)

    # -- known articles again: retries of failures, rechecks for revisions -------------------
    def again(self, key: str, url: str, context: dict[str, Any]) -> scrapy.Request | None:
        """The request that fetches article ``key`` again, from what was kept of it; None when
        nothing usable was kept. Each source says how (its list entry, or its URL)."""
        raise NotImplementedError

    def requests_again(self) -> Iterator[scrapy.Request]:
        """Failed articles due for a retry, then known articles due for a recheck (capped per run)."""
        for failure in self.due_retries():
            self.count("retries")
            request = self.again(failure.key, failure.url, failure.context)
            if request is not None:
                yield request
        if self.fetch_mode or not self.config.recheck_ages(self.name):
            return
        limit = self.config.revisions.max_rechecks_per_run
        for recheck in self.state.due_rechecks(self.name, limit=limit):
            request = self.again(recheck.key, recheck.url, recheck.context)
            if request is None:
                continue
            self.count("rechecks")
            self._rechecked.add(recheck.key)
            yield self._as_recheck(request, recheck.key, recheck.etag, recheck.last_modified)

    def retitled(self, listed: dict[str, str]) -> list[str]:
        """Known articles among ``listed`` (key → title as listed now) whose title upstream is no
        longer the one mirrored: a correction the list shows before any recheck age. Each is fetched
        again at once (not conditionally: the body may be unchanged), within the run's recheck cap."""
        if self.fetch_mode or not self.config.recheck_ages(self.name):
            return []
        budget = self.config.revisions.max_rechecks_per_run - len(self._rechecked)
        mirrored = self.state.titles_of(listed)
        changed = [
            key
            for key, title in listed.items()
            if key in mirrored
            and key not in self._rechecked
            and normalise_title(title) != normalise_title(mirrored[key])
        ][: max(budget, 0)]
        self._rechecked.update(changed)
        self.count("rechecks", len(changed))
        return changed

    def _as_recheck(
        self, request: scrapy.Request, key: str, etag: str = "", last_modified: str = ""
    ) -> scrapy.Request:
        """``request`` as a recheck: conditional when validators were kept; a 304 reaches us."""
        headers = dict(request.headers.to_unicode_dict())
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        meta = {
            **request.meta,
            "wm_recheck": key,
            "wm_callback": request.callback,
            "handle_httpstatus_list": [304],
        }
        return request.replace(
            headers=headers,
            meta=meta,
            callback=self._recheck_response,
            errback=self._recheck_failed,
            dont_filter=True,
        )

    def _recheck_response(self, response: Response) -> Iterator[Any]:
        key = response.meta["wm_recheck"]
        if response.status == 304:
            self.count("recheck_not_modified")
            self.state.recheck_done(key, self.recheck_schedule(key))
            return
        self._gone = []
        for output in response.meta["wm_callback"](response):
            if isinstance(output, scrapy.Request):
                output.meta["wm_recheck"] = key  # a follow-up page of the same article
            yield output
        yield from self._gone

    def _recheck_failed(self, failure: TwistedFailure) -> Iterator[Retraction]:
        request = failure.request  # type: ignore[attr-defined]
        key = request.meta["wm_recheck"]
        value = failure.value
        if isinstance(value, HttpError) and value.response.status in (404, 410):
            yield self.retraction(key, request.url, f"HTTP {value.response.status}")
            return
        # down, blocked, timed out …: the article stays as it is; this age is used up
        logger.warning("recheck of %s failed: %s", key, describe_failure(failure))
        self.count("recheck_failed")
        self.state.recheck_done(key, self.recheck_schedule(key))

    def retraction(self, key: str, url: str, reason: str) -> Retraction:
        self.count("retracted")
        return Retraction(key=key, source=self.name, url=url, when=now_beijing(), reason=reason)

    def recheck_schedule(self, key: str) -> tuple[int, str]:
        record = self.state.get_article(key)
        return schedule_now(record.first_seen if record else None, self.config.recheck_ages(self.name))

    def fail(
        self,
        *,
        key: str,
        url: str,
        error: str,
        context: dict[str, Any] | None = None,
        gone: bool = False,
        response: Response | None = None,
    ) -> None:
        """Record a failed article; on a recheck, a page that says the article is ``gone`` (a soft
        404) is a retraction instead, and any other failure leaves the known post as it is."""
        if response is not None and response.meta.get("wm_recheck") == key:
            if gone:
                self._gone.append(self.retraction(key, url, error))
            else:
                logger.warning("recheck of %s unusable, the post stays: %s", key, error)
                self.state.recheck_done(key, self.recheck_schedule(key))
            return
        record_failure(self.crawler, key=key, source=self.name, url=url, error=error, context=context)

    def list_failed(self, failure: TwistedFailure) -> None:
        """Errback of list requests: the source may be down; counted so the run can fail as a whole."""
        self.count("list_failed")
        request = failure.request  # type: ignore[attr-defined]
        logger.error("list request failed: %s: %s", request.url, describe_failure(failure))

    def finish(self, item: ArticleItem, response: Response, context: dict[str, Any]) -> ArticleItem:
        """Stamp what every item needs before the pipelines: fetch time, retry context, feed.

        The fetch time is the capture's own stamp when captures are on, so ``archive rebuild``
        reproduces the post byte for byte.
        """
        captured = response.meta.get("wm_captured_at")
        item.fetched_at = datetime.fromisoformat(captured) if captured else now_beijing()
        item.recheck = response.meta.get("wm_recheck") == item.key
        item.etag = (response.headers.get("ETag") or b"").decode("latin-1")  # for a conditional recheck
        item.last_modified = (response.headers.get("Last-Modified") or b"").decode("latin-1")
        item.context = {"entry": context} if context else {}
        item.feed = item.feed or ("fetch" if self.fetch_mode else "")
        return item

    async def start(self) -> AsyncIterator[Any]:
        for request in self.start_requests_for_run():
            yield request

    def start_requests_for_run(self) -> Iterable[scrapy.Request]:
        raise NotImplementedError

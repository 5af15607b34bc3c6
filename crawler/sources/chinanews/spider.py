"""ChinanewsSpider: scroll lists, RSS feeds and day archives → article pages (all pages of each).

Routing only: every page goes to a pure function of crawler.sources.chinanews. The fast path for
"nothing new" is one request per configured list: scroll pages are read one after another and
paging stops at the first page without a new article; known articles are never requested.

Spider arguments: ``urls`` (fetch mode, from WireSpider) and ``archive_days`` (comma-separated
``YYYY-MM-DD``): read only those day archives — what ``wiremirror backfill`` runs, one day at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure as TwistedFailure

from crawler.items import ArticleItem
from crawler.sources.chinanews.articles import extract_article, merge_pages, page_urls
from crawler.sources.chinanews.lists import ListEntry, parse_rss, parse_scroll_list
from crawler.sources.chinanews.page import decode_page
from crawler.sources.chinanews.urls import (
    canonical_url,
    classify_url,
    day_archive_url,
    item_id_from_url,
    page_number,
    rss_url,
    scroll_page_url,
)
from crawler.sources.common import ExtractionError, NotAnArticle, SoftNotFound
from crawler.sources.spider import WireSpider, describe_failure
from crawler.timeutil import iso, now_beijing

logger = logging.getLogger(__name__)

SOURCE = "chinanews"
ARCHIVE_CHECKED = "chinanews:day_archive_checked"


def parse_days(value: str | Iterable[str]) -> list[date]:
    """``"2022-01-05,2022-01-04"`` (or a list) → dates, in the order given."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [date.fromisoformat(v.strip()) for v in items if v.strip()]


class ChinanewsSpider(WireSpider):
    name = SOURCE
    replay_callbacks: ClassVar[dict[str, str]] = {"chinanews:article": "parse_article"}

    def __init__(self, *args: Any, archive_days: str | Iterable[str] = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.archive_days = parse_days(archive_days)
        self._queued: set[str] = set()  # keys requested in this run (lists overlap a lot)

    @property
    def source_config(self) -> Any:
        return self.config.sources.chinanews

    @property
    def base_url(self) -> str:
        return str(self.source_config.base_url).rstrip("/")

    # -- discovery --------------------------------------------------------------------------
    def start_requests_for_run(self) -> Iterable[scrapy.Request]:
        if self.fetch_mode:
            yield from self._fetch_requests()
            return
        if self.archive_days:  # backfill: nothing but the given days
            for day in self.archive_days:
                yield self._archive_request(day)
            return
        yield from self.requests_again()
        cfg = self.source_config
        if cfg.scroll_enabled and cfg.scroll_pages > 0:
            yield self._scroll_request(1)
        if cfg.rss_enabled:
            for feed in cfg.rss_feeds:
                yield self._list_request(rss_url(self.base_url, feed), callback=self.parse_rss, kind="rss")
        if cfg.day_archive_enabled and self._archive_due():
            today = now_beijing().date()
            for day in (today, today - timedelta(days=1)):  # yesterday: catch-up after downtime
                yield self._archive_request(day)

    def _archive_due(self) -> bool:
        """Day archives are a catch-up, read at most every ``day_archive_interval`` seconds."""
        last = self.state.get_meta(ARCHIVE_CHECKED)
        if last is None:
            return True
        age = (now_beijing() - datetime.fromisoformat(last)).total_seconds()
        return bool(age >= self.source_config.day_archive_interval)

    def _entry_for(self, url: str, feed: str) -> ListEntry | None:
        """A minimal list entry for a bare URL (fetch mode, retries without context)."""
        canonical = canonical_url(url, base_url=self.base_url)
        item_id = item_id_from_url(canonical)
        if item_id is None:
            return None
        path = canonical[len(self.base_url) :].strip("/")
        return ListEntry(
            article_id=item_id,
            url=canonical,
            title="",
            channel=path.split("/", 1)[0],
            published=None,
            kind=classify_url(canonical),
            feed=feed,
        )

    def _fetch_requests(self) -> Iterator[scrapy.Request]:
        for url in self.fetch_urls:
            entry = self._entry_for(url, "fetch")
            if entry is None:
                self.count("fetch_rejected")
                logger.error("not a 中国新闻网 article URL: %s", url)
                continue
            yield self._article_request(entry)

    def _list_request(self, url: str, *, callback: Any, kind: str, **meta: Any) -> scrapy.Request:
        self.count("list_requests")
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.list_failed if kind != "archive" else self.archive_failed,
            dont_filter=True,
            meta={"wm_kind": f"chinanews:{kind}", **meta},
        )

    def _scroll_request(self, page: int) -> scrapy.Request:
        return self._list_request(
            scroll_page_url(self.base_url, page), callback=self.parse_list, kind="scroll", page=page
        )

    def _archive_request(self, day: date) -> scrapy.Request:
        return self._list_request(
            day_archive_url(self.base_url, day), callback=self.parse_list, kind="archive", day=day.isoformat()
        )

    def archive_failed(self, failure: TwistedFailure) -> None:
        """A missing day archive (404/410: today's not published yet, a day with no page) is empty."""
        value = failure.value
        if isinstance(value, HttpError) and value.response.status in (404, 410):
            self.count("list_ok")
            self.count("archive_missing")
            self._archive_checked()
            logger.info("no day archive at %s", failure.request.url)  # type: ignore[attr-defined]
            return
        self.list_failed(failure)

    def _archive_checked(self) -> None:
        if not self.archive_days:  # a backfill day is not the periodic catch-up
            self.state.set_meta(ARCHIVE_CHECKED, iso(now_beijing()))

    # -- lists ------------------------------------------------------------------------------
    def parse_list(self, response: Response) -> Iterator[scrapy.Request]:
        try:
            entries = parse_scroll_list(self.text_of(response), page_url=response.url, base_url=self.base_url)
        except ExtractionError as err:
            self.count("list_failed")
            logger.error("unusable list page %s: %s", response.url, err)
            return
        new = list(self._handle_entries(response, entries))
        if response.meta["wm_kind"] == "chinanews:archive":
            self._archive_checked()
        yield from (self._article_request(entry) for entry in new)
        page = response.meta.get("page")
        if page and new and page < self.source_config.scroll_pages:
            yield self._scroll_request(page + 1)  # older pages only while this one had news

    def parse_rss(self, response: Response) -> Iterator[scrapy.Request]:
        try:
            entries = parse_rss(response.body, base_url=self.base_url)
        except ExtractionError as err:
            self.count("list_failed")
            logger.error("unusable RSS feed %s: %s", response.url, err)
            return
        for entry in self._handle_entries(response, entries):
            yield self._article_request(entry)

    def _handle_entries(self, response: Response, entries: list[ListEntry]) -> Iterator[ListEntry]:
        """Count, filter by configuration, drop known and already-queued ones."""
        self.count("list_ok")
        self.count("listed", len(entries))
        if not entries:
            logger.warning("no article rows on %s (layout change?)", response.url)
        wanted = [e for e in entries if self._wanted(e)]
        self.count("filtered", len(entries) - len(wanted))
        fresh = self.unknown(self.key_of_entry(e) for e in wanted)
        new = 0
        for entry in wanted:
            key = self.key_of_entry(entry)
            if key not in fresh:
                continue  # known or waiting: counted by unknown()
            if key in self._queued:
                self.count("known")  # listed twice in this run (scroll pages and day archives overlap)
            else:
                self._queued.add(key)
                new += 1
                yield entry
        logger.debug("%s: %d listed, %d wanted, %d new", response.url, len(entries), len(wanted), new)

    def _wanted(self, entry: ListEntry) -> bool:
        cfg = self.source_config
        if entry.kind == "video" and cfg.skip_video:
            return False
        if entry.kind == "photo" and cfg.skip_photo:
            return False
        return not cfg.channels or entry.channel in cfg.channels

    def again(self, key: str, url: str, context: dict[str, Any]) -> scrapy.Request | None:
        entry_data = context.get("entry")
        entry = ListEntry.from_context(entry_data) if entry_data else self._entry_for(url, "retry")
        if entry is None:
            return None
        self._queued.add(self.key_of_entry(entry))
        return self._article_request(entry)

    def key_of_entry(self, entry: ListEntry) -> str:
        return self.key_of(entry.article_id)

    # -- articles ---------------------------------------------------------------------------
    def _article_request(self, entry: ListEntry) -> scrapy.Request:
        self.count("article_requests")
        return scrapy.Request(
            entry.url,
            callback=self.parse_article,
            errback=self.article_failed,
            dont_filter=self.fetch_mode,
            meta={"wm_kind": "chinanews:article", "wm_context": entry.to_context()},
        )

    def _decode(self, response: Response) -> str:
        content_type = response.headers.get("Content-Type")
        return decode_page(response.body, content_type.decode("latin-1") if content_type else None)

    def parse_article(self, response: Response) -> Iterator[ArticleItem | scrapy.Request]:
        context = response.meta["wm_context"]
        entry = ListEntry.from_context(context)
        try:
            text = self._decode(response)
            item = extract_article(text, url=entry.url, entry=entry, base_url=self.base_url)
        except SoftNotFound as err:
            self.count("soft_404")
            self._fail(entry, f"soft 404: {err}", gone=True, response=response)
            return
        except NotAnArticle as err:
            self.count("not_article")
            logger.info("skipped %s: %s", entry.url, err)
            return
        except ExtractionError as err:
            self._fail(entry, f"article page: {err}", response=response)
            return
        pending = page_urls(text, url=entry.url, base_url=self.base_url)
        if pending:
            self.count("multi_page")
            seen = {1, *(page_number(u) for u in pending)}
            yield self._page_request(item, pending, [], context, seen)
            return
        yield self.finish(item, response, context)

    def _page_request(
        self,
        item: ArticleItem,
        pending: list[str],
        bodies: list[str],
        context: dict[str, Any],
        seen: set[int],
    ) -> scrapy.Request:
        """Pages 2..n one after another, so the body keeps page order whatever the scheduler does."""
        return scrapy.Request(
            pending[0],
            callback=self.parse_page,
            errback=self.page_failed,
            dont_filter=True,
            meta={
                "wm_kind": "chinanews:page",
                "wm_context": context,
                "wm_item": item,
                "wm_pending": pending,
                "wm_bodies": bodies,
                "wm_seen": seen,
            },
        )

    def parse_page(self, response: Response) -> Iterator[ArticleItem | scrapy.Request]:
        meta = response.meta
        context, item = meta["wm_context"], meta["wm_item"]
        pending: list[str] = list(meta["wm_pending"])
        url = pending.pop(0)
        entry = ListEntry.from_context(context)
        try:
            text = self._decode(response)
            page = extract_article(text, url=url, entry=entry, base_url=self.base_url)
        except ExtractionError as err:
            self._fail(entry, f"page {page_number(url)} of {entry.url}: {err}", response=response)
            return
        bodies = [*meta["wm_bodies"], page.body_html]
        seen: set[int] = set(meta["wm_seen"])
        for extra in page_urls(text, url=url, base_url=self.base_url):  # a pager may show a window
            if page_number(extra) not in seen:
                seen.add(page_number(extra))
                pending.append(extra)
        pending.sort(key=page_number)
        if pending:
            yield self._page_request(item, pending, bodies, context, seen)
            return
        yield self.finish(merge_pages(item, bodies), response, context)

    def page_failed(self, failure: TwistedFailure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        entry = ListEntry.from_context(request.meta["wm_context"])
        self._fail(entry, f"page {page_number(request.url)}: {describe_failure(failure)}")

    def article_failed(self, failure: TwistedFailure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        entry = ListEntry.from_context(request.meta["wm_context"])
        self._fail(entry, f"article page: {describe_failure(failure)}")

    def _fail(
        self, entry: ListEntry, error: str, *, gone: bool = False, response: Response | None = None
    ) -> None:
        self.fail(
            key=self.key_of_entry(entry),
            url=entry.url,
            error=error,
            context={"entry": entry.to_context()},
            gone=gone,
            response=response,
        )

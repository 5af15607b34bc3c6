"""EastmoneySpider: list APIs → GetNewsText.do body → (fallback) the article page.

Routing only: every payload goes to a pure function in crawler.sources.eastmoney.extract. The fast path
for "nothing new" is one list request per configured list: paging stops at the first page whose
entries are all known, and known articles are never requested.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure as TwistedFailure

from crawler.items import ArticleItem
from crawler.sources.common import ExtractionError
from crawler.sources.eastmoney.extract import (
    ListEntry,
    ListPage,
    extract_article_page,
    extract_text_payload,
    parse_article_id,
    parse_list_payload,
)
from crawler.sources.spider import WireSpider, describe_failure

logger = logging.getLogger(__name__)

REFERER = "https://finance.eastmoney.com/"
COLUMN_FIELDS = "code,showTime,title,mediaName,summary,image,url,uniqueUrl,Np_dst"


class EastmoneySpider(WireSpider):
    name = "eastmoney"
    replay_callbacks: ClassVar[dict[str, str]] = {
        "eastmoney:text": "parse_text",
        "eastmoney:page": "parse_page",
    }

    @property
    def source_config(self) -> Any:
        return self.config.sources.eastmoney

    # -- discovery --------------------------------------------------------------------------
    def start_requests_for_run(self) -> Iterable[scrapy.Request]:
        if self.fetch_mode:
            yield from self._fetch_requests()
            return
        yield from self.requests_again()
        cfg = self.source_config
        if cfg.columns_enabled and cfg.columns:
            yield self._columns_request(1)
        if cfg.fast_enabled:
            yield self._fast_request(None, 1)
        for url in cfg.legacy_urls:
            yield self._list_request(url, feed="legacy", page=1)

    def again(self, key: str, url: str, context: dict[str, Any]) -> scrapy.Request | None:
        entry_data = context.get("entry")
        if entry_data:
            return self._text_request(ListEntry.from_context(entry_data))
        article_id = parse_article_id(url)
        return self._page_request(article_id, None) if article_id else None

    def _fetch_requests(self) -> Iterator[scrapy.Request]:
        for url in self.fetch_urls:
            article_id = parse_article_id(url)
            if article_id is None:
                self.count("fetch_rejected")
                logger.error("not an Eastmoney article URL: %s", url)
                continue
            yield self._page_request(article_id, None)

    def _list_request(self, url: str, *, feed: str, page: int, cursor: str | None = None) -> scrapy.Request:
        self.count("list_requests")
        return scrapy.Request(
            url,
            callback=self.parse_list,
            errback=self.list_failed,
            headers={"Referer": REFERER},
            dont_filter=True,
            meta={"wm_kind": "eastmoney:list", "feed": feed, "page": page, "cursor": cursor},
        )

    def _columns_request(self, page: int) -> scrapy.Request:
        cfg = self.source_config
        query = {
            "client": "web",
            "biz": "web_news_col",
            "column": ",".join(cfg.columns),  # one request for all columns: the no-change fast path
            "order": "1",
            "needInteractData": "0",
            "page_index": str(page),
            "page_size": str(cfg.page_size),
            "req_trace": str(int(time.time() * 1000)),
            "fields": COLUMN_FIELDS,
            "types": "1,20",
        }
        return self._list_request(f"{cfg.list_url}?{urlencode(query)}", feed="columns", page=page)

    def _fast_request(self, cursor: str | None, page: int) -> scrapy.Request:
        cfg = self.source_config
        query = {
            "client": "web",
            "biz": "web_724",
            "fastColumn": cfg.fast_column,
            "sortEnd": cursor or "",
            "pageSize": str(cfg.page_size),
            "req_trace": str(int(time.time() * 1000)),
        }
        return self._list_request(
            f"{cfg.fast_list_url}?{urlencode(query)}", feed="fast", page=page, cursor=cursor
        )

    def parse_list(self, response: Response) -> Iterator[scrapy.Request]:
        feed, page_no = response.meta["feed"], response.meta["page"]
        cfg = self.source_config
        try:
            page: ListPage = parse_list_payload(self.text_of(response), article_url=cfg.article_url)
        except ExtractionError as err:
            self.count("list_failed")
            logger.error("unusable list response from %s: %s", response.url, err)
            return
        self.count("list_ok")
        self.count("listed", len(page.entries))
        entries = [e for e in page.entries if self._media_allowed(e.media)]
        self.count("filtered", len(page.entries) - len(entries))
        keys = [self.key_of(e.article_id) for e in entries]
        fresh = self.unknown(keys)
        new_entries = [e for key, e in zip(keys, entries, strict=True) if key in fresh]
        by_key = dict(zip(keys, entries, strict=True))
        logger.debug("%s page %d: %d listed, %d new", feed, page_no, len(page.entries), len(new_entries))
        for entry in new_entries:
            yield self._text_request(entry)
        for key in self.retitled({key: e.title for key, e in by_key.items() if key not in fresh}):
            yield self._as_recheck(self._text_request(by_key[key]), key)  # the list shows a new title
        if not new_entries or not page.entries:
            return  # everything on this page is known: older pages are too
        if feed == "columns" and page_no < cfg.max_pages and _more(page, page_no, cfg.page_size):
            yield self._columns_request(page_no + 1)
        elif feed == "fast" and page.cursor and page_no < cfg.fast_max_pages:
            yield self._fast_request(page.cursor, page_no + 1)

    def _media_allowed(self, media: str) -> bool:
        cfg = self.source_config
        if cfg.media_allow and media not in cfg.media_allow:
            return False
        return media not in cfg.media_deny

    # -- article bodies ---------------------------------------------------------------------
    def _text_request(self, entry: ListEntry) -> scrapy.Request:
        self.count("article_requests")
        return scrapy.Request(
            self.source_config.text_url.format(id=entry.info_code),
            callback=self.parse_text,
            errback=self.text_failed,
            headers={"Referer": REFERER},
            meta={"wm_kind": "eastmoney:text", "wm_context": entry.to_context()},
        )

    def _page_request(self, article_id: str, entry: ListEntry | None) -> scrapy.Request:
        self.count("article_requests")
        context = entry.to_context() if entry else {"article_id": article_id}
        return scrapy.Request(
            self.source_config.article_url.format(id=article_id),
            callback=self.parse_page,
            errback=self.page_failed,
            headers={"Referer": REFERER},
            dont_filter=self.fetch_mode,
            meta={"wm_kind": "eastmoney:page", "wm_context": context},
        )

    def parse_text(self, response: Response) -> Iterator[ArticleItem | scrapy.Request]:
        entry = ListEntry.from_context(response.meta["wm_context"])
        try:
            item = extract_text_payload(self.text_of(response), entry, url=entry.url)
        except ExtractionError as err:
            logger.info("GetNewsText unusable for %s (%s); trying the article page", entry.article_id, err)
            item = None
        if item is None:
            yield self._page_request(entry.article_id, entry)
            return
        yield self._finish(item, response, entry.to_context())

    def text_failed(self, failure: TwistedFailure) -> scrapy.Request:
        request = failure.request  # type: ignore[attr-defined]
        entry = ListEntry.from_context(request.meta["wm_context"])
        logger.info(
            "GetNewsText failed for %s (%s); trying the article page",
            entry.article_id,
            describe_failure(failure),
        )
        return self._page_request(entry.article_id, entry)

    def parse_page(self, response: Response) -> Iterator[ArticleItem]:
        context = response.meta["wm_context"]
        entry = ListEntry.from_context(context) if "info_code" in context else None
        key = self.key_of(context["article_id"])
        try:
            item = extract_article_page(
                self.text_of(response), entry, url=entry.url if entry else response.url
            )
        except ExtractionError as err:
            self.fail(
                key=key,
                url=response.url,
                error=f"article page: {err}",
                context={"entry": context} if entry else {},
                response=response,
            )
            return
        yield self._finish(item, response, context if entry else {})

    def page_failed(self, failure: TwistedFailure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        context = request.meta["wm_context"]
        self.fail(
            key=self.key_of(context["article_id"]),
            url=request.url,
            error=f"article page: {describe_failure(failure)}",
            context={"entry": context} if "info_code" in context else {},
        )

    def _finish(self, item: ArticleItem, response: Response, context: dict[str, Any]) -> ArticleItem:
        if item.media:
            item.share_url = self.source_config.share_url.format(id=f"NW{item.article_id}")
        return self.finish(item, response, context)


def _more(page: ListPage, page_no: int, page_size: int) -> bool:
    if page.total is not None:
        return page_no * page_size < page.total
    return len(page.entries) >= page_size

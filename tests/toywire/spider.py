"""The toy wire's spider: one list, one article page per new id. Routing only."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response

from crawler.items import ArticleItem
from crawler.sources.common import ExtractionError
from crawler.sources.spider import WireSpider, describe_failure
from tests.toywire import SOURCE, url_id
from tests.toywire.extract import extract_article, parse_list


class ToySpider(WireSpider):
    name = "toywire"
    replay_callbacks: ClassVar[dict[str, str]] = {"toywire:article": "parse_article"}

    @property
    def base(self) -> str:
        return str(self.config.sources[self.name].base_url).rstrip("/")

    def start_requests_for_run(self) -> Iterable[scrapy.Request]:
        if self.fetch_mode:
            for url in self.fetch_urls:
                if (article_id := url_id(url)) is not None:
                    yield self._article({"id": article_id}, dont_filter=True)
            return
        self.count("list_requests")
        yield scrapy.Request(
            f"{self.base}/list.json",
            callback=self.parse_list,
            errback=self.list_failed,
            dont_filter=True,
            meta={"wm_kind": "toywire:list"},
        )

    def parse_list(self, response: Response) -> Iterator[scrapy.Request]:
        try:
            entries = parse_list(self.text_of(response))
        except ExtractionError as err:
            self.count("list_failed")
            self.logger.error("unusable list %s: %s", response.url, err)
            return
        self.count("list_ok")
        self.count("listed", len(entries))
        fresh = self.unknown(SOURCE.key(e["id"]) for e in entries)
        for entry in entries:
            if SOURCE.key(entry["id"]) in fresh:
                yield self._article(entry)

    def _article(self, entry: dict[str, Any], *, dont_filter: bool = False) -> scrapy.Request:
        self.count("article_requests")
        context = {**entry, "article_id": entry["id"], "url": f"{self.base}/a/{entry['id']}.html"}
        return scrapy.Request(
            context["url"],
            callback=self.parse_article,
            errback=self.article_failed,
            dont_filter=dont_filter,
            meta={"wm_kind": "toywire:article", "wm_context": context},
        )

    def parse_article(self, response: Response) -> Iterator[ArticleItem]:
        context = response.meta["wm_context"]
        try:
            item = extract_article(
                self.text_of(response), article_id=context["article_id"], url=context["url"], entry=context
            )
        except ExtractionError as err:
            self.fail(
                key=SOURCE.key(context["article_id"]), url=response.url, error=str(err), context=context
            )
            return
        yield self.finish(item, response, context)

    def article_failed(self, failure: Any) -> None:
        context = failure.request.meta["wm_context"]
        self.fail(
            key=SOURCE.key(context["article_id"]),
            url=failure.request.url,
            error=describe_failure(failure),
            context=context,
        )

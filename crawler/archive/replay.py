"""Replaying captures through the spiders' own callbacks: how ``archive rebuild`` gets its items.

Each captured article response becomes a Scrapy response again and goes to the callback the crawl
sent it to (a spider's ``replay_callbacks`` maps the capture's ``wm_kind`` to that callback's name).
A request the callback yields — the next page of a multi-page article, the article page after a
failed text API — is answered from the same capture file, and a non-2xx capture goes to the
request's errback, as Scrapy's HttpErrorMiddleware would send it. So crawl and rebuild run the same
code: a spider or extractor change cannot make them drift apart.

No engine runs: the callbacks are driven directly, which needs no reactor, is deterministic and
costs one callback call per response (rebuild has to keep up with the disk). Failures the spider
reports during a replay are collected for the rebuild report, never written to the failures table.

Memory does not grow with the archive: files are read newest first, one at a time, each in one
forward pass; what is kept is the items of the file being read and the keys already rebuilt.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.misc import arg_to_iter
from twisted.python.failure import Failure

from crawler import sources
from crawler.items import ArticleItem
from crawler.middlewares.capture import CAPTURED_AT
from crawler.timeutil import BEIJING

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.sources.spider import WireSpider
    from crawler.state import StateStore

logger = logging.getLogger(__name__)

_UNREADABLE = (EOFError, zlib.error, OSError, ValueError)


@dataclass(slots=True, frozen=True)
class Capture:
    """One captured response, and what the crawl knew when it made the request."""

    url: str
    request_url: str
    when: datetime  # WARC-Date, Beijing time
    kind: str
    context: dict[str, Any]
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def response(self, request: Request) -> Response:
        """The response exactly as the spider got it (same class, headers, body, encoding)."""
        headers = Headers(self.headers)
        cls = responsetypes.from_args(headers=headers, url=self.url, body=self.body)
        return cls(url=self.url, status=self.status, headers=headers, body=self.body, request=request)


def capture_files(config: Config, since: date | None = None) -> list[Path]:
    """Every capture file, oldest first (names start with the run's Beijing day)."""
    root = config.state_dir / "captures"
    if not root.is_dir():
        return []
    files = sorted(root.glob("*/*.warc.gz"), key=lambda p: (p.name, p.parent.name))
    if since is not None:
        files = [p for p in files if p.name[:10] >= since.isoformat()]
    return files


def read_captures(path: Path, errors: list[str] | None = None) -> Iterator[Capture]:
    """The captured responses of one file, in file order, each read once; a truncated tail (a killed
    crawl) is reported and what came before it used."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    waiting: dict[str, tuple[Any, bytes]] = {}  # response records until their metadata record
    try:
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                headers = record.rec_headers
                if record.rec_type == "response":
                    waiting[headers.get_header("WARC-Record-ID")] = (record, record.content_stream().read())
                elif record.rec_type == "metadata":
                    meta = json.loads(record.content_stream().read().decode("utf-8"))
                    found = waiting.pop(headers.get_header("WARC-Concurrent-To"), None)
                    if found is not None:
                        yield _capture(*found, meta)
    except (ArchiveLoadFailed, *_UNREADABLE) as err:
        message = f"{path.name}: unreadable after a point ({type(err).__name__}: {err}); earlier records used"
        logger.warning("%s", message)
        if errors is not None:
            errors.append(message)


def _capture(record: Any, body: bytes, meta: dict[str, Any]) -> Capture:
    headers, http = record.rec_headers, record.http_headers
    url = headers.get_header("WARC-Target-URI")
    return Capture(
        url=url,
        request_url=str(meta.get("request_url") or url),
        when=datetime.fromisoformat(headers.get_header("WARC-Date")).astimezone(BEIJING),
        kind=str(meta.get("wm_kind") or ""),
        context=meta.get("wm_context") or {},
        status=int(http.get_statuscode() or 0),
        headers=list(http.headers),
        body=body,
    )


class ReplayFailure(Exception):
    """What a spider reported as a failed article while replaying (kept for the rebuild report)."""


def replay_spider(name: str, config: Config, state: StateStore) -> WireSpider:
    """The crawl's spider class, bound to this config and state store, reporting failures to us."""
    from scrapy.utils.test import get_crawler

    from crawler.runtime import bind

    spidercls: type[WireSpider] = sources.get(name).spider_class()

    def fail(self: WireSpider, *, key: str, url: str, error: str, context: Any = None) -> None:
        raise ReplayFailure(f"{key}: {error}")

    replaying: type[WireSpider] = type(f"Replay{spidercls.__name__}", (spidercls,), {"fail": fail})
    crawler = get_crawler(replaying, {"WIREMIRROR_CONFIG": config})
    bind(crawler, config, state)
    spider: WireSpider = replaying.from_crawler(crawler)
    return spider


@dataclass(slots=True)
class ReplayStats:
    files: int = 0
    responses: int = 0  # article responses replayed
    articles: int = 0  # items the callbacks produced


class Replayer:
    """Items from captures, newest capture of each article first and only."""

    def __init__(self, config: Config, state: StateStore, errors: list[str]) -> None:
        self.config = config
        self.state = state
        self.errors = errors
        self.stats = ReplayStats()
        self._spiders: dict[str, WireSpider] = {}

    def _spider(self, source: str) -> WireSpider:
        if source not in self._spiders:
            self._spiders[source] = replay_spider(source, self.config, self.state)
        return self._spiders[source]

    def items(
        self, *, since: date | None = None, progress: Callable[[str], None] | None = None
    ) -> Iterator[ArticleItem]:
        done: set[str] = set()
        files = capture_files(self.config, since)
        self.stats.files = len(files)
        for path in reversed(files):
            if progress:
                progress(path.name)
            yield from self._file(path, done)

    def _file(self, path: Path, done: set[str]) -> Iterator[ArticleItem]:
        """One file in a single forward pass: an article's start capture goes to its callback; a
        request a callback yields waits for the capture of its URL further on in the file (a run
        fetches follow-up pages after the page that asks for them). The last item of an article in
        the file wins, as its newest capture."""
        source = sources.get(path.parent.name)
        spider = self._spider(source.name)
        produced: dict[str, ArticleItem] = {}
        follow_ups: dict[str, Request] = {}
        for capture in read_captures(path, self.errors):
            request = follow_ups.pop(capture.request_url, None)
            if request is None:
                article_id = capture.context.get("article_id")
                callback = spider.replay_callbacks.get(capture.kind)
                if callback is None or not article_id or source.key(article_id) in done:
                    continue
                request = Request(capture.request_url, callback=getattr(spider, callback))
                request.meta.update(wm_kind=capture.kind, wm_context=capture.context)
                self.stats.responses += 1
            request.meta[CAPTURED_AT] = capture.when.isoformat()
            for out in self._drive(request, capture):
                if isinstance(out, Request):
                    follow_ups[out.url] = out
                else:
                    produced[out.key] = out
        for request in follow_ups.values():
            self.errors.append(f"{path.name}: no capture of {request.url}, which an article needs")
        for key, item in produced.items():
            if key not in done:
                done.add(key)
                self.stats.articles += 1
                yield item

    def _drive(self, request: Request, capture: Capture) -> list[ArticleItem | Request]:
        """What the callback (or, for a non-2xx capture, the errback) makes of the capture."""
        response = capture.response(request)
        try:
            if 200 <= response.status < 300:
                result = request.callback(response) if request.callback else None
            elif request.errback is not None:
                failure = Failure(HttpError(response, "Ignoring non-200 response"))  # type: ignore[no-untyped-call]
                failure.request = request  # type: ignore[attr-defined]
                result = request.errback(failure)
            else:
                result = None
            outputs: list[Any] = list(arg_to_iter(result))
            return [out for out in outputs if isinstance(out, ArticleItem | Request)]
        except ReplayFailure as err:
            logger.info("capture of %s not usable: %s", capture.url, err)
        except (KeyError, ValueError) as err:  # a capture older than the spider's routing data
            logger.info("capture of %s not usable: %s: %s", capture.url, type(err).__name__, err)
        return []

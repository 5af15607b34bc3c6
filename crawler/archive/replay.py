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
forward pass, and each item is handed on as soon as its callback makes it. What is kept is bounded:
the keys already rebuilt (crawler.archive.seen: on disk beyond a limit), the requests waiting for a
capture further on in the file (at most MAX_FOLLOW_UPS) and the response records waiting for their
metadata record (at most MAX_WAITING).
"""

from __future__ import annotations

import functools
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
from crawler.archive.seen import SeenKeys
from crawler.archive.warcfile import Record, read_records
from crawler.items import ArticleItem
from crawler.middlewares.capture import CAPTURED_AT
from crawler.timeutil import BEIJING

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.sources.spider import WireSpider
    from crawler.state import StateStore

logger = logging.getLogger(__name__)

_UNREADABLE = (EOFError, zlib.error, OSError, ValueError)
# The capture writer puts each metadata record right after its response, and a run fetches a
# follow-up page soon after the page that asks for it: these bounds are never reached by a crawl's
# files, only by damaged or foreign ones, whose odd records are then given up on.
MAX_WAITING = 64
MAX_FOLLOW_UPS = 4096


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
        deciding = {name.lower(): value for name, value in self.headers if name.lower() in _DECIDING}
        cls = _class_of(tuple(deciding.get(name) for name in _DECIDING)) or responsetypes.from_args(
            headers=Headers(self.headers), url=self.url, body=self.body
        )
        return cls(url=self.url, status=self.status, headers=self.headers, body=self.body, request=request)


_DECIDING = ("content-type", "content-encoding", "content-disposition")  # what from_headers reads


@functools.lru_cache(maxsize=256)
def _class_of(values: tuple[str | None, ...]) -> type[Response] | None:
    """The response class the _DECIDING headers' (last) values pick, as ``responsetypes.from_args``
    tries first (None: the URL or the body decides). Captures share a few: each is asked once."""
    headers = Headers(
        [(name, value) for name, value in zip(_DECIDING, values, strict=True) if value is not None]
    )
    cls = responsetypes.from_headers(headers)
    return None if cls is Response else cls


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
    waiting: dict[str, Record] = {}  # response records until their metadata record
    try:
        with path.open("rb") as handle:
            for record in read_records(handle):
                headers = record.headers
                if record.type == "response":
                    waiting[headers.get("warc-record-id", "")] = record
                    if len(waiting) > MAX_WAITING:  # a response whose metadata never came
                        del waiting[next(iter(waiting))]
                elif record.type == "metadata":
                    found = waiting.pop(headers.get("warc-concurrent-to", ""), None)
                    if found is not None:
                        yield _capture(found, json.loads(record.block.decode("utf-8")))
    except _UNREADABLE as err:
        message = f"{path.name}: unreadable after a point ({type(err).__name__}: {err}); earlier records used"
        logger.warning("%s", message)
        if errors is not None:
            errors.append(message)


def _capture(record: Record, meta: dict[str, Any]) -> Capture:
    url = record.headers.get("warc-target-uri", "")
    return Capture(
        url=url,
        request_url=str(meta.get("request_url") or url),
        when=datetime.fromisoformat(record.headers.get("warc-date", "")).astimezone(BEIJING),
        kind=str(meta.get("wm_kind") or ""),
        context=meta.get("wm_context") or {},
        status=record.status,
        headers=record.http_headers or [],
        body=record.block,
    )


def _newer(seen: SeenKeys, key: str, number: int) -> bool:
    """True when ``key`` was already taken from a newer file than file ``number``."""
    taken = seen.get(key)
    return taken is not None and taken < number


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
        """Each article's item from its newest capture, as soon as its callback makes it."""
        files = capture_files(self.config, since)
        self.stats.files = len(files)
        with SeenKeys() as seen:
            for number, path in enumerate(reversed(files)):
                if progress:
                    progress(path.name)
                yield from self._file(path, number, seen)

    def _file(self, path: Path, number: int, seen: SeenKeys) -> Iterator[ArticleItem]:
        """One file (``number`` in newest-first order) in a single forward pass: an article's start
        capture goes to its callback; a request a callback yields waits for the capture of its URL
        further on in the file (a run fetches follow-up pages after the page that asks for them).
        An article taken from a newer file is skipped; one captured again later in this file is
        yielded again, so its newest capture is the last one written."""
        source = sources.get(path.parent.name)
        spider = self._spider(source.name)
        follow_ups: dict[str, Request] = {}
        for capture in read_captures(path, self.errors):
            request = follow_ups.pop(capture.request_url, None)
            if request is None:
                article_id = capture.context.get("article_id")
                callback = spider.replay_callbacks.get(capture.kind)
                if callback is None or not article_id or _newer(seen, source.key(article_id), number):
                    continue
                request = Request(capture.request_url, callback=getattr(spider, callback))
                request.meta.update(wm_kind=capture.kind, wm_context=capture.context)
                self.stats.responses += 1
            request.meta[CAPTURED_AT] = capture.when.isoformat()
            for out in self._drive(request, capture):
                if isinstance(out, Request):
                    follow_ups[out.url] = out
                    if len(follow_ups) > MAX_FOLLOW_UPS:
                        self._missing(path, follow_ups.pop(next(iter(follow_ups))))
                elif not _newer(seen, out.key, number):
                    if seen.add(out.key, number):
                        self.stats.articles += 1
                    yield out
        for request in follow_ups.values():
            self._missing(path, request)

    def _missing(self, path: Path, request: Request) -> None:
        self.errors.append(f"{path.name}: no capture of {request.url}, which an article needs")

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

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

Memory does not grow with the archive: files are read newest first, one at a time, through an
index of record offsets (bodies are read when replayed), and only the keys already rebuilt are kept.
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
class CaptureRef:
    """Where one captured response is, and what the crawl knew when it made the request."""

    path: Path
    offset: int  # of the response record (its own gzip member)
    url: str
    request_url: str
    when: datetime  # WARC-Date, Beijing time
    kind: str
    context: dict[str, Any]

    def response(self, request: Request) -> Response:
        """The response exactly as the spider got it (same class, headers, body, encoding)."""
        from warcio.archiveiterator import ArchiveIterator

        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            record = next(iter(ArchiveIterator(handle)))
            body = record.content_stream().read()
            http = record.http_headers
            headers = Headers(list(http.headers))
            status = int(http.get_statuscode() or 0)
        cls = responsetypes.from_args(headers=headers, url=self.url, body=body)
        return cls(url=self.url, status=status, headers=headers, body=body, request=request)


def capture_files(config: Config, since: date | None = None) -> list[Path]:
    """Every capture file, oldest first (names start with the run's Beijing day)."""
    root = config.state_dir / "captures"
    if not root.is_dir():
        return []
    files = sorted(root.glob("*/*.warc.gz"), key=lambda p: (p.name, p.parent.name))
    if since is not None:
        files = [p for p in files if p.name[:10] >= since.isoformat()]
    return files


def index_captures(path: Path, errors: list[str] | None = None) -> list[CaptureRef]:
    """The captured responses of one file, in file order; a truncated tail (killed crawl) is reported."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    found: list[CaptureRef] = []
    pending: dict[str, tuple[int, str, datetime]] = {}
    try:
        with path.open("rb") as handle:
            records = ArchiveIterator(handle)
            for record in records:
                headers = record.rec_headers
                if record.rec_type == "response":
                    when = datetime.fromisoformat(headers.get_header("WARC-Date")).astimezone(BEIJING)
                    pending[headers.get_header("WARC-Record-ID")] = (
                        records.get_record_offset(),
                        headers.get_header("WARC-Target-URI"),
                        when,
                    )
                elif record.rec_type == "metadata":
                    meta = json.loads(record.content_stream().read().decode("utf-8"))
                    response = pending.pop(headers.get_header("WARC-Concurrent-To"), None)
                    if response is not None:
                        offset, url, when = response
                        found.append(
                            CaptureRef(
                                path=path,
                                offset=offset,
                                url=url,
                                request_url=str(meta.get("request_url") or url),
                                when=when,
                                kind=str(meta.get("wm_kind") or ""),
                                context=meta.get("wm_context") or {},
                            )
                        )
    except (ArchiveLoadFailed, *_UNREADABLE) as err:
        message = f"{path.name}: unreadable after a point ({type(err).__name__}: {err}); earlier records used"
        logger.warning("%s", message)
        if errors is not None:
            errors.append(message)
    return found


class ReplayFailure(Exception):
    """What a spider reported as a failed article while replaying (kept for the rebuild report)."""


def replay_spider(name: str, config: Config, state: StateStore) -> WireSpider:
    """The crawl's spider class, bound to this config and state store, reporting failures to us."""
    from scrapy.spiderloader import SpiderLoader
    from scrapy.utils.project import get_project_settings
    from scrapy.utils.test import get_crawler

    from crawler.runtime import bind, scrapy_settings_for

    settings = get_project_settings()
    settings.setdict(scrapy_settings_for(config), priority="project")
    spidercls = SpiderLoader.from_settings(settings).load(name)

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
        source = path.parent.name
        spider = self._spider(source)
        refs = index_captures(path, self.errors)
        # newest first: the first capture that gives an article's item is the one it is rebuilt from
        for position in range(len(refs) - 1, -1, -1):
            ref = refs[position]
            article_id = ref.context.get("article_id")
            if ref.kind not in spider.replay_callbacks or not article_id or f"{source}:{article_id}" in done:
                continue
            request = Request(
                ref.request_url,
                callback=getattr(spider, spider.replay_callbacks[ref.kind]),
                meta={"wm_kind": ref.kind, "wm_context": ref.context, CAPTURED_AT: ref.when.isoformat()},
            )
            self.stats.responses += 1
            for item in self._drive(spider, refs, position, request, ref):
                if item.key in done:
                    continue
                done.update((item.key, f"{source}:{article_id}"))
                self.stats.articles += 1
                yield item

    def _drive(
        self, spider: WireSpider, refs: list[CaptureRef], position: int, request: Request, ref: CaptureRef
    ) -> Iterator[ArticleItem]:
        try:
            response = ref.response(request)
        except _UNREADABLE as err:
            self.errors.append(f"{ref.path.name}: the capture of {ref.url} is unreadable ({err})")
            return
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
            for out in outputs:
                if isinstance(out, ArticleItem):
                    yield out
                elif isinstance(out, Request):
                    follow = next(
                        (i for i in range(position + 1, len(refs)) if refs[i].request_url == out.url), None
                    )
                    if follow is None:
                        self.errors.append(f"{ref.url}: the capture of {out.url} it needs is missing")
                        return
                    out.meta[CAPTURED_AT] = refs[follow].when.isoformat()
                    yield from self._drive(spider, refs, follow, out, refs[follow])
        except ReplayFailure as err:
            logger.info("capture of %s not usable: %s", ref.url, err)
        except (KeyError, ValueError) as err:  # a capture older than the spider's routing data
            logger.info("capture of %s not usable: %s: %s", ref.url, type(err).__name__, err)

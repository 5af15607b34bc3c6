"""CaptureMiddleware: every response the crawl used, kept in compressed WARC files for provenance and rebuilds.

Files: ``<state>/captures/<source>/<YYYY-MM-DD>-<pid>-<HHMMSS>.warc.gz`` (Beijing day and time the
run started). Per response a ``response`` record (status, headers, the body exactly as the
spider got it: decompressed, after retries and redirects) and a ``metadata`` record holding the
request URL and method, ``wm_kind`` and ``wm_context`` as JSON, so ``archive rebuild`` can re-run
the extractor without network. Each record is its own gzip member and is flushed at once: a
killed crawl loses at most the record being written.

Reads ``[crawl] captures`` (off: NotConfigured). Place it close to the engine (a low order
number, e.g. 60) so it sees the final response.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

from scrapy import signals

from crawler.runtime import get_config, switched_off
from crawler.timeutil import now_beijing

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

CAPTURED_AT = "wm_captured_at"  # request.meta: ISO time (seconds) written as the record's WARC-Date
# Headers describing the wire encoding of a body we store decoded; kept would make readers decode again.
_WIRE_HEADERS = frozenset({b"content-encoding", b"transfer-encoding", b"content-length"})
_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified", 404: "Not Found"}


def warc_date(when: datetime) -> str:
    """WARC-Date (UTC, ``Z``, whole seconds) of an aware datetime."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CaptureWriter:
    """One WARC file, opened on the first record."""

    def __init__(self, folder: Path, started: datetime) -> None:
        self.path = folder / f"{started:%Y-%m-%d}-{os.getpid()}-{started:%H%M%S}.warc.gz"
        self._handle: IO[bytes] | None = None
        self._writer: Any = None
        self.records = 0

    def _open(self) -> Any:
        if self._writer is None:
            from warcio.warcwriter import WARCWriter

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
            self._writer = WARCWriter(self._handle, gzip=True)
        return self._writer

    def write(
        self,
        *,
        url: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        when: datetime,
        meta: dict[str, Any],
    ) -> None:
        from warcio.statusandheaders import StatusAndHeaders

        writer = self._open()
        date = warc_date(when)
        http_headers = StatusAndHeaders(
            f"{status} {_REASONS.get(status, 'Status')}", headers, protocol="HTTP/1.1"
        )
        response = writer.create_warc_record(
            url,
            "response",
            payload=BytesIO(body),
            length=len(body),
            http_headers=http_headers,
            warc_headers_dict={"WARC-Date": date},
        )
        payload = json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
        metadata = writer.create_warc_record(
            url,
            "metadata",
            payload=BytesIO(payload),
            length=len(payload),
            warc_content_type="application/json",
            warc_headers_dict={
                "WARC-Date": date,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        writer.write_record(response)
        writer.write_record(metadata)
        assert self._handle is not None
        self._handle.flush()
        self.records += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._writer = None


class CaptureMiddleware:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.started = now_beijing()
        self.writers: dict[str, CaptureWriter] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = get_config(crawler)
        if not config.crawl.captures:
            raise switched_off(cls.__name__, "[crawl] captures = false")
        middleware = cls(config.state_dir / "captures")
        middleware.crawler = crawler
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    crawler: Crawler

    def process_response(self, request: Request, response: Response) -> Response:
        spider = self.crawler.spider
        source = spider.name if spider is not None else "unknown"
        when = now_beijing().replace(microsecond=0)
        request.meta[CAPTURED_AT] = when.isoformat()
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, values in response.headers.items()
            if k.lower() not in _WIRE_HEADERS
            for v in values
        ]
        meta = {
            "request_url": request.url,
            "method": request.method,
            "wm_kind": request.meta.get("wm_kind", ""),
            "wm_context": request.meta.get("wm_context"),
        }
        writer = self.writers.get(source)
        if writer is None:
            writer = self.writers[source] = CaptureWriter(self.root / source, self.started)
        try:
            writer.write(
                url=response.url,
                status=response.status,
                headers=headers,
                body=response.body,
                when=when,
                meta=meta,
            )
        except OSError as err:
            # provenance is worth a warning, never a lost article
            logger.warning("could not capture %s into %s: %s", response.url, writer.path, err)
        else:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("capture/responses")
        return response

    def spider_closed(self, spider: Spider) -> None:
        for writer in self.writers.values():
            if writer.records:
                logger.info("captured %d responses in %s", writer.records, writer.path)
            writer.close()

"""CaptureMiddleware: the responses a crawl used, kept in compressed WARC files for provenance and rebuilds.

Files: ``<state>/captures/<source>/<YYYY-MM-DD>-<HHMMSS>.warc.gz``, rolled per Beijing day and size
(``[captures] max_file_mb``): a run appends to its source's file of the day, chosen at its first
record (crawler/archive/captures.py). Per response a ``response`` record (status, headers, the body
exactly as the spider got it: decompressed, after retries and redirects) and a ``metadata`` record
holding the request URL and method, ``wm_kind`` and ``wm_context`` as JSON, so ``archive rebuild``
can re-run the extractor without network.

What is kept: rebuild (crawler/archive/replay.py) replays the responses that start an article (a
``wm_kind`` in the spider's ``replay_callbacks``, with the article's ``wm_context``) and answers
the requests their callbacks yield (the next page, the article page after a failed text API) from
later captures of the same file; all of those carry the article's ``wm_context``. Those article
responses are written at once. Everything else — list pages, feeds, robots.txt — is only context:
held back, and written just before the run's first article response, so a run that fetched no
article (a no-change run) adds no file and no bytes.

Appending is safe: each record is its own gzip member, and a response and its metadata go out in
one write. A run holds an exclusive ``flock`` on its file from its first record to its end, so
``archive captures prune`` never deletes a file being written, and a second process capturing the
same source meanwhile (crawls, fetches and backfills are kept apart by the crawl lock, a bare
``scrapy crawl`` is not) gets a file of its own, ``<day>-<HHMMSS>-<pid>.warc.gz``, instead of
interleaving. Records are compressed and written on a thread of their own, in the order the
responses came, so downloads do not wait for zlib or the disk; the run's end waits for the last
one. A killed crawl loses the records still queued (a few; the posts they fed are on disk as
usual) and at most one torn record: the kernel drops its flock, and the next run cuts the torn
tail off before it appends.

Reads ``[crawl] captures`` (off: NotConfigured) and ``[captures] max_file_mb``. Place it close to
the engine (a low order number, e.g. 60) so it sees the final response.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals

from crawler.archive.captures import MIB, complete_end, file_to_append, rolled_name
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
DEFAULT_MAX_BYTES = 256 * MIB
MAX_QUEUED = 256  # records waiting for the capture thread


def warc_date(when: datetime) -> str:
    """WARC-Date (UTC, ``Z``, whole seconds) of an aware datetime."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _records(
    *,
    url: str,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    when: datetime,
    meta: dict[str, Any],
) -> bytes:
    """A response record and its metadata record, each its own gzip member (warcio's WARCWriter)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = BytesIO()
    writer = WARCWriter(out, gzip=True)
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
    return out.getvalue()


class CaptureWriter:
    """One source's capture file for one run, chosen and locked at the first record (an exclusive
    ``flock`` held until :meth:`close`), then each record appended in one write."""

    def __init__(self, folder: Path, started: datetime, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.started = started  # its Beijing day picks the file; a new file is named after it
        self.max_bytes = max_bytes
        self.path: Path | None = None
        self._fd: int | None = None
        self._end = 0  # where the whole records end: a failed write is cut back to it
        self.records = 0

    def _open(self) -> int:
        if self._fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = file_to_append(self.folder, self.started, self.max_bytes)
            opened = _lock(path)
            end = None if opened is None else self._whole_end(*opened, path)
            if opened is None or end is None:
                # another process appends to it right now (or its end is damaged in a way we do not
                # cut): this run gets a file of its own
                if opened is not None:
                    os.close(opened[0])
                path = self.folder / rolled_name(now_beijing(), os.getpid())
                opened = _lock(path)
                if opened is None:
                    raise OSError(f"{path}: locked by another process")
                end = opened[1]
            self._fd, self._end, self.path = opened[0], end, path
        return self._fd

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
        data = _records(url=url, status=status, headers=headers, body=body, when=when, meta=meta)
        fd = self._open()
        try:
            _write_all(fd, data)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._end)  # a short write (disk full): no torn record for the next one
            raise
        self._end += len(data)
        self.records += 1

    def _whole_end(self, fd: int, size: int, path: Path) -> int | None:
        """Where the file's whole records end, after cutting off a torn one a killed run left;
        None when its end is damaged in a way that is not cut."""
        with os.fdopen(fd, "rb", closefd=False) as handle:
            end = complete_end(handle)
        if end is None:
            logger.warning("%s: damaged at its end and not cut; this run's captures go to a new file", path)
        elif end < size:
            logger.warning(
                "%s: cut off a torn record of %d bytes at its end (a crawl killed while writing)",
                path,
                size - end,
            )
            os.ftruncate(fd, end)
        return end

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None


def _lock(path: Path) -> tuple[int, int] | None:
    """``path`` opened for appending under an exclusive flock, and its size; None when another
    process holds it. A file deleted (pruned) between opening and locking is created again."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        stat = os.fstat(fd)
        if stat.st_nlink:
            return fd, stat.st_size
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class CaptureMiddleware:
    """Captures each response for its spider's source; holds context back until an article comes."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.started = now_beijing()
        self.writers: dict[str, CaptureWriter] = {}
        # per source: context responses held back until its first article response (see above)
        self.held: dict[str, list[dict[str, Any]]] = {}
        self.articles: set[str] = set()  # sources that captured an article response in this run
        # one thread: records keep their order in the file, and a file has one writer
        self.queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wiremirror-capture")
        self.queued: deque[Future[None]] = deque()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = get_config(crawler)
        if not config.crawl.captures:
            raise switched_off(cls.__name__, "[crawl] captures = false")
        middleware = cls(config.state_dir / "captures", config.captures.max_file_mb * MIB)
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
        kind = request.meta.get("wm_kind", "")
        record = {
            "url": response.url,
            "status": response.status,
            "headers": headers,
            "body": response.body,
            "when": when,
            "meta": {
                "request_url": request.url,
                "method": request.method,
                "wm_kind": kind,
                "wm_context": request.meta.get("wm_context"),
            },
        }
        replayable = getattr(spider, "replay_callbacks", {})
        if source not in self.articles and request.meta.get("wm_context") is None and kind not in replayable:
            self.held.setdefault(source, []).append(record)
            return response
        self.articles.add(source)
        for earlier in self.held.pop(source, []):
            self._enqueue(source, earlier)
        self._enqueue(source, record)
        return response

    def _enqueue(self, source: str, record: dict[str, Any]) -> None:
        """Hand the record to the capture thread; past MAX_QUEUED, wait for the oldest (a slow disk
        slows the crawl rather than filling memory)."""
        self.queued.append(self.queue.submit(self._write, source, record))
        while len(self.queued) > MAX_QUEUED or (self.queued and self.queued[0].done()):
            self.queued.popleft().result()

    def _write(self, source: str, record: dict[str, Any]) -> None:
        writer = self.writers.get(source)
        if writer is None:
            writer = self.writers[source] = CaptureWriter(self.root / source, self.started, self.max_bytes)
        try:
            writer.write(**record)
        except Exception as err:  # noqa: BLE001 - on the capture thread: reported here or never
            # provenance is worth a warning, never a lost article
            logger.warning(
                "could not capture %s into %s: %s", record["url"], writer.path or writer.folder, err
            )
        else:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("capture/responses")

    def spider_closed(self, spider: Spider) -> None:
        self.queue.shutdown(wait=True)  # every record of the run on disk before its files close
        assert self.crawler.stats is not None
        for source, held in self.held.items():
            # a run that fetched no article: its lists are already known, nothing worth a byte
            logger.info("%s: no article fetched; %d list responses not captured", source, len(held))
            self.crawler.stats.inc_value("capture/not_kept", len(held))
        for writer in self.writers.values():
            if writer.records:
                logger.info("captured %d responses in %s", writer.records, writer.path)
            writer.close()

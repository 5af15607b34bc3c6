"""``archive rebuild``: re-render posts from the WARC captures, without any network.

After a change to cleaning or templates: each captured article response goes through the same
extractor the spider called (with the request's ``wm_context``), then the crawl's own pipeline
functions (clean_item, assign_category, render_post) and PostStore. Only posts the state store
knows are rebuilt (never a dropped duplicate), at the path it records (archived posts stay
archived), and only when the text differs: an unchanged post is never rewritten. A post's
``fetched_at`` and ``aliases`` are kept from the file; a missing file is restored, dated by the
capture's WARC-Date.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.archive.postfile import parse_post
from crawler.extract.common import ExtractionError
from crawler.items import ArticleItem
from crawler.timeutil import BEIJING
from pipelines.category import assign_category
from pipelines.clean import clean_item
from pipelines.images import localise_images
from pipelines.jekyll import record_post
from pipelines.render import SiteSettings, render_post
from pipelines.store import PostStore

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.state import StateStore

logger = logging.getLogger(__name__)

# the responses an article is made from (lists are kept for provenance only)
ARTICLE_KINDS = frozenset({"eastmoney:text", "eastmoney:page", "chinanews:article", "chinanews:page"})


@dataclass(slots=True)
class Capture:
    """One captured response with the request's routing data."""

    url: str  # the response URL
    request_url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    when: datetime  # WARC-Date, Beijing time
    kind: str  # wm_kind: eastmoney:text, eastmoney:page, chinanews:article, chinanews:page …
    context: dict[str, Any]

    def text(self) -> str:
        """The body decoded exactly as Scrapy decoded it for the spider (``response.text``)."""
        from scrapy.http import Headers, TextResponse
        from scrapy.responsetypes import responsetypes

        headers = Headers(self.headers)
        cls = responsetypes.from_args(headers=headers, url=self.url, body=self.body)
        response = cls(url=self.url, status=self.status, headers=headers, body=self.body)
        if not isinstance(response, TextResponse):
            raise ExtractionError(f"{self.url}: not a text response")
        return response.text

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass(slots=True)
class RebuildReport:
    files: int = 0
    responses: int = 0  # article responses read
    articles: int = 0  # articles re-extracted
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # not a post: unknown to the state store, or superseded by another source's copy
    errors: list[str] = field(default_factory=list)


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
    """The response + metadata pairs of one WARC file; a truncated tail (killed crawl) is reported, not fatal."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    pending: dict[str, tuple[Any, bytes]] = {}
    try:
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                rec_id = record.rec_headers.get_header("WARC-Record-ID")
                if record.rec_type == "response":
                    pending[rec_id] = (record, record.content_stream().read())
                elif record.rec_type == "metadata":
                    meta = json.loads(record.content_stream().read().decode("utf-8"))
                    found = pending.pop(record.rec_headers.get_header("WARC-Concurrent-To"), None)
                    if found is not None:
                        yield _capture(found[0], found[1], meta)
    except (ArchiveLoadFailed, EOFError, zlib.error, OSError, ValueError) as err:
        message = f"{path.name}: unreadable after a point ({type(err).__name__}: {err}); earlier records used"
        logger.warning("%s", message)
        if errors is not None:
            errors.append(message)


def _capture(record: Any, body: bytes, meta: dict[str, Any]) -> Capture:
    http = record.http_headers
    when = datetime.fromisoformat(record.rec_headers.get_header("WARC-Date"))  # 3.11 reads the Z
    return Capture(
        url=record.rec_headers.get_header("WARC-Target-URI"),
        request_url=str(meta.get("request_url") or ""),
        status=int(http.get_statuscode() or 0),
        headers=list(http.headers),
        body=body,
        when=when.astimezone(BEIJING),
        kind=str(meta.get("wm_kind") or ""),
        context=meta.get("wm_context") or {},
    )


# -- per source: captures → items, as the spider builds them ---------------------------------


class _Eastmoney:
    """EastmoneySpider.parse_text / parse_page / _finish, without the network."""

    def __init__(self, config: Config) -> None:
        self.share_url = config.sources.eastmoney.share_url

    def feed(self, capture: Capture) -> ArticleItem | None:
        from crawler.extract.eastmoney import ListEntry, extract_article_page, extract_text_payload

        context = capture.context
        if capture.kind == "eastmoney:text":
            entry = ListEntry.from_context(context)
            item = extract_text_payload(capture.text(), entry, url=entry.url)
            return self._finish(item, context) if item else None
        if capture.kind == "eastmoney:page":
            maybe = ListEntry.from_context(context) if "info_code" in context else None
            item = extract_article_page(capture.text(), maybe, url=maybe.url if maybe else capture.url)
            return self._finish(item, context if maybe else {})
        return None

    def _finish(self, item: ArticleItem, context: dict[str, Any]) -> ArticleItem:
        item.context = {"entry": context} if context else {}
        if item.media:
            item.share_url = self.share_url.format(id=f"NW{item.article_id}")
        return item


@dataclass(slots=True)
class _Pages:
    item: ArticleItem
    pending: list[str]
    seen: set[int]
    bodies: list[str] = field(default_factory=list)


class _Chinanews:
    """ChinanewsSpider.parse_article / parse_page / _finish, without the network."""

    def __init__(self, config: Config) -> None:
        self.base_url = str(config.sources.chinanews.base_url).rstrip("/")
        self.open: dict[str, _Pages] = {}

    def _decode(self, capture: Capture) -> str:
        from crawler.extract.chinanews import decode_page

        return decode_page(capture.body, capture.header("Content-Type"))

    def feed(self, capture: Capture) -> ArticleItem | None:
        from crawler.extract.chinanews import ListEntry, extract_article, merge_pages, page_number, page_urls

        entry = ListEntry.from_context(capture.context)
        key = entry.article_id
        if capture.kind == "chinanews:article":
            self.open.pop(key, None)
            text = self._decode(capture)
            item = extract_article(text, url=entry.url, entry=entry, base_url=self.base_url)
            pending = page_urls(text, url=entry.url, base_url=self.base_url)
            if pending:
                self.open[key] = _Pages(item, pending, {1, *(page_number(u) for u in pending)})
                return None
            return self._finish(item, capture.context)
        if capture.kind == "chinanews:page":
            pages = self.open.get(key)
            if pages is None or not pages.pending or capture.request_url != pages.pending[0]:
                return None
            url = pages.pending.pop(0)
            text = self._decode(capture)
            page = extract_article(text, url=url, entry=entry, base_url=self.base_url)
            pages.bodies.append(page.body_html)
            for extra in page_urls(text, url=url, base_url=self.base_url):
                if page_number(extra) not in pages.seen:
                    pages.seen.add(page_number(extra))
                    pages.pending.append(extra)
            pages.pending.sort(key=page_number)
            if pages.pending:
                return None
            del self.open[key]
            return self._finish(merge_pages(pages.item, pages.bodies), capture.context)
        return None

    @staticmethod
    def _finish(item: ArticleItem, context: dict[str, Any]) -> ArticleItem:
        item.context = {"entry": context}
        return item


def latest_items(
    config: Config,
    *,
    since: date | None = None,
    report: RebuildReport | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, tuple[ArticleItem, datetime]]:
    """key → (item, capture time) from the newest complete capture of each article."""
    report = report if report is not None else RebuildReport()
    builders: dict[str, Any] = {"eastmoney": _Eastmoney(config), "chinanews": _Chinanews(config)}
    found: dict[str, tuple[ArticleItem, datetime]] = {}
    files = capture_files(config, since)
    report.files = len(files)
    captures: list[tuple[datetime, int, Capture]] = []
    for path in files:
        if progress:
            progress(path.name)
        for capture in read_captures(path, report.errors):
            if capture.kind in ARTICLE_KINDS:
                captures.append((capture.when, len(captures), capture))
    captures.sort(key=lambda c: (c[0], c[1]))  # file order breaks ties within one second
    for when, _, capture in captures:
        report.responses += 1
        source = capture.kind.split(":")[0]
        try:
            item = builders[source].feed(capture)
        except (ExtractionError, AttributeError, KeyError, ValueError) as err:
            logger.info("capture of %s not usable: %s", capture.url, err)
            continue
        if item is not None:
            found[item.key] = (item, when)
    report.articles = len(found)
    return found


# Below this many articles a process pool costs more than it saves.
POOL_THRESHOLD = 200
WRITE_BATCH = 256
IN_FLIGHT = 512  # articles handed to the workers ahead of the writer


@dataclass(slots=True)
class _Job:
    """One article to re-render: what the main process knows, for a worker to do the CPU work."""

    key: str
    item: ArticleItem
    relpath: str
    existing: str | None


@dataclass(slots=True)
class _Rendered:
    """A worker's answer: the post text (or why not). Small, so little crosses the process pipe."""

    text: str = ""
    content_hash: str = ""
    relpath: str = ""
    error: str = ""


def _render_job(
    task: tuple[ArticleItem, str, str | None], site: SiteSettings, images: tuple[bool, str, Path]
) -> _Rendered:
    """Clean and render one article (``task`` = item, recorded path, current post text): pure
    CPU, pool-friendly. The current post keeps its ``fetched_at`` and ``aliases``."""
    item, relpath, existing = task
    if existing is not None:
        meta = parse_post(relpath, existing).meta or {}
        if meta.get("fetched_at"):
            item.fetched_at = datetime.fromisoformat(str(meta["fetched_at"]))
        item.aliases = [str(a) for a in meta.get("aliases") or []]
    try:
        clean_item(item)
        if not item.body.strip() or "\ufffd" in item.body:
            raise ValueError("body empty or mis-decoded after cleaning")
        download, images_dir, output_dir = images
        if download:
            item.body = localise_images(
                item.body,
                source=item.source,
                article_id=item.article_id,
                images_dir=images_dir,
                output_dir=output_dir,
            )
        rendered = render_post(item, site)
    except ValueError as err:
        return _Rendered(error=f"{item.key}: {err}")
    return _Rendered(rendered.text, rendered.content_hash, relpath or rendered.relpath)


def _jobs(
    config: Config,
    state: StateStore,
    store: PostStore,
    found: dict[str, tuple[ArticleItem, datetime]],
    report: RebuildReport,
) -> Iterator[_Job]:
    """Articles the state store knows, with what only the main process can look up."""
    for key, (item, when) in sorted(found.items()):
        record = state.get_article(key)
        if record is None or record.key != key:
            report.skipped += 1
            continue
        relpath = record.post_path or ""
        existing = store.read(relpath) if relpath else None
        item.fetched_at = when  # a missing post is restored, dated by its capture
        item.category, item.tag = assign_category(state, item.media)  # the registry lives here
        yield _Job(key, item, relpath, existing)


def rebuild(
    config: Config,
    state: StateStore,
    *,
    since: date | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RebuildReport:
    """Re-render every known article from its newest capture; write only posts whose text changed.

    Cleaning and rendering (the CPU) run in worker processes for large rebuilds; the state store and
    the files stay in this process, written in batches (each file fsynced, each batch's folders once),
    and an article is recorded only after its batch is on disk.
    """
    report = RebuildReport()
    store = PostStore(config.output_dir)
    site = SiteSettings(url=config.site.url)
    found = latest_items(config, since=since, report=report, progress=progress)
    images = (config.images.download, config.images.dir, config.output_dir)
    jobs = _jobs(config, state, store, found, report)
    batch: list[tuple[_Job, _Rendered]] = []
    for job, done in _rendered(jobs, site, images, parallel=len(found) >= POOL_THRESHOLD):
        if done.error:
            report.errors.append(done.error)
            continue
        if job.existing == done.text:
            report.unchanged += 1
            continue
        report.written.append(done.relpath)
        if not dry_run:
            batch.append((job, done))
        if len(batch) >= WRITE_BATCH:
            _write(store, state, batch)
    _write(store, state, batch)
    return report


def _rendered(
    jobs: Iterator[_Job], site: SiteSettings, images: tuple[bool, str, Path], *, parallel: bool
) -> Iterator[tuple[_Job, _Rendered]]:
    render = partial(_render_job, site=site, images=images)
    if not parallel:
        yield from ((job, render((job.item, job.relpath, job.existing))) for job in jobs)
        return
    from concurrent.futures import ProcessPoolExecutor

    # One worker per core. (Leaving the writer a core of its own was measured too: on 2 cores the
    # single worker then limits, 765 vs 853 posts/s, although a writer that must wait for a busy
    # core after each fsync runs at a third of the disk's speed.)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        # A sliding window: workers render ahead while this process writes, and memory stays
        # bounded (Executor.map would submit the whole input at once).
        window: deque[tuple[_Job, Future[_Rendered]]] = deque()
        for job in jobs:
            window.append((job, pool.submit(render, (job.item, job.relpath, job.existing))))
            if len(window) >= IN_FLIGHT:
                first, future = window.popleft()
                yield first, future.result()
        while window:
            first, future = window.popleft()
            yield first, future.result()


def _write(store: PostStore, state: StateStore, batch: list[tuple[_Job, _Rendered]]) -> None:
    """Write a batch, then record it: "known" never runs ahead of "on disk"."""
    if not batch:
        return
    store.write_many((done.relpath, done.text) for _, done in batch)
    for job, done in batch:
        record_post(state, job.item, done.content_hash, done.relpath)
    batch.clear()

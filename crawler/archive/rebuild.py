"""``archive rebuild``: re-render posts from the WARC captures, without any network.

After a change to cleaning, extraction or templates: each article's newest capture is replayed
through the spider's own callbacks (crawler.archive.replay), then the crawl's own pipeline
functions (clean_item, assign_category, render_post) and PostStore. Only posts the state store
knows are rebuilt (never a dropped duplicate), at the path it records (archived posts stay
archived), and only when the text differs: an unchanged post is never rewritten. A post's
``fetched_at`` is kept from the file and its ``aliases`` come from the state store (which records
every other key of the story, also those found after the post was written); a missing file is
restored, dated by the
capture's WARC-Date.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.archive.replay import Replayer
from crawler.items import ArticleItem
from crawler.postformat import SiteSettings, parse_post, render_post
from pipelines.category import category_of
from pipelines.clean import clean_item
from pipelines.images import localise_images
from pipelines.jekyll import record_post
from pipelines.store import PostStore

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.state import StateStore

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RebuildReport:
    files: int = 0
    responses: int = 0  # article responses replayed
    articles: int = 0  # articles re-extracted
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # not a post: unknown to the state store, or superseded by another source's copy
    errors: list[str] = field(default_factory=list)


# Below this many known articles a process pool costs more than it saves.
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
    CPU, pool-friendly. The current post keeps its ``fetched_at``."""
    item, relpath, existing = task
    if existing is not None:
        meta = parse_post(relpath, existing).meta or {}
        if meta.get("fetched_at"):
            item.fetched_at = datetime.fromisoformat(str(meta["fetched_at"]))
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
    state: StateStore, store: PostStore, items: Iterator[ArticleItem], report: RebuildReport
) -> Iterator[_Job]:
    """Articles the state store knows, with what only the main process can look up.

    A missing post is restored dated by its capture (the spider stamped ``fetched_at`` with it).
    """
    for item in items:
        record = state.get_article(item.key)
        if record is None or record.key != item.key:
            report.skipped += 1
            continue
        relpath = record.post_path or ""
        existing = store.read(relpath) if relpath else None
        item.category, item.tag = category_of(state, item)  # the registry lives here
        item.aliases = state.aliases_of(item.key)
        yield _Job(item.key, item, relpath, existing)


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
    replayer = Replayer(config, state, report.errors)
    images = (config.images.download, config.images.dir, config.output_dir)
    jobs = _jobs(state, store, replayer.items(since=since, progress=progress), report)
    batch: list[tuple[_Job, _Rendered]] = []
    for job, done in _rendered(jobs, site, images, parallel=state.count_articles() >= POOL_THRESHOLD):
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
    report.files, report.responses = replayer.stats.files, replayer.stats.responses
    report.articles = replayer.stats.articles
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

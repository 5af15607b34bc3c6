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

import contextlib
import logging
import os
import re
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
from crawler.postformat import SiteSettings, parse_post, render_post, split_front_matter
from pipelines.category import category_of
from pipelines.clean import clean_item
from pipelines.images import localise_images
from pipelines.jekyll import article_write
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
BATCH = 128  # articles per state look-up and per worker task (a task is ~0.2 s of a worker's CPU)
IN_FLIGHT_PER_WORKER = 3  # tasks queued per worker ahead of the writer: workers never wait for one
WRITE_BATCH = 256  # posts per group commit (PostStore.write_many)


@dataclass(slots=True)
class _Job:
    """One article to re-render: what the main process knows, for a worker to do the CPU work."""

    item: ArticleItem
    relpath: str  # where the state store has its post ("" when it has none yet)
    existing: str | None  # the post's current text
    recorded_hash: str  # the state store's content hash


@dataclass(slots=True)
class _Rendered:
    """A worker's answer: the post text (or why not). The text of a post that would not change
    is left out, so little crosses the process pipe."""

    text: str = ""
    content_hash: str = ""
    relpath: str = ""
    error: str = ""
    unchanged: bool = False


_Task = tuple[ArticleItem, str, str | None]  # item, recorded path, current post text
_FETCHED_AT = re.compile(r"^fetched_at: '([^'\n]+)'$", re.MULTILINE)


def _kept_fetched_at(relpath: str, existing: str) -> datetime | None:
    """The current post's ``fetched_at``: read off the line our own dumper writes, else through
    the YAML parser (a post edited by hand, an older format)."""
    front, _, _ = split_front_matter(existing)
    found = _FETCHED_AT.findall(front) if front is not None else []
    if len(found) == 1:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(found[0])
    meta = parse_post(relpath, existing).meta or {}
    return datetime.fromisoformat(str(meta["fetched_at"])) if meta.get("fetched_at") else None


def _render_one(task: _Task, site: SiteSettings, images: tuple[bool, str, Path]) -> _Rendered:
    """Clean and render one article: pure CPU. The current post keeps its ``fetched_at``."""
    item, relpath, existing = task
    if existing is not None:
        item.fetched_at = _kept_fetched_at(relpath, existing) or item.fetched_at
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
    if rendered.text == existing:
        return _Rendered(content_hash=rendered.content_hash, relpath=relpath, unchanged=True)
    return _Rendered(rendered.text, rendered.content_hash, relpath or rendered.relpath)


def _render_batch(tasks: list[_Task], site: SiteSettings, images: tuple[bool, str, Path]) -> list[_Rendered]:
    """A worker's task: one batch, so the pipe carries one message each way per BATCH articles."""
    return [_render_one(task, site, images) for task in tasks]


def _chunked(items: Iterator[ArticleItem], size: int) -> Iterator[list[ArticleItem]]:
    chunk: list[ArticleItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _jobs(
    state: StateStore, store: PostStore, items: Iterator[ArticleItem], report: RebuildReport
) -> Iterator[list[_Job]]:
    """Batches of the articles the state store knows, with what only the main process can look
    up: one state query per batch for the records and one for the aliases.

    A missing post is restored dated by its capture (the spider stamped ``fetched_at`` with it).
    """
    categories: dict[tuple[str, str], tuple[str, str]] = {}  # the registry keeps a slug forever
    for chunk in _chunked(items, BATCH):
        latest = {item.key: item for item in chunk}  # captured twice in a batch: the later wins
        records = state.articles_by_key(latest)
        aliases = state.aliases_of_many(latest)
        jobs = []
        for key, item in latest.items():
            record = records.get(key)
            if record is None:
                report.skipped += 1
                continue
            existing = store.read(record.post_path) if record.post_path else None
            media = (item.source, item.media)
            if media not in categories:
                categories[media] = category_of(state, item)
            item.category, item.tag = categories[media]
            item.aliases = aliases.get(key, [])
            item.revision = record.revision  # the revision marks are the store's, like the aliases
            item.updated = datetime.fromisoformat(record.updated) if record.updated else None
            item.retracted = datetime.fromisoformat(record.retracted) if record.retracted else None
            jobs.append(_Job(item, record.post_path, existing, record.content_hash))
        if jobs:
            yield jobs


def rebuild(
    config: Config,
    state: StateStore,
    *,
    since: date | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RebuildReport:
    """Re-render every known article from its newest capture; write only posts whose text changed.

    Cleaning and rendering (the CPU) run in worker processes for large rebuilds, a batch per task;
    the state store and the files stay in this process, written in batches (each batch's files
    flushed with one group commit), and an article is recorded only after its batch is on disk.
    Everything streams: the captures, the batches in flight and the batch being written are
    bounded, whatever the size of the archive.
    """
    report = RebuildReport()
    store = PostStore(config.output_dir)
    site = SiteSettings(url=config.site.url)
    replayer = Replayer(config, state, report.errors)
    images = (config.images.download, config.images.dir, config.output_dir)
    batches = _jobs(state, store, replayer.items(since=since, progress=progress), report)
    pending: list[tuple[_Job, _Rendered]] = []
    parallel = state.count_articles() >= POOL_THRESHOLD
    for jobs, answers in _rendered(batches, site, images, parallel=parallel):
        for job, done in zip(jobs, answers, strict=True):
            if done.error:
                report.errors.append(done.error)
            elif done.unchanged:
                report.unchanged += 1
            else:
                report.written.append(done.relpath)
                if not dry_run:
                    pending.append((job, done))
        if len(pending) >= WRITE_BATCH:
            _write(store, state, pending)
    _write(store, state, pending)
    report.files, report.responses = replayer.stats.files, replayer.stats.responses
    report.articles = replayer.stats.articles
    return report


def _rendered(
    batches: Iterator[list[_Job]], site: SiteSettings, images: tuple[bool, str, Path], *, parallel: bool
) -> Iterator[tuple[list[_Job], list[_Rendered]]]:
    """Each batch with its answers, in order."""
    render = partial(_render_batch, site=site, images=images)
    if not parallel:
        yield from ((jobs, render(_tasks(jobs))) for jobs in batches)
        return
    from concurrent.futures import ProcessPoolExecutor

    # One worker per core. (Leaving the writer a core of its own was measured too: on 2 cores the
    # single worker then limits, 765 vs 853 posts/s, although a writer that must wait for a busy
    # core after each fsync runs at a third of the disk's speed.)
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # A sliding window: workers render ahead while this process writes, and memory stays
        # bounded (Executor.map would submit the whole input at once). Whole batches per task:
        # with one article per task the pool's feeder thread, which needs this process's GIL,
        # could not keep two workers busy.
        window: deque[tuple[list[_Job], Future[list[_Rendered]]]] = deque()
        for jobs in batches:
            window.append((jobs, pool.submit(render, _tasks(jobs))))
            if len(window) >= workers * IN_FLIGHT_PER_WORKER:
                first, future = window.popleft()
                yield first, future.result()
        while window:
            first, future = window.popleft()
            yield first, future.result()


def _tasks(jobs: list[_Job]) -> list[_Task]:
    return [(job.item, job.relpath, job.existing) for job in jobs]


def _write(store: PostStore, state: StateStore, batch: list[tuple[_Job, _Rendered]]) -> None:
    """Write a batch, then record it: "known" never runs ahead of "on disk". A post restored as
    the state store already records it (same hash, same path) needs no state write at all."""
    if not batch:
        return
    store.write_many((done.relpath, done.text) for _, done in batch)
    state.record_articles(  # one transaction per batch
        [
            article_write(job.item, done.content_hash, done.relpath)
            for job, done in batch
            if done.content_hash != job.recorded_hash or done.relpath != job.relpath
        ]
    )
    batch.clear()

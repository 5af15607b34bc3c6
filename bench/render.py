"""Render: posts per second for rendering and writing already-parsed articles, on one core.

The items are cleaned once up front (the clean pipeline's work is reported separately as
context); the timed part is ``render_post`` plus ``PostStore.write_many`` — atomic, every file
fsynced, the folder once per batch — into an empty ``_posts``. One-at-a-time ``write`` (a crawl's
path, where the network sets the pace) and the loop without fsync are measured beside it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import BenchResult, Check
from bench.loopdata import eastmoney_articles
from bench.sizes import Sizes
from crawler.items import ArticleItem
from crawler.postformat import SiteSettings, render_post
from crawler.sources.eastmoney import OWN_MEDIA
from pipelines.clean import clean_item
from pipelines.store import PostStore

# Rendering must cost less than a fifth of what the durable write itself costs on this disk.
MIN_DISK_RATIO = 0.8
SITE = SiteSettings()


def parsed_items(count: int, offset: int = 0) -> list[ArticleItem]:
    """``count`` items as the spider yields them (raw body HTML, list metadata)."""
    items = []
    for a in eastmoney_articles(count, first=offset):
        items.append(
            ArticleItem(
                source="eastmoney",
                article_id=a.article_id,
                title=a.title,
                published=a.published,
                body_html=a.body,
                url=f"https://finance.eastmoney.com/a/{a.article_id}.html",
                media=a.media,
                summary="新冠疫情此起彼伏，全国上下众志成城。",
                share_url=f"http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW{a.article_id}",
                fetched_at=a.published,
            )
        )
    return items


def quickly_cleaned_items(count: int, offset: int = 0) -> list[ArticleItem]:
    """Like :func:`cleaned_items` for bulk set-up: one body is cleaned, the others are copies of it
    with their own number and id (the bodies differ only in their first paragraph)."""
    items = parsed_items(count, offset)
    if not items:
        return items
    first = items[0]
    clean_item(first)
    number = f"合成正文第{offset + 1}篇"
    for n, item in enumerate(items[1:], start=offset + 2):
        item.body = first.body.replace(first.article_id, item.article_id).replace(number, f"合成正文第{n}篇")
        item.origin, item.editor, item.author = first.origin, first.editor, first.author
    return items


def cleaned_items(count: int, offset: int = 0) -> tuple[list[ArticleItem], float]:
    """Cleaned, categorised items and the clean step's rate (posts/s)."""
    items = parsed_items(count, offset)
    started = time.perf_counter()
    for item in items:
        clean_item(item)
    rate = count / (time.perf_counter() - started)
    for item in items:
        media = item.media or OWN_MEDIA
        item.category, item.tag = f"c{abs(hash(media)) % 997}", f"{media}新闻"
    return items, rate


@contextmanager
def no_fsync() -> Iterator[None]:
    """For the comparison only: fsync becomes a no-op in this process."""
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


def _rate(items: list[ArticleItem], step: Callable[[ArticleItem], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for item in items:
            step(item)
        best = min(best, time.perf_counter() - started)
    return len(items) / best


def run(sizes: Sizes, workdir: Path) -> BenchResult:
    result = BenchResult(
        "render",
        "render + atomic, durable writes of already-parsed articles vs the disk's ceiling for that I/O",
        f"≥ {MIN_DISK_RATIO} × the disk's own create-write-fsync-rename rate",
    )
    items, clean_rate = cleaned_items(sizes.render_posts)
    render_rate = _rate(items, lambda item: render_post(item, SITE), sizes.repeats)

    rounds = iter(range(1_000_000))

    def writer() -> Callable[[ArticleItem], object]:
        store = PostStore(workdir / f"site-{next(rounds)}")

        def step(item: ArticleItem) -> object:
            rendered = render_post(item, SITE)
            return store.write(rendered.relpath, rendered.text)

        return step

    one_by_one = _rate(items, writer(), 1)  # context: a crawl's path, one fsync per post
    # The disk's speed drifts by several times within minutes here: measure our write and the
    # disk's own ceiling interleaved, round by round, and compare them within each round.
    rounds_disk = [
        (
            _batch_rate(items, PostStore(workdir / f"batch-{n}")),
            _disk_ceiling(items, workdir / f"ceiling-{n}"),
        )
        for n in range(max(3, sizes.repeats))
    ]
    durable = statistics.median(ours for ours, _ in rounds_disk)
    ceiling = statistics.median(disk for _, disk in rounds_disk)
    disk_ratio = statistics.median(ours / disk for ours, disk in rounds_disk)
    memory = _tmpfs_dir()
    in_memory = (
        max(_batch_rate(items, PostStore(memory / f"batch-{n}")) for n in range(sizes.repeats))
        if memory
        else None
    )
    if memory:
        shutil.rmtree(memory, ignore_errors=True)  # tmpfs is RAM: never leave it behind
    with no_fsync():
        undurable = max(_rate(items, writer(), 1) for _ in range(sizes.repeats))
    unchanged_store = PostStore(workdir / "site-0")  # every post already there: the no-rewrite path
    unchanged = _rate(items, lambda i: unchanged_store.write(*_rel_text(i)), sizes.repeats)

    # The verdict is a ratio measured interleaved, round by round: render + atomic, durable writes
    # on the disk against the disk's own ceiling for the same I/O without rendering (this VM's disk
    # drifts several-fold within minutes). Rates on tmpfs and without fsync are context.
    result.checks.append(
        Check(
            "render + durable write ÷ the disk's own ceiling (interleaved)",
            round(disk_ratio, 2),
            ">=",
            MIN_DISK_RATIO,
        )
    )
    result.ratios["disk render+write ÷ disk's own ceiling (interleaved)"] = round(disk_ratio, 2)
    result.ratios["with fsync ÷ without fsync"] = round(durable / undurable, 2)
    result.context = {
        "posts": len(items),
        "render_only_posts_per_s": round(render_rate),
        "render_write_posts_per_s": round(durable),
        "render_write_tmpfs_posts_per_s": round(in_memory) if in_memory else None,
        "disk_ceiling_files_per_s": round(ceiling),
        "render_write_one_by_one_posts_per_s": round(one_by_one),
        "render_write_no_fsync_posts_per_s": round(undurable),
        "render_unchanged_post_posts_per_s": round(unchanged),
        "clean_posts_per_s": round(clean_rate),
    }
    return result


BATCH = 256  # posts per PostStore.write_many call: one folder fsync per batch, every file fsynced


def _batch_rate(items: list[ArticleItem], store: PostStore) -> float:
    """Render and write as bulk writers (rebuild) do: files fsynced, the folder once per batch."""
    started = time.perf_counter()
    for start in range(0, len(items), BATCH):
        store.write_many(_rel_text(item) for item in items[start : start + BATCH])
    return len(items) / (time.perf_counter() - started)


def _disk_ceiling(items: list[ArticleItem], folder: Path) -> float:
    """Files/s the disk gives for the same I/O with no rendering: create, write, fsync, rename."""
    return disk_ceiling([_rel_text(item)[1].encode("utf-8") for item in items], folder)


def disk_ceiling(texts: list[bytes], folder: Path) -> float:
    """Files/s for ``texts``: create, write, fsync, rename, the folder fsynced once per batch."""
    folder.mkdir(parents=True)
    started = time.perf_counter()
    for n, data in enumerate(texts):
        tmp = folder / f".t{n}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, folder / f"{n}.md")
        if n % BATCH == BATCH - 1:
            _sync_folder(folder)
    _sync_folder(folder)
    return len(texts) / (time.perf_counter() - started)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmpfs_dir() -> Path | None:
    """A fresh folder on tmpfs (/dev/shm), or None where there is none."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        return None
    return Path(tempfile.mkdtemp(prefix="wm-bench-", dir=shm))


def _rel_text(item: ArticleItem) -> tuple[str, str]:
    rendered = render_post(item, SITE)
    return rendered.relpath, rendered.text

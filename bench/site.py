"""Site: full-build time and peak memory at a small and a ten-times larger archive (Hugo), a new
post's page at the larger, search; each verdict a ratio of the two sizes or of two builds.

Posts are generated (render_post, as a crawl writes them; ~685 a day, one year of 中国新闻网 being
~250,000) into a scaffold from ``init_site``; nothing is committed. Each build is a real
``wiremirror site build`` subprocess; its peak memory is the largest builder process (Hugo,
Jekyll or Pagefind). Jekyll is timed at the smallest size only: its own per-post costs grow
faster than linearly (README, Performance), so the larger sizes are Hugo's.

The new-post latency writes one post into the newest *full* week of the larger archive (the
worst case: its week, its month's lists and the top pages are rebuilt) and polls for its built
page. The verdicts: time per post may not grow with the archive (the build is linear), memory
grows far slower than the archive (bounded by a period), and a new post's page takes a small
part of a full build (the build is incremental).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import REPO, BenchResult, Check, child_env
from bench.render import SITE, no_fsync, quickly_cleaned_items
from bench.sizes import Sizes
from crawler.postformat import render_post
from crawler.site import init_site
from crawler.timeutil import now_beijing
from pipelines.store import PostStore

MAX_PER_POST_GROWTH = 1.25  # Hugo seconds per post, larger ÷ smaller archive: linear, no worse
MAX_MEMORY_SHARE = 0.5  # peak memory growth ÷ archive growth: at most half as fast (by period)
MAX_NEW_POST_SHARE = 0.5  # a new post's page ÷ a full build of the larger archive
SPACING = timedelta(seconds=126)  # ~685 posts a day
CATEGORIES = 7


def generate(site: Path, count: int, *, offset: int = 0) -> None:
    """``count`` posts, newest now, 126 s apart, spread over a few categories."""
    init_site(site)
    store = PostStore(site)
    newest = now_beijing().replace(microsecond=0)
    with no_fsync():
        for start in range(0, count, 2000):
            for n, item in enumerate(quickly_cleaned_items(min(2000, count - start), offset=offset + start)):
                item.published = newest - SPACING * (start + n)
                item.category = f"c{zlib.crc32(item.media.encode()) % CATEGORIES}"
                item.tag = f"{item.media}新闻"
                rendered = render_post(item, SITE)
                store.write(rendered.relpath, rendered.text)


def site_build(site: Path, dest: Path, *args: str, timeout: float = 3600) -> dict[str, Any]:
    """One ``wiremirror site build`` subprocess; its JSON report plus the wall time."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "crawler", "site", "build", str(site), "--dest", str(dest), "--json", *args],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"site build failed: {proc.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall"] = round(time.perf_counter() - started, 2)
    return report


def _new_post_latency(site: Path, dest: Path, offset: int) -> dict[str, Any]:
    """Write one post into the newest full week, rebuild, and time until its page exists."""
    names = sorted(p.name for p in (site / "_posts").glob("*.md"))
    # a day at least 7 days before the newest: its week is full
    newest_day = names[-1][:10]
    day = next((n[:10] for n in reversed(names) if n[:10] <= _days_before(newest_day, 8)), names[0][:10])
    item = quickly_cleaned_items(1, offset=offset)[0]
    item.published = item.published.replace(
        year=int(day[:4]), month=int(day[5:7]), day=int(day[8:10]), hour=12, minute=0, second=0
    )
    item.category, item.tag = "c1", f"{item.media}新闻"
    rendered = render_post(item, SITE)
    day_path = rendered.relpath.split("/")[-1][:10].replace("-", "/")
    page = dest / "c1" / day_path / (Path(rendered.relpath).stem[11:] + ".html")
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll(started: float) -> None:
        while not stop.is_set():
            if page.is_file():
                seen["page"] = time.perf_counter() - started
                return
            time.sleep(0.05)

    started = time.perf_counter()
    PostStore(site).write(rendered.relpath, rendered.text)
    watcher = threading.Thread(target=poll, args=(started,), daemon=True)
    watcher.start()
    report = site_build(site, dest, "--builder", "hugo", "--no-search")
    stop.set()
    watcher.join(timeout=5)
    if "page" not in seen and page.is_file():
        seen["page"] = time.perf_counter() - started
    return {"page_seconds": round(seen.get("page", float("inf")), 2), "week": day, "report": report}


def _days_before(day: str, days: int) -> str:
    from datetime import date

    return (date.fromisoformat(day) - timedelta(days=days)).isoformat()


def run(sizes: Sizes, workdir: Path) -> BenchResult:
    small, largest = sizes.site_posts[0], sizes.site_posts[-1]
    result = BenchResult(
        "site",
        f"Hugo full build at {small:,} and {largest:,} posts; a new post's page at {largest:,}; Pagefind",
        "time per post independent of size; memory bounded; a new post far below a full build",
    )
    builds: dict[str, Any] = {}
    for count in sizes.site_posts:
        site = workdir / f"site-{count}"
        generate(site, count)
        report = site_build(site, workdir / f"dest-{count}", "--builder", "hugo", "--no-search", "--full")
        builds[str(count)] = {
            "seconds": report["wall"],
            "phases": report["seconds"],
            "peak_mb": report["peak_rss_mb"],
            "periods": len(report["shards_built"]),
        }
        if count == largest:
            latency = _new_post_latency(site, workdir / f"dest-{count}", offset=count + 1)
            result.context["new_post"] = {
                "page_seconds": latency["page_seconds"],
                "build_seconds": latency["report"]["wall"],
                "periods_rebuilt": latency["report"]["shards_built"],
                "into_week_of": latency["week"],
            }
            result.checks.append(
                Check(
                    f"new post → its page ÷ full build, {count:,} posts",
                    round(latency["page_seconds"] / report["wall"], 2),
                    "<=",
                    MAX_NEW_POST_SHARE,
                )
            )
        if count != sizes.site_search_posts:
            _cleanup(site, workdir / f"dest-{count}")
    result.context["hugo_full_builds"] = builds
    big, little = builds[str(largest)], builds[str(small)]
    growth = largest / small
    result.checks.append(
        Check(
            f"seconds per post, {largest:,} ÷ {small:,} posts",
            round((big["seconds"] / largest) / (little["seconds"] / small), 2),
            "<=",
            MAX_PER_POST_GROWTH,
        )
    )
    result.checks.append(
        Check(
            f"peak memory growth ÷ archive growth ({growth:.0f}×)",
            round((big["peak_mb"] / little["peak_mb"]) / growth, 2),
            "<=",
            MAX_MEMORY_SHARE,
        )
    )
    result.ratios[f"peak memory {largest:,} ÷ {small:,}"] = round(big["peak_mb"] / little["peak_mb"], 2)

    # Jekyll, GitHub Pages' own builder, at the smallest size (same posts, same URLs)
    jekyll_site = workdir / f"jekyll-{small}"
    generate(jekyll_site, small)
    try:
        jekyll = site_build(
            jekyll_site, workdir / f"jekyll-dest-{small}", "--builder", "jekyll", "--no-search"
        )
        result.context["jekyll_full_build"] = {
            "posts": small,
            "seconds": jekyll["wall"],
            "peak_mb": jekyll["peak_rss_mb"],
        }
        result.ratios[f"jekyll/hugo build time at {small:,}"] = round(
            jekyll["wall"] / max(builds[str(small)]["seconds"], 0.01), 1
        )
    except RuntimeError as err:  # no jekyll here: the Hugo rows still stand
        result.context["jekyll_full_build"] = f"not run: {str(err)[:200]}"
    _cleanup(jekyll_site, workdir / f"jekyll-dest-{small}")

    # search: Pagefind over every post, in week bundles (the site's own search step)
    n = sizes.site_search_posts
    site = workdir / f"site-{n}"
    search = site_build(site, workdir / f"search-dest-{n}", "--builder", "hugo", "--full")
    hugo_only = builds[str(n)]["seconds"]
    result.context["search"] = {
        "posts": n,
        "build_with_search_seconds": search["wall"],
        "index_seconds": round(search["wall"] - hugo_only, 2),
        "peak_mb": search["peak_rss_mb"],
        "bundles": sum(1 for _ in (workdir / f"search-dest-{n}" / "pagefind").iterdir()),
    }
    result.context["search"]["index_seconds_per_1000_posts"] = round(
        (search["wall"] - hugo_only) / n * 1000, 2
    )
    result.ratios[f"Pagefind index ÷ Hugo build, {n:,} posts"] = round(
        (search["wall"] - hugo_only) / hugo_only, 2
    )
    _cleanup(site, workdir / f"search-dest-{n}")
    return result


def _cleanup(*folders: Path) -> None:
    import shutil

    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)

"""Crawl throughput: a ``wiremirror crawl`` of new articles against a bare Scrapy spider fetching
the very same URLs from the same loopback upstream with the same Scrapy settings.

Politeness is off (no delay, no AutoThrottle, no robots.txt, 32 concurrent requests); everything
else — cleaning, rendering, fsynced atomic writes, the state store, captures — runs as in
production. The two alternate, each ``repeats`` times (every crawl of ours into a fresh site, so
every article is new), and the best of each is compared: the ratio is our crawl's time for the
requests over the bare spider's time for the same requests.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from bench.common import BenchResult, Check, cli, run_child, write_config
from bench.loopdata import (
    POLITENESS_OFF,
    IndexedLoopbackServer,
    config_for,
    eastmoney_articles,
    serve_eastmoney,
)
from bench.sizes import Sizes
from crawler.loopback import LoopbackServer
from crawler.state import StateStore

TARGET_RATIO = 0.6


def bare_scrapy(config: Path, urls: list[str], folder: Path) -> dict[str, Any]:
    """bench.scrapybench's bare spider over ``urls`` with ``config``'s crawl settings."""
    listing = folder / "urls.txt"
    listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
    child = run_child(
        [sys.executable, "-m", "bench.scrapybench", "--bare", str(config), str(listing)], timeout=1800
    )
    if child.returncode != 0:
        raise RuntimeError(f"bare Scrapy spider failed: {child.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    data["wall_s"] = round(child.wall, 2)
    data["peak_rss_mb"] = round(child.peak_rss_mb, 1)
    return data


def crawl_articles(server: LoopbackServer, workdir: Path, pages: int, page_size: int) -> dict[str, Any]:
    """Mirror every article ``server`` lists in one ``wiremirror crawl`` into ``workdir``; its numbers."""
    server.clear_requests()
    data = config_for(server, workdir / "output", workdir / "state", captures=True, **POLITENESS_OFF)
    data["sources"]["eastmoney"].update({"page_size": page_size, "max_pages": pages + 1})
    data["sources"]["chinanews"] = {"enabled": False}
    config = write_config(workdir, data)
    child = run_child(cli("crawl", "eastmoney", "--config", str(config), *capture_overrides()), timeout=1800)
    if child.returncode != 0:
        raise RuntimeError(f"throughput crawl exited {child.returncode}: {child.stderr[-2000:]}")
    urls = [server.base_url + r.target for r in server.requests]
    with StateStore(workdir / "state" / "wiremirror.sqlite3") as state:
        stats = state.recent_runs("eastmoney", 1)[0].stats
        known = state.count_articles("eastmoney")
    posts = sum(1 for _ in (workdir / "output" / "_posts").glob("*.md"))
    duration = float(stats.get("duration") or child.wall)
    return {
        "config": str(config),
        "urls": urls,
        "new": int(stats.get("new", 0)),
        "posts_on_disk": posts,
        "known_in_state": known,
        "requests_served": len(urls),
        "crawl_s": round(duration, 2),
        "wall_s": round(child.wall, 2),
        "cpu_s": round(child.cpu_s, 2),
        "peak_rss_mb": round(child.peak_rss_mb, 1),
        "articles_per_s": round(int(stats.get("new", 0)) / duration, 1),
        "requests_per_s": round(len(urls) / duration, 1),
        "captures": _captures(workdir / "state"),
        "capture_middleware": "added with -s" if capture_overrides() else "from the project settings",
    }


CAPTURE = "crawler.middlewares.capture.CaptureMiddleware"


def capture_overrides() -> list[str]:
    """``-s DOWNLOADER_MIDDLEWARES=…`` adding the capture middleware when the project settings don't
    list it yet (production keeps captures; the benchmark must pay for them too)."""
    from crawler import settings

    middlewares = dict(settings.DOWNLOADER_MIDDLEWARES)
    if CAPTURE in middlewares or importlib.util.find_spec("crawler.middlewares.capture") is None:
        return []
    middlewares[CAPTURE] = 60
    return ["-s", f"DOWNLOADER_MIDDLEWARES={json.dumps(middlewares)}"]


def _captures(state_dir: Path) -> dict[str, int]:
    files = [p for p in state_dir.rglob("*.warc*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def run(sizes: Sizes, workdir: Path) -> BenchResult:
    n = sizes.throughput_articles
    result = BenchResult(
        "crawl throughput",
        f"`wiremirror crawl` of {n:,} new articles vs a bare Scrapy spider, same URLs and settings",
        f"≥ {TARGET_RATIO} × the bare spider's speed",
    )
    ours: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    with IndexedLoopbackServer() as server:
        pages = serve_eastmoney(server, eastmoney_articles(n), page_size=sizes.page_size)
        for round_ in range(max(1, sizes.repeats - 1)):  # alternating: drift hits both alike
            ours.append(crawl_articles(server, workdir / f"ours-{round_}", pages, sizes.page_size))
            bare.append(bare_scrapy(Path(ours[0]["config"]), ours[0]["urls"], workdir))
    best_ours = min(ours, key=lambda r: r["crawl_s"])
    best_bare = min(bare, key=lambda r: r["elapsed_s"])
    ratio = best_bare["elapsed_s"] / best_ours["crawl_s"]
    result.checks.append(
        Check("speed ÷ bare Scrapy's (its time ÷ ours, same requests)", round(ratio, 2), ">=", TARGET_RATIO)
    )
    result.checks.append(Check("articles mirrored", best_ours["new"], ">=", n, "posts"))
    result.ratios["ours ÷ bare Scrapy (same requests)"] = round(ratio, 2)
    result.ratios["ours CPU ÷ wall (1 = one core busy)"] = round(best_ours["cpu_s"] / best_ours["wall_s"], 2)
    for run in ours:
        run.pop("urls")
    result.context["wiremirror"] = best_ours
    result.context["wiremirror_runs_s"] = [r["crawl_s"] for r in ours]
    result.context["bare_scrapy"] = best_bare
    result.context["bare_scrapy_runs_s"] = [r["elapsed_s"] for r in bare]
    return result

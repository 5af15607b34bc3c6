"""Crawl throughput: articles mirrored per second over a synthetic upstream, against ``scrapy bench``.

Politeness is off (no delay, no AutoThrottle, no robots.txt, 32 concurrent requests); everything
else — cleaning, rendering, fsynced atomic writes, the state store, captures — runs as in
production. ``scrapy bench`` is measured in the same run on the same machine for the ratio.
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
from crawler.state import StateStore

TARGET_RATIO = 0.6


def scrapy_bench(seconds: int) -> dict[str, Any]:
    child = run_child([sys.executable, "-m", "bench.scrapybench", str(seconds)], timeout=seconds + 120)
    if child.returncode != 0:
        raise RuntimeError(f"scrapy bench failed: {child.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return data


def crawl_articles(workdir: Path, count: int, page_size: int) -> dict[str, Any]:
    """Mirror ``count`` synthetic Eastmoney articles in one ``wiremirror crawl``; its numbers."""
    with IndexedLoopbackServer() as server:
        articles = eastmoney_articles(count)
        pages = serve_eastmoney(server, articles, page_size=page_size)
        data = config_for(server, workdir / "output", workdir / "state", captures=True, **POLITENESS_OFF)
        data["sources"]["eastmoney"].update({"page_size": page_size, "max_pages": pages + 1})
        data["sources"]["chinanews"] = {"enabled": False}
        config = write_config(workdir, data)
        child = run_child(
            cli("crawl", "eastmoney", "--config", str(config), *capture_overrides()), timeout=1800
        )
        if child.returncode != 0:
            raise RuntimeError(f"throughput crawl exited {child.returncode}: {child.stderr[-2000:]}")
        served = len(server.requests)
    with StateStore(workdir / "state" / "wiremirror.sqlite3") as state:
        stats = state.recent_runs("eastmoney", 1)[0].stats
        known = state.count_articles("eastmoney")
    posts = sum(1 for _ in (workdir / "output" / "_posts").glob("*.md"))
    duration = float(stats.get("duration") or child.wall)
    return {
        "articles": count,
        "new": int(stats.get("new", 0)),
        "posts_on_disk": posts,
        "known_in_state": known,
        "requests_served": served,
        "crawl_s": round(duration, 2),
        "wall_s": round(child.wall, 2),
        "peak_rss_mb": round(child.peak_rss_mb, 1),
        "articles_per_s": round(int(stats.get("new", 0)) / duration, 1),
        "requests_per_s": round(served / duration, 1),
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
    result = BenchResult(
        "crawl throughput",
        f"articles mirrored per second over {sizes.throughput_articles:,} loopback articles vs scrapy bench pages/s",
        f"≥ {TARGET_RATIO} × scrapy bench pages/s",
    )
    reference = scrapy_bench(sizes.scrapy_bench_seconds)
    ours = crawl_articles(workdir, sizes.throughput_articles, sizes.page_size)
    ratio = ours["articles_per_s"] / max(reference["pages_per_s"], 0.1)
    result.checks.append(Check("articles/s ÷ scrapy bench pages/s", round(ratio, 2), ">=", TARGET_RATIO))
    result.checks.append(Check("articles mirrored", ours["new"], ">=", sizes.throughput_articles, "posts"))
    result.ratios["ours articles/s ÷ scrapy bench pages/s"] = round(ratio, 2)
    result.ratios["ours requests/s ÷ scrapy bench pages/s"] = round(
        ours["requests_per_s"] / max(reference["pages_per_s"], 0.1), 2
    )
    result.context["wiremirror"] = ours
    result.context["scrapy_bench"] = reference
    return result

"""Large state: a no-change run with 1,000,000 known articles, against a store that knows only the
listed ones. Peak memory of the crawl process and its wall time, side by side."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from bench.common import BenchResult, Check, ChildRun, best, cli, run_child, write_config
from bench.loopdata import (
    LIST_PATH,
    TEXT_PATH,
    IndexedLoopbackServer,
    config_for,
    eastmoney_articles,
    serve_eastmoney,
)
from bench.sizes import Sizes
from crawler.state import StateStore
from crawler.timeutil import iso, now_beijing

# Large ÷ small store, best of ``repeats`` alternating runs: no per-row cost at start-up or per
# request may show (10 % allows for the larger file's page-cache misses on a busy machine).
MAX_RATIO = 1.10
INSERT = (
    "INSERT INTO articles(key, source, article_id, media, url, title, published, content_hash,"
    " post_path, match_key, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
# A scheduled run with production politeness minus the idle delay (see bench.nochange).
CRAWL: dict[str, Any] = {"download_delay": 0.0, "autothrottle": False, "obey_robots": True}


def _rows(start: int, count: int, prefix: str) -> Any:
    stamp = iso(now_beijing())
    for n in range(start, start + count):
        article_id = f"{prefix}{n:014d}"
        day = f"20{10 + n % 14:02d}-{1 + n % 12:02d}-{1 + n % 28:02d}"
        yield (
            f"eastmoney:{article_id}",
            "eastmoney",
            article_id,
            "新华社",
            f"https://finance.eastmoney.com/a/{article_id}.html",
            f"存量新闻第{n}号",
            f"{day}T09:30:00+08:00",
            hashlib.blake2b(article_id.encode(), digest_size=8).hexdigest(),
            f"old_post/{day}-NW{article_id}.md",
            f"存量新闻第{n}号|{day} 09:30",
            stamp,
            stamp,
        )


def fill(db: Path, listed: dict[str, str], extra: int) -> float:
    """Know the ``listed`` articles (id → title, as mirrored: a different title would be rechecked)
    plus ``extra`` others; one executemany transaction. Seconds."""
    import time

    StateStore(db).close()  # the real schema, WAL mode
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    stamp = iso(now_beijing())
    conn.executemany(
        INSERT,
        [
            (
                f"eastmoney:{a}",
                "eastmoney",
                a,
                "新华社",
                "",
                title,
                "2024-05-01T09:00:00+08:00",
                "h",
                "",
                "",
                stamp,
                stamp,
            )
            for a, title in listed.items()
        ],
    )
    conn.executemany(INSERT, _rows(1, extra, "2019"))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def _crawl(config: Path) -> ChildRun:
    run = run_child(cli("crawl", "eastmoney", "--config", str(config)))
    if run.returncode != 0:
        raise RuntimeError(f"no-change crawl exited {run.returncode}: {run.stderr[-2000:]}")
    return run


def run(sizes: Sizes, workdir: Path) -> BenchResult:
    result = BenchResult(
        "large state",
        f"no-change run with {sizes.large_state_rows:,} known articles vs a store of only the listed ones",
        f"≤ {MAX_RATIO} × the small store's peak memory and CPU time",
    )
    with IndexedLoopbackServer() as server:
        server.add("/robots.txt", "User-agent: *\nDisallow:\n", content_type="text/plain")
        articles = eastmoney_articles(sizes.page_size)
        serve_eastmoney(server, articles, page_size=sizes.page_size)
        listed = {a.article_id: a.title for a in articles}
        configs: dict[str, Path] = {}
        fill_s = 0.0
        for name, extra in (("empty", 0), ("large", sizes.large_state_rows)):
            folder = workdir / name
            data = config_for(server, folder / "output", folder / "state", **CRAWL)
            data["sources"]["eastmoney"]["page_size"] = sizes.page_size
            configs[name] = write_config(folder, data)
            seconds = fill(folder / "state" / "wiremirror.sqlite3", listed, extra)
            fill_s = max(fill_s, seconds)
        runs: dict[str, list[ChildRun]] = {"empty": [], "large": []}
        requests: dict[str, list[str]] = {}
        for _ in range(max(1, sizes.repeats)):
            for name in ("empty", "large"):  # interleaved, so drift hits both alike
                server.clear_requests()
                runs[name].append(_crawl(configs[name]))
                requests[name] = [r.path for r in server.requests]
    cpu = {name: best(r, "cpu_s") for name, r in runs.items()}
    rss = {name: best(r, "peak_rss_mb") for name, r in runs.items()}
    peak = max(r.peak_rss_mb for r in runs["large"])
    large_requests = requests["large"]
    result.checks.append(
        Check("peak RSS, large ÷ small store", round(rss["large"] / rss["empty"], 2), "<=", MAX_RATIO)
    )
    result.checks.append(
        Check(
            f"CPU time, large ÷ small store (best of {sizes.repeats})",
            round(cpu["large"] / cpu["empty"], 2),
            "<=",
            MAX_RATIO,
        )
    )
    result.checks.append(
        Check(
            "list requests (large store)",
            sum(p.startswith(LIST_PATH) for p in large_requests),
            "<=",
            1,
            "requests",
        )
    )
    result.checks.append(
        Check(
            "article fetches (large store)",
            sum(p.startswith(TEXT_PATH) for p in large_requests),
            "<=",
            0,
            "requests",
        )
    )
    result.ratios["large ÷ empty wall time (best)"] = round(
        best(runs["large"], "wall") / best(runs["empty"], "wall"), 2
    )
    db = workdir / "large" / "state" / "wiremirror.sqlite3"
    result.context = {
        "known_articles": sizes.large_state_rows + len(listed),
        "db_mb": round(db.stat().st_size / 2**20, 1),
        "fill_s": round(fill_s, 1),
        "empty_wall_s": [round(r.wall, 3) for r in runs["empty"]],
        "empty_cpu_s": [round(r.cpu_s, 3) for r in runs["empty"]],
        "large_cpu_s": [round(r.cpu_s, 3) for r in runs["large"]],
        "large_wall_s": [round(r.wall, 3) for r in runs["large"]],
        "empty_peak_rss_mb": round(max(r.peak_rss_mb for r in runs["empty"]), 1),
        "large_peak_rss_mb": round(peak, 1),
        "requests_large": large_requests,
    }
    return result

"""``archive rebuild`` and ``archive verify`` throughput, as real CLI subprocesses on synthetic archives."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bench.archive_data import known_articles, write_captures, write_short_captures
from bench.bigarchive import stamp_archive
from bench.common import BenchResult, Check, ChildRun, cli, run_child, write_config
from bench.loopdata import config_for
from bench.render import disk_ceiling
from bench.sizes import Sizes

REBUILD_TARGET = 1000.0
# verify: memory must not grow with the archive (10 % for the scratch index's page cache and the
# allocator), nor the time per post (a per-post cost that grows shows as a falling rate).
VERIFY_MAX_MB = 200.0
VERIFY_MAX_GROWTH = 1.10
VERIFY_MIN_RATE_RATIO = 0.8
NOWHERE = "http://127.0.0.1:9"  # the archive commands never touch the network; URLs only shape items


def _posts(output: Path) -> int:
    folder = output / "_posts"
    return sum(1 for _ in folder.glob("*.md")) if folder.is_dir() else 0


def _archive(config: Path, *args: str) -> ChildRun:
    return run_child(cli("archive", *args, "--config", str(config)), timeout=3600)


def rebuild(sizes: Sizes, workdir: Path) -> BenchResult:
    n = sizes.rebuild_posts
    result = BenchResult(
        "rebuild",
        f"posts/s for `archive rebuild` of {n:,} captured articles",
        f"≥ {REBUILD_TARGET:,.0f} posts/s",
    )
    output, state = workdir / "output", workdir / "state"
    config = write_config(workdir, config_for(NOWHERE, output, state))
    records = write_captures(state, n, NOWHERE + "/NewsData/GetNewsText.do?id={id}")
    known_articles(state / "wiremirror.sqlite3", n)  # known, but no post on disk: rebuild restores them

    first = _archive(config, "rebuild")
    restored = _posts(output)
    second = _archive(config, "rebuild")  # nothing changed: every post compared, none written
    for run in (first, second):
        if run.returncode != 0:
            raise RuntimeError(f"archive rebuild exited {run.returncode}: {run.stderr[-2000:]}")
    writing_rate = restored / first.wall
    unchanged_rate = n / second.wall
    # the same number of post-sized files created, fsynced and renamed: what the disk allows
    sample = next((output / "_posts").glob("*.md")).read_bytes()
    ceiling = disk_ceiling([sample] * n, workdir / "ceiling")
    result.checks.append(Check("posts written", restored, ">=", n, "posts"))
    result.checks.append(
        Check("rebuild writing every post", round(writing_rate), ">=", REBUILD_TARGET, "posts/s")
    )
    result.ratios["rebuild ÷ target"] = round(writing_rate / REBUILD_TARGET, 2)
    result.ratios["unchanged rebuild ÷ writing rebuild"] = round(unchanged_rate / writing_rate, 2)
    result.ratios["rebuild ÷ disk's own ceiling (files/s)"] = round(writing_rate / ceiling, 2)
    memory = rebuild_memory(sizes, workdir / "memory")
    result.checks += memory.checks
    result.ratios.update(memory.ratios)
    result.context = {
        "memory": memory.context,
        "captured_responses": records,
        "disk_ceiling_files_per_s": round(ceiling),
        "writing": {
            "wall_s": round(first.wall, 2),
            "peak_rss_mb": round(first.peak_rss_mb, 1),
            "posts_per_s": round(writing_rate),
        },
        "unchanged": {
            "wall_s": round(second.wall, 2),
            "peak_rss_mb": round(second.peak_rss_mb, 1),
            "posts_per_s": round(unchanged_rate),
            "summary": _counts(second.stdout),
        },
    }
    return result


MEMORY_TARGET_MB = 300.0


def rebuild_memory(sizes: Sizes, workdir: Path) -> BenchResult:
    """The rebuild's peak RSS at two archive sizes ten times apart: it must not grow with the archive.

    The cheap mode that still streams every capture: none of the articles is known to the state
    store, so each capture is read, replayed through the spider's callback and remembered as seen
    (on disk past a limit), then left out before any cleaning or rendering.
    """
    small, large = sizes.rebuild_memory_captures
    result = BenchResult(
        "rebuild memory",
        f"peak RSS of `archive rebuild` over {small:,} and {large:,} captures",
        f"≤ {MEMORY_TARGET_MB:,.0f} MB at both, the same at both",
    )
    peaks: dict[int, float] = {}
    for count in (small, large):
        folder = workdir / str(count)
        output, state = folder / "output", folder / "state"
        config = write_config(folder, config_for(NOWHERE, output, state))
        write_short_captures(state, count, NOWHERE + "/NewsData/GetNewsText.do?id={id}")
        run = _archive(config, "rebuild")
        if run.returncode != 0:
            raise RuntimeError(f"archive rebuild exited {run.returncode}: {run.stderr[-2000:]}")
        counts = _counts(run.stdout)
        peaks[count] = run.peak_rss_mb
        result.checks.append(
            Check(f"captures replayed of {count:,}", counts.get("article responses", 0), ">=", count)
        )
        result.checks.append(
            Check(f"peak RSS at {count:,} captures", round(run.peak_rss_mb, 1), "<=", MEMORY_TARGET_MB, "MB")
        )
        result.context[f"{count}_captures"] = {
            "wall_s": round(run.wall, 2),
            "peak_rss_mb": round(run.peak_rss_mb, 1),
            "captures_per_s": round(count / run.wall),
        }
        shutil.rmtree(folder, ignore_errors=True)  # a million captures take a gigabyte
    result.ratios[f"peak RSS {large:,} ÷ {small:,} captures"] = round(peaks[large] / peaks[small], 2)
    return result


def verify(sizes: Sizes, workdir: Path) -> BenchResult:
    """`archive verify` over a small and a large archive (the large one is the small one plus more
    posts): its peak memory must not grow with the archive, nor its time per post."""
    from crawler.site import write_category_pages
    from crawler.state import StateStore

    small, large = sizes.verify_posts, sizes.verify_large_posts
    result = BenchResult(
        "verify",
        f"`archive verify` over {small:,} and {large:,} posts: peak memory and posts/s",
        f"≤ {VERIFY_MAX_MB:.0f} MB at {large:,} posts; memory independent of archive size",
    )
    output, state = workdir / "output", workdir / "state"
    config = write_config(workdir, config_for(NOWHERE, output, state))
    db = state / "wiremirror.sqlite3"
    runs: dict[int, ChildRun] = {}
    for first, count in ((0, small), (small, large - small)):
        stamp_archive(output, db, count, first=first)
        with StateStore(db) as store:
            write_category_pages(store, output)
        run = _archive(config, "verify")
        if _checked(run.stdout) != first + count or run.returncode != 0:
            raise RuntimeError(
                f"archive verify of a clean archive: {run.stdout[-1500:]} {run.stderr[-1500:]}"
            )
        runs[first + count] = run
    rss = {n: run.peak_rss_mb for n, run in runs.items()}
    rate = {n: n / run.wall for n, run in runs.items()}
    result.checks.append(
        Check(
            f"peak RSS, {large:,} ÷ {small:,} posts",
            round(rss[large] / rss[small], 2),
            "<=",
            VERIFY_MAX_GROWTH,
        )
    )
    result.checks.append(
        Check(f"peak RSS at {large:,} posts", round(rss[large], 1), "<=", VERIFY_MAX_MB, "MB")
    )
    result.checks.append(
        Check(
            f"posts/s, {large:,} ÷ {small:,} posts",
            round(rate[large] / rate[small], 2),
            ">=",
            VERIFY_MIN_RATE_RATIO,
        )
    )
    result.ratios[f"peak RSS {large:,} ÷ {small:,}"] = round(rss[large] / rss[small], 2)
    result.context = {
        str(n): {
            "wall_s": round(run.wall, 2),
            "cpu_s": round(run.cpu_s, 2),
            "peak_rss_mb": round(run.peak_rss_mb, 1),
            "posts_per_s": round(rate[n]),
            "summary": _counts(run.stdout),
        }
        for n, run in runs.items()
    }
    return result


_ROW = re.compile(r"^[│|]\s*(?P<what>[^│|]+?)\s*[│|]\s*(?P<n>\d+)\s*[│|]\s*$")


def _counts(stdout: str) -> dict[str, int]:
    """The summary table's rows (what → count) from the command's output."""
    out: dict[str, int] = {}
    for line in stdout.splitlines():
        match = _ROW.match(line.strip())
        if match:
            out[match["what"]] = int(match["n"])
    return out


def _checked(stdout: str) -> int:
    counts = _counts(stdout)
    return next((v for k, v in counts.items() if "checked" in k), 0)

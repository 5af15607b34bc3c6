"""How big each benchmark is: the issue's sizes for ``make bench``, tiny ones for ``--quick`` (CI)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Sizes:
    nochange_articles: int = 500  # Eastmoney articles upstream (10 list pages of 50)
    nochange_chinanews: int = 60
    nochange_archive_posts: int = 100_000  # older posts on disk in the large-archive no-change run
    page_size: int = 50
    latency: float = 0.05  # seconds per answer in the "with upstream latency" variant
    throughput_articles: int = 2000  # the issue: 2,000 new articles against a bare Scrapy spider
    scrapy_bench_seconds: int = 10  # scrapy bench's own CLOSESPIDER_TIMEOUT
    render_posts: int = 2000
    rebuild_posts: int = 20_000
    verify_posts: int = 100_000
    verify_large_posts: int = 300_000  # verify's memory there against verify_posts (--million: 1,000,000)
    rebuild_memory_captures: tuple[int, int] = (30_000, 300_000)  # rebuild's memory, small vs large
    large_state_rows: int = 1_000_000
    startup_posts: int = 20_000  # posts on disk while start-up is timed
    repeats: int = 3  # timed repetitions where a benchmark takes the best of several
    nochange_repeats: int = 5  # alternating no-change runs per archive (about a second each)
    site_posts: tuple[int, ...] = (2000, 20_000)  # site builds (bench.site), compared; new post at the last
    site_search_posts: int = 2000  # Pagefind over this many (one of site_posts)
    revisions_known: int = 1000  # known articles upstream in the recheck run (50 of them due)


FULL = Sizes()
# `make bench-million`: the memory rows at the 1,000,000 posts and captures (about 15 minutes more);
# `make bench` measures the same growth over 10× at sizes that keep it within 10 minutes.
MILLION = Sizes(verify_large_posts=1_000_000, rebuild_memory_captures=(100_000, 1_000_000))
QUICK = Sizes(
    nochange_articles=12,
    nochange_chinanews=4,
    nochange_archive_posts=50,
    page_size=5,
    latency=0.0,
    throughput_articles=20,
    scrapy_bench_seconds=2,
    render_posts=20,
    rebuild_posts=10,
    verify_posts=30,
    verify_large_posts=90,
    rebuild_memory_captures=(50, 500),
    large_state_rows=2000,
    startup_posts=10,
    repeats=1,
    nochange_repeats=1,
    site_posts=(20, 40),
    site_search_posts=20,
    revisions_known=20,
)

"""How big each benchmark is: the issue's sizes for ``make bench``, tiny ones for the smoke test."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Sizes:
    nochange_articles: int = 500  # Eastmoney articles upstream (10 list pages of 50)
    nochange_chinanews: int = 60
    page_size: int = 50
    latency: float = 0.05  # seconds per answer in the "with upstream latency" variant
    throughput_articles: int = 5000
    scrapy_bench_seconds: int = 10  # scrapy bench's own CLOSESPIDER_TIMEOUT
    render_posts: int = 4000
    rebuild_posts: int = 20_000
    verify_posts: int = 100_000
    large_state_rows: int = 1_000_000
    startup_posts: int = 20_000  # posts on disk while start-up is timed
    repeats: int = 3  # timed repetitions where a benchmark takes the best of several
    site_posts: tuple[int, ...] = (1000, 10_000, 100_000)  # site builds (bench.site); new post at the last
    site_search_posts: int = 10_000  # Pagefind over this many (one of site_posts)


FULL = Sizes()
SMOKE = Sizes(
    nochange_articles=12,
    nochange_chinanews=4,
    page_size=5,
    latency=0.0,
    throughput_articles=20,
    scrapy_bench_seconds=2,
    render_posts=20,
    rebuild_posts=10,
    verify_posts=30,
    large_state_rows=2000,
    startup_posts=10,
    repeats=1,
    site_posts=(20, 40),
    site_search_posts=20,
)

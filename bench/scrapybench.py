"""``scrapy bench``, bound to 127.0.0.1: Scrapy's own bench spider against Scrapy's own bench server.

``scrapy bench`` starts ``scrapy.utils.benchserver`` with ``listenTCP(8998, site)``, which listens
on every interface. The benchmarks never open a port beyond loopback, so this runs the very same
server resource (``benchserver.Root``) and spider (``commands.bench._BenchSpider``) with the same
settings (LOGSTATS_INTERVAL=1, CLOSESPIDER_TIMEOUT), the server in its own process as scrapy
bench does, listening on 127.0.0.1 and a free port.

``python -m bench.scrapybench [SECONDS]`` prints one JSON line: pages, elapsed, pages/s.

``python -m bench.scrapybench --bare CONFIG URLS`` is the crawl benchmark's reference: a bare
Scrapy spider fetching the URLs listed in the file URLS (one a line: the very requests a
``wiremirror crawl`` made) with the Scrapy settings that crawl's ``[crawl]`` section gives
(crawler.runtime.scrapy_settings_for, the same engine defaults) and nothing else: no pipelines,
no middlewares of ours, responses dropped. Prints one JSON line: pages, elapsed, pages/s.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

PAGERATE = "pagerate"


def serve() -> None:
    """The bench server: scrapy.utils.benchserver.Root on 127.0.0.1, port printed on stdout."""
    from scrapy.utils.benchserver import Root
    from twisted.internet import reactor as _reactor
    from twisted.web.server import Site

    reactor: Any = _reactor
    site: Any = Site(Root())  # type: ignore[no-untyped-call]
    port: Any = reactor.listenTCP(0, site, interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()


class _RateLog(logging.Handler):
    """Collects the per-interval pages/min that LogStats logs every LOGSTATS_INTERVAL."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, dict) and PAGERATE in args:
            self.rates.append(float(args[PAGERATE]))


def bench(seconds: int) -> dict[str, Any]:
    from scrapy.commands.bench import _BenchSpider
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "bench.scrapybench", "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        settings = Settings()
        settings.setdict({"LOG_LEVEL": "INFO", "LOGSTATS_INTERVAL": 1, "CLOSESPIDER_TIMEOUT": seconds})
        process = CrawlerProcess(settings)
        rates = _RateLog()  # after CrawlerProcess: its logging set-up clears handlers of scrapy.*
        logging.getLogger("scrapy.extensions.logstats").addHandler(rates)
        crawler = process.create_crawler(_BenchSpider)
        process.crawl(crawler, total=100000, baseurl=f"http://127.0.0.1:{port}")
        process.start()
    finally:
        server.kill()
        server.wait()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    pages = int(stats.get("response_received_count", 0))
    elapsed = float(stats.get("elapsed_time_seconds", 0.0)) or 1.0
    steady = [r / 60 for r in rates.rates[1:]] or [pages / elapsed]
    return {
        "pages": pages,
        "elapsed_s": round(elapsed, 3),
        "pages_per_s": round(pages / elapsed, 1),
        "steady_pages_per_s": round(statistics.median(steady), 1),
        "logstats_pages_per_min": rates.rates,
        "finish_reason": stats.get("finish_reason"),
    }


def bare(config_path: str, urls_path: str) -> dict[str, Any]:
    """Fetch every URL of ``urls_path`` with the settings of ``config_path``'s crawl; its numbers."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    from crawler import settings as project
    from crawler.config import load_config
    from crawler.runtime import scrapy_settings_for

    urls = [line for line in Path(urls_path).read_text(encoding="utf-8").splitlines() if line]
    engine = {
        key: getattr(project, key)
        for key in (
            "TWISTED_REACTOR",
            "REQUEST_FINGERPRINTER_IMPLEMENTATION",
            "COOKIES_ENABLED",
            "RETRY_HTTP_CODES",
            "METAREFRESH_ENABLED",
            "DNS_TIMEOUT",
            "TELNETCONSOLE_ENABLED",
        )
    }
    crawl = {k: v for k, v in scrapy_settings_for(load_config(config_path)).items() if k.isupper()}
    crawl.pop("WIREMIRROR_CONFIG", None)
    crawl.pop("LOOPBACK_ONLY", None)

    class BareSpider(scrapy.Spider):
        name = "bare"

        async def start(self) -> Any:
            for url in urls:
                yield scrapy.Request(url, callback=self.parse, dont_filter=True)

        def parse(self, response: Any) -> None:
            return None

    process = CrawlerProcess({**engine, **crawl, "LOG_LEVEL": "WARNING"})
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    pages = int(stats.get("response_received_count", 0))
    elapsed = float(stats.get("elapsed_time_seconds", 0.0)) or 1.0
    return {
        "pages": pages,
        "elapsed_s": round(elapsed, 3),
        "pages_per_s": round(pages / elapsed, 1),
        "urls": len(urls),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--serve":
        serve()
        return 0
    if args and args[0] == "--bare":
        print(json.dumps(bare(args[1], args[2])))
        return 0
    seconds = int(args[0]) if args else 10
    print(json.dumps(bench(seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

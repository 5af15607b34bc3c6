"""Scrapy settings for wiremirror.

Politeness and limits come from ``[crawl]`` in wiremirror.toml (see crawler.runtime); this module
is the only place that reads the environment for Scrapy (``WIREMIRROR_CONFIG`` names the file).
"""

from __future__ import annotations

import os

from crawler import sources
from crawler.config import load_config
from crawler.runtime import scrapy_settings_for

BOT_NAME = "wiremirror"
# Each registered source brings its spider (crawler.sources); a new source edits nothing here.
SPIDER_MODULES = sorted({source.spider.partition(":")[0] for source in sources.registry().values()})
NEWSPIDER_MODULE = "crawler.sources"

# Scrapy 2.13+ defaults, stated so they don't move under us.
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # Scrapy 2.19's control server: one more listener nobody here uses
COOKIES_ENABLED = False
RETRY_ENABLED = True
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
HTTPERROR_ALLOW_ALL = False
REDIRECT_MAX_TIMES = 5
MEDIA_ALLOW_REDIRECTS = True  # image CDNs redirect; Scrapy's media pipelines refuse redirects by default
# A <meta http-equiv=refresh> inside an upstream page (or a hostile body) must not send the
# crawler to another site; real article pages never need it.
METAREFRESH_ENABLED = False
DNS_TIMEOUT = 20
# Scrapy (2.13+) starts CONCURRENT_ITEMS asyncio tasks for the output of every response, 100 by
# default. An article response yields one item and a list page a few dozen requests, so 8 loses
# nothing and spares the reactor ~200,000 idle tasks per 2,000 articles (15 % of a crawl's CPU).
CONCURRENT_ITEMS = 8
LOG_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"

ITEM_PIPELINES = {
    "pipelines.retraction.RetractionPipeline": 50,  # rechecks that found an article withdrawn
    "pipelines.validate.ValidateArticlePipeline": 100,
    "pipelines.clean.CleanArticlePipeline": 200,
    "pipelines.identity.IdentityPipeline": 300,
    "pipelines.images.ArticleImagesPipeline": 350,  # NotConfigured unless [images] download = true
    "pipelines.category.CategoryPipeline": 400,
    "pipelines.jekyll.JekyllPostPipeline": 800,
}
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.loopbackguard.LoopbackGuardMiddleware": 50,
    # after decompression (590) in the response path: keeps the final response the spider gets
    "crawler.middlewares.capture.CaptureMiddleware": 60,
    # Scrapy's retry, plus Retry-After honoured on 429/503 (same slot: 550)
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.retryafter.RetryAfterMiddleware": 550,
    # sees responses before the retry middleware: a block is a failure, never retried at once
    "crawler.middlewares.challenge.ChallengeMiddleware": 560,
    # sees 3xx before RedirectMiddleware (600): a loop fails loudly instead of being dropped
    "crawler.middlewares.redirectloop.RedirectLoopMiddleware": 610,
}
EXTENSIONS = {
    "crawler.extensions.runrecord.RunRecorder": 500,
}

_config = load_config()
globals().update(scrapy_settings_for(_config))
# Belt and braces for test runs: any crawl started with this variable set stays on 127.0.0.1.
if os.environ.get("WIREMIRROR_LOOPBACK_ONLY") == "1":
    LOOPBACK_ONLY = True

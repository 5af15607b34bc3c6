"""Shared by the archive and site-build tests: a site in tmp_path filled through the real crawl pipelines.

Items go through exactly the pipeline classes a crawl uses (``crawler.settings.ITEM_PIPELINES`` in
order, built with ``from_crawler``), so the posts on disk are what a crawl would write.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.test import get_crawler

from crawler.config import Config, parse_config
from crawler.items import ArticleItem
from crawler.sources.chinanews import articles as chinanews
from crawler.sources.eastmoney import extract as eastmoney
from crawler.state import StateStore
from crawler.timeutil import now_beijing, parse_beijing
from tests.conftest import run_stage

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHINANEWS_PAGE = FIXTURES / "chinanews" / "article_2020-07-04_ll_9229287_left-t-template.html"
CHINANEWS_URL = "https://www.chinanews.com.cn/ll/2020/07-04/9229287.shtml"
EASTMONEY_FRAGMENT = FIXTURES / "eastmoney" / "clean-real-nw202204082336871455" / "input.html"


def make_config(root: Path, **sections: dict[str, Any]) -> Config:
    data: dict[str, Any] = {"output": {"dir": str(root / "output")}, "state": {"dir": str(root / "state")}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return parse_config(data, base_dir=str(root))


def write_toml(root: Path, config: Config) -> Path:
    """A wiremirror.toml for the CLI tests with the same output/state folders."""
    path = root / "wiremirror.toml"
    path.write_text(
        f'[output]\ndir = "{config.output_dir}"\narchive_dir = "{config.output.archive_dir}"\n'
        f'[state]\ndir = "{config.state_dir}"\n',
        encoding="utf-8",
    )
    return path


class Crawl:
    """The crawl's item pipelines, in order, on one crawler (and so one state store)."""

    def __init__(self, config: Config) -> None:
        from crawler import settings

        self.crawler = get_crawler(settings_dict={"WIREMIRROR_CONFIG": config})
        self.stages = []
        enabled = sorted(
            (order, path) for path, order in settings.ITEM_PIPELINES.items() if order is not None
        )
        for _, dotted in enabled:
            module, name = dotted.rsplit(".", 1)
            try:
                self.stages.append(getattr(import_module(module), name).from_crawler(self.crawler))
            except NotConfigured:
                continue  # switched off by the config, as in a crawl (e.g. image download)
        assert [type(s).__name__ for s in self.stages][-1] == "JekyllPostPipeline"

    def feed(self, item: ArticleItem) -> bool:
        """True when the item made it through every pipeline."""
        try:
            for stage in self.stages:
                item = run_stage(stage, item)
        except DropItem:
            return False
        return True

    @property
    def state(self) -> StateStore:
        from crawler.runtime import get_state

        return get_state(self.crawler)

    def close(self) -> None:
        self.state.close()


def eastmoney_item(
    article_id: str,
    *,
    title: str,
    published: datetime,
    media: str = "上海证券报",
    body_html: str | None = None,
    fetched_at: datetime | None = None,
) -> ArticleItem:
    """An Eastmoney item through the real GetNewsText extractor (the real fragment unless ``body_html``)."""
    body = body_html if body_html is not None else EASTMONEY_FRAGMENT.read_text(encoding="utf-8")
    entry = eastmoney.ListEntry(
        article_id=article_id,
        info_code=f"NW{article_id}",
        title=title,
        published=published,
        media=media,
        summary="",
        url=f"https://finance.eastmoney.com/a/{article_id}.html",
        feed="columns",
    )
    item = eastmoney.extract_text_payload(json.dumps({"text": body}), entry, url=entry.url)
    assert item is not None
    item.fetched_at = fetched_at or now_beijing()
    if media:
        item.share_url = f"http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW{article_id}"
    return item


def chinanews_item(
    *,
    title: str | None = None,
    published: datetime | None = None,
    body_html: str | None = None,
    article_id: str | None = None,
) -> ArticleItem:
    """The real 中国新闻网 fixture page through the real extractor, optionally with hostile overrides."""
    item = chinanews.extract_article(CHINANEWS_PAGE.read_text(encoding="utf-8"), url=CHINANEWS_URL)
    changes: dict[str, Any] = {"fetched_at": now_beijing()}
    if title is not None:
        changes["title"] = title
    if published is not None:
        changes["published"] = published
    if body_html is not None:
        changes["body_html"] = body_html
    if article_id is not None:
        changes["article_id"] = article_id
    return replace(item, **changes)


def days_ago(days: int, hour: int = 12) -> datetime:
    """``hour`` o'clock on the Beijing day ``days`` ago, but never later than now.

    ``days_ago(0)`` before noon would otherwise be a future time, which the validator rightly
    rejects; clamping to the current second keeps it on today's date at any hour.
    """
    now = now_beijing().replace(microsecond=0)
    day = (now - timedelta(days=days)).date()
    at_hour = parse_beijing(f"{day.isoformat()} {hour:02d}:00:00")
    assert at_hour is not None
    return min(at_hour, now)


def text_of(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed (entities decoded)."""
    from lxml import html as lxml_html

    if not fragment.strip():
        return ""
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    return " ".join(html.unescape(root.text_content()).split())


# -- jekyll ------------------------------------------------------------------------------------


def require_jekyll() -> str:
    """The jekyll command; in CI (``$CI`` set) its absence is a failure, locally a skip."""
    found = shutil.which("jekyll")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("jekyll is not installed but CI is set: install the jekyll and ruby-jekyll-feed packages")
    pytest.skip("jekyll is not on PATH")
    raise AssertionError("unreachable")


def jekyll_build(site: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    jekyll = require_jekyll()
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "JEKYLL_ENV": "production"}
    return subprocess.run(
        [jekyll, "build", "--safe", "--source", str(site), "--destination", str(dest)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )

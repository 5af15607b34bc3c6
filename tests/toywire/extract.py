"""The toy wire's pages: a JSON list and one HTML template. Pure functions, parsel for the HTML."""

from __future__ import annotations

import json
from typing import Any

from parsel import Selector

from crawler.items import ArticleItem
from crawler.sources.common import ExtractionError
from crawler.timeutil import parse_beijing


def parse_list(text: str) -> list[dict[str, str]]:
    try:
        items = json.loads(text)["items"]
    except (ValueError, KeyError, TypeError) as err:
        raise ExtractionError(f"not a toywire list: {err}") from None
    return [{k: str(v) for k, v in entry.items()} for entry in items if isinstance(entry, dict)]


def extract_article(html: str, *, article_id: str, url: str, entry: dict[str, Any]) -> ArticleItem:
    page = Selector(text=html)
    title = page.css("h1::text").get("").strip()
    when = page.css("p.time::text").get("").strip()
    body = page.css("div.body").get()
    if not title or not when or body is None:
        raise ExtractionError("title, time or body missing")
    return ArticleItem(
        source="toywire",
        article_id=article_id,
        title=title,
        published=parse_beijing(when),
        body_html=body,
        url=url,
        media=str(entry.get("media") or ""),
        summary=str(entry.get("summary") or ""),
    )

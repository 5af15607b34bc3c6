"""中国新闻网 article pages (Template A, Template B, video) → items, and multi-page merging."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from crawler.items import ArticleItem
from crawler.sources.chinanews.lists import ListEntry, plain_text
from crawler.sources.chinanews.page import (
    AUTHOR_LINE,
    WHITESPACE,
    clean_name,
    first,
    inner_html,
    input_value,
    is_soft_404,
    meta_content,
    origin_from_line,
    parse_html,
    text_of,
)
from crawler.sources.chinanews.urls import (
    DEFAULT_BASE_URL,
    MEDIA,
    SOURCE,
    article_id_from_url,
    canonical_url,
    classify_url,
    item_id_from_url,
    page_number,
    resolve_link,
)
from crawler.sources.common import ExtractionError, NotAnArticle, SoftNotFound
from crawler.timeutil import parse_beijing, to_beijing

_TITLE_SUFFIX = re.compile(r"\s*-\s*中新网(?:视频)?\s*$")

_CLOCK = re.compile(r"(?P<H>\d{1,2}):(?P<M>\d\d)(?::(?P<S>\d\d))?")


def _title(doc: Any) -> str:
    """Scoped to the article container: the page's first <h1> is the floating header's."""
    el = first(
        doc,
        "h1.content_left_title",
        ".content_maincontent_more h1",
        "#cont_1_1_2 h1",
        ".content_title .title",
        "div.title0",
    )
    title = text_of(el)
    if not title:
        title = meta_content(doc, "og:title") or input_value(doc, "newstitle")
        title = _TITLE_SUFFIX.sub("", WHITESPACE.sub(" ", title)).strip()
    return title


def _published(doc: Any, time_line: str) -> datetime | None:
    """``#pubtime_baidu`` (seconds) → hidden ``newsdate``/``newstime`` → the visible time line.

    When only minutes are shown but ``newstime`` has seconds for the same minute, the seconds
    are taken from there.
    """
    newstime = _CLOCK.search(input_value(doc, "newstime"))
    candidates = [
        text_of(first(doc, "#pubtime_baidu")),
        f"{input_value(doc, 'newsdate')} {input_value(doc, 'newstime')}".strip(),
        time_line,
    ]
    for candidate in candidates:
        value = parse_beijing(candidate)
        if value is None:
            continue
        if newstime is not None and newstime["S"] and not re.search(r"\d:\d\d:\d\d", candidate):
            same_minute = (int(newstime["H"]), int(newstime["M"])) == (value.hour, value.minute)
            value = value.replace(second=int(newstime["S"])) if same_minute else value
        return value
    return None


def _editor(doc: Any) -> str:
    for selector in (
        ".adEditor",
        ".left_name.right span",
        ".content_editor span",
        "p.content_editor",
        ".content_editor",
        "#editor_baidu",
    ):
        name = clean_name(text_of(first(doc, selector)))
        if name:
            return name
    return input_value(doc, "editorname")


def _body_author(body: Any) -> str:
    for p in body.iter("p"):
        match = AUTHOR_LINE.match(text_of(p))
        if match:
            return match.group("name").strip()
    return ""


def extract_article(
    html: str, *, url: str, entry: ListEntry | None = None, base_url: str = DEFAULT_BASE_URL
) -> ArticleItem:
    """One article page (Template A, Template B or video) → an ArticleItem with raw body HTML.

    Raises SoftNotFound for 200-status "404" pages, NotAnArticle for URLs outside the mirrored
    id spaces, ExtractionError naming the missing field otherwise.
    """
    kind = classify_url(url)
    if kind == "other":
        raise NotAnArticle(f"url: not a 中国新闻网 article, video or photo page: {url}")
    doc = parse_html(html)
    if is_soft_404(doc):
        raise SoftNotFound(f"soft 404 page at {url}")
    item_id = item_id_from_url(url)
    if item_id is None:
        raise NotAnArticle(f"url: no id in {url}")
    scope = first(doc, ".content_maincontent_more", "#cont_1_1_2")
    body = first(scope, ".left_zw") if scope is not None else None
    if body is None:
        body = first(doc, ".left_zw", ".content_desc", "#ad0")
    if body is None:
        if kind == "photo":
            raise NotAnArticle(f"photo gallery without an article body: {url}")
        raise ExtractionError(f"body: no .left_zw / .content_desc at {url}")
    body_html = inner_html(body).strip()
    if not text_of(body) and not body.xpath(".//img"):
        raise ExtractionError(f"body: empty article body at {url}")

    title = _title(doc) or (entry.title if entry else "")
    if not title:
        raise ExtractionError(f"title: no title in the article container at {url}")

    time_el = first(doc, ".left-t", ".content_left_time")
    if time_el is None:  # video pages: <div class="left"><p>发布时间：… 来源：…</p>
        found = doc.xpath("//p[starts-with(normalize-space(.), '发布时间')]")
        time_el = found[0] if found else None
    time_line = re.sub(r"^发布时间\s*[:：]\s*", "", text_of(time_el))
    published = _published(doc, time_line) or (entry.published if entry else None)
    if published is None:
        raise ExtractionError(f"published: no publish time at {url}")

    origin = clean_name(text_of(first(doc, "#source_baidu"))) or origin_from_line(time_line)
    editor = _editor(doc)
    author = _body_author(body) or clean_name(text_of(first(doc, "#author_baidu")))
    if author == editor:  # #author_baidu often just repeats the editor
        author = ""
    for field_name, value in (("title", title), ("body", body_html)):
        if "\ufffd" in value:
            raise ExtractionError(f"{field_name}: U+FFFD in text (page decoded with the wrong charset?)")
    summary = entry.summary if entry and entry.summary else ""
    if not summary:
        description = meta_content(doc, "description")
        summary = "" if _TITLE_SUFFIX.sub("", description).strip() == title else plain_text(description)
    return ArticleItem(
        source=SOURCE,
        article_id=item_id,
        title=title,
        published=to_beijing(published),
        body_html=body_html,
        url=canonical_url(url, base_url=base_url),
        media=MEDIA,
        feed=entry.feed if entry else "",
        summary=summary,
        origin=origin,
        author=author,
        editor=editor,
    )


def page_urls(html: str, *, url: str, base_url: str) -> list[str]:
    """The other pages of a multi-page article (``{id}_{n}.shtml``), by page number.

    Read from the pager ``#function_code_page``; links to other articles and to the current
    page are ignored. A spider should union the results of every fetched page, in case a
    long pager shows only a window of page numbers.
    """
    doc = parse_html(html)
    article_id = article_id_from_url(url)
    if article_id is None:
        return []
    current = page_number(url)
    pages: dict[int, str] = {}
    for anchor in doc.cssselect("#function_code_page a[href]"):
        absolute = resolve_link(anchor.get("href", ""), page_url=url, base_url=base_url)
        if absolute is None or article_id_from_url(absolute) != article_id:
            continue
        number = page_number(absolute)
        if number != current and number not in pages:
            pages[number] = absolute
    return [pages[n] for n in sorted(pages)]


def merge_pages(first: ArticleItem, others: list[str]) -> ArticleItem:
    """One item whose raw body is page 1's followed by pages 2..n (pagers are removed later)."""
    if not others:
        return first
    return replace(first, body_html="\n".join([first.body_html, *others]))

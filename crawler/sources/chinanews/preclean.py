"""中国新闻网 body pre-pass: editor/author/source lines to front matter, page furniture out."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html

from crawler.sources.chinanews.page import AUTHOR_LINE, ORIGIN_LINE, clean_name, inner_html, text_of
from crawler.sources.common import CleanedBody

_LEADING_INDENT = re.compile(r"^[\s\u3000]+")
_INDENT = re.compile(r"\u3000{2,}")
_EDITOR_LINE = re.compile(
    r"^[\s\u3000]*[【\[]?\s*(?:责任编辑|编辑)\s*[:：]\s*[【\[]?\s*(?P<name>[^】\]]*?)\s*[】\]]*\s*$"
)


_JUNK_XPATH = (
    "//script | //style | //noscript | //iframe | //comment()"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' adInContent ')]"
    " | //*[@id='function_code_page'] | //*[@id='SOHUCS'] | //*[@id='zw_cyhd']"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' share ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' social-share ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' bdsharebuttonbox ')]"
    " | //*[starts-with(@id, 'share')]"
)
_EDITOR_XPATH = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' adEditor ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' left_name ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' content_editor ')]"
)
_BLOCKS = {"p", "div", "li", "td", "h2", "h3", "h4", "blockquote", "center"}


def _drop(el: Any) -> None:
    """Remove an element but keep its tail text (lxml's drop_tree does exactly that)."""
    if el.getparent() is not None:
        el.drop_tree()


def _strip_indents(root: Any) -> None:
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.text:
            el.text = _INDENT.sub("", el.text)
            if el.tag in _BLOCKS:
                el.text = _LEADING_INDENT.sub("", el.text)
        if el.tail:
            el.tail = _INDENT.sub("", el.tail)
            if el.tag == "br":
                el.tail = _LEADING_INDENT.sub("", el.tail)


def _absolute(value: str, base_url: str) -> str:
    """``//host/x`` → https; ``/x`` and ``x`` → against ``base_url`` (a site root or a page URL)."""
    value = value.strip()
    if value.startswith("//"):
        return "https:" + value
    base = base_url if urlsplit(base_url).path else base_url.rstrip("/") + "/"
    return urljoin(base, value)


def _absolutise(root: Any, base_url: str) -> None:
    for el in root.iter("img"):
        src = el.get("src") or el.get("data-src") or el.get("data-original") or ""
        if src:
            el.set("src", _absolute(src, base_url))
    for el in root.iter("a"):
        href = (el.get("href") or "").strip()
        if href and not href.startswith(("#", "javascript:", "mailto:")):
            el.set("href", _absolute(href, base_url))


def preclean_body(html: str, *, base_url: str) -> CleanedBody:
    """Site-specific pre-pass over the raw ``.left_zw`` / ``.content_desc`` HTML.

    Removes ad tables and their scripts, comments, the pager, share and comment widgets; moves
    the editor line (``.adEditor``, ``【编辑:X】``, ``责任编辑：【X】``), a standalone ``(作者：X)``
    line and a standalone ``来源：X`` line into fields; drops U+3000 indents; keeps images
    (absolute URLs) and their ``.pictext`` captions. nh3 runs after this, in the pipeline.
    """
    root = lxml_html.fragment_fromstring(html or "", create_parent="div")
    editor = author = origin = ""
    for el in root.xpath(_EDITOR_XPATH):
        if el.getparent() is None:
            continue
        editor = editor or clean_name(text_of(el))
        _drop(el)
    for el in root.xpath(_JUNK_XPATH):
        if el.getparent() is not None:
            _drop(el)
    for p in list(root.iter("p", "div", "span")):
        if p.getparent() is None or p.xpath(".//img"):
            continue
        text = text_of(p).replace("\u3000", " ").strip()
        if not text:
            continue
        for pattern, field_name in (
            (_EDITOR_LINE, "editor"),
            (AUTHOR_LINE, "author"),
            (ORIGIN_LINE, "origin"),
        ):
            match = pattern.match(text)
            if not match or len(text) > 60:
                continue
            name = match.group("name").strip()
            if field_name == "editor":
                editor = editor or name
            elif field_name == "author":
                author = author or name
            else:
                origin = origin or name
            _drop(p)
            break
    _strip_indents(root)
    _absolutise(root, base_url)
    for el in list(root.iter("p")):
        if el.getparent() is not None and not text_of(el) and len(el) == 0:
            _drop(el)
    out = inner_html(root).strip()
    return CleanedBody(html=out, origin=origin, editor=editor, author=author)

"""中国新闻网 pages as text and trees: charset decoding (GB2312 via gb18030) and the lxml helpers
the list and article extractors share.
"""

from __future__ import annotations

import codecs
import html as html_lib
import re
from typing import Any

from lxml import etree
from lxml import html as lxml_html

from crawler.sources.common import ExtractionError

XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


_SOFT_404_TITLES = ("404页面", "页面没有找到")
AUTHOR_LINE = re.compile(r"^[\s\u3000]*[（(]\s*作者\s*[:：]\s*(?P<name>[^）)]+?)\s*[）)]\s*$")
ORIGIN_LINE = re.compile(r"^[\s\u3000]*来源\s*[:：]\s*(?P<name>\S.*?)\s*$")
WHITESPACE = re.compile(r"\s+")


def decode_page(body: bytes, content_type: str | None) -> str:
    """Decode like Scrapy's TextResponse (header, BOM, meta; gb2312/gbk → gb18030).

    w3lib decodes with ``errors="replace"``, so a wrong charset would pass silently as U+FFFD;
    the strict re-decode turns that into an error instead of a post full of mojibake.
    """
    from w3lib.encoding import html_to_unicode

    encoding, text = html_to_unicode(content_type, body)
    try:
        codecs.decode(body, encoding, "strict")
    except (UnicodeDecodeError, LookupError) as exc:
        raise ExtractionError(f"encoding: body is not valid {encoding}: {exc}") from exc
    return str(text)


# --------------------------------------------------------------------------- helpers


def parse_html(text: str) -> Any:
    text = XML_DECL.sub("", text or "", count=1)
    if not text.strip():
        raise ExtractionError("html: empty page")
    try:
        return lxml_html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"html: unparseable page: {exc}") from exc


def text_of(el: Any) -> str:
    return WHITESPACE.sub(" ", el.text_content() if el is not None else "").strip()


def first(doc: Any, *selectors: str) -> Any:
    for selector in selectors:
        found = doc.cssselect(selector)
        if found:
            return found[0]
    return None


def input_value(doc: Any, element_id: str) -> str:
    found = doc.xpath(f'//input[@id="{element_id}"]/@value')
    return str(found[0]).strip() if found else ""


def meta_content(doc: Any, name: str) -> str:
    found = doc.xpath(f'//meta[@name="{name}" or @property="{name}"]/@content')
    return str(found[0]).strip() if found else ""


def inner_html(el: Any) -> str:
    parts = [html_lib.escape(el.text, quote=False)] if el.text else []
    parts.extend(lxml_html.tostring(child, encoding="unicode") for child in el)
    return "".join(parts)


def clean_name(value: str) -> str:
    """``责任编辑：【叶攀】`` / ``【编辑:陈海峰】 `` / ``作者：X`` → the bare name."""
    value = WHITESPACE.sub(" ", value.replace("\u3000", " ")).strip()
    value = re.sub(r"^(?:责任编辑|编辑|作者|来源)\s*[:：]\s*", "", value.strip("【】[] "))
    return value.strip("【】[] ").strip()


def origin_from_line(text: str) -> str:
    """``2020年07月04日 12:10　来源：求是网参与互动`` → ``求是网``."""
    match = re.search(r"来源\s*[:：]\s*(.*)$", text)
    if not match:
        return ""
    value = match.group(1).split("参与互动", 1)[0]
    value = re.split(r"[\u3000]|\s{2,}|作者\s*[:：]|编辑\s*[:：]", value.strip())[0]
    return value.strip()


def is_soft_404(doc: Any) -> bool:
    title = text_of(first(doc, "title"))
    if any(marker in title for marker in _SOFT_404_TITLES):
        return True
    return "404missing" in meta_content(doc, "keywords").lower()

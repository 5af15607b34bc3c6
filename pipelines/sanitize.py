"""Generic body sanitiser: lxml structure pass → nh3 allow-list → line-per-block, inert HTML.

Used for every source after its site-specific pre-pass. The output goes into ``.md`` posts, so it
must be safe for the browser (nh3), for kramdown and for Liquid. Sanitised HTML is not enough on
its own there: kramdown parses as Markdown whatever is not inside an HTML block, and parses Markdown
inside span elements. So every line of the output starts with a block element, and every text node
is written with :func:`inert_text`, which turns each character that Markdown, kramdown's extensions
or Liquid give a meaning to into its numeric entity — the browser shows the same text, and neither
kramdown nor Liquid sees syntax in it.
"""

from __future__ import annotations

import html as htmllib
import logging
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html

from crawler.postformat import inert_text, liquid_escape

logger = logging.getLogger(__name__)

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "h2", "h3", "h4", "strong", "b", "em", "i", "u", "sub", "sup", "blockquote",
        "ul", "ol", "li", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
        "figure", "figcaption", "img", "a", "hr",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "img": {"src", "alt", "title", "width", "height"},
    "a": {"href", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
LINK_REL = "nofollow noopener noreferrer"
URL_SCHEMES = frozenset({"http", "https"})

# Removed together with their content, before and inside nh3.
_DROP_WITH_CONTENT = frozenset(
    {
        "script", "noscript", "style", "template", "iframe", "frame", "frameset", "object", "embed",
        "applet", "form", "input", "button", "select", "textarea", "option", "svg", "math", "canvas",
        "link", "meta", "base", "head", "title", "audio", "video", "source", "track", "map", "dialog",
    }
)  # fmt: skip
# Block-level tags of the output: each starts on its own line.
_BLOCK = frozenset(
    {
        "p", "h2", "h3", "h4", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tfoot",
        "tr", "th", "td", "caption", "figure", "figcaption", "hr",
    }
)  # fmt: skip
# Non-allowed containers: become <p> when they hold only inline content, are unwrapped otherwise.
_CONTAINERS = frozenset(
    {
        "div", "section", "article", "main", "header", "footer", "aside", "nav", "center", "address",
        "details", "summary", "pre", "dl", "dt", "dd", "body", "html", "fieldset", "hgroup", "h1", "h5", "h6",
    }
)  # fmt: skip
_STRUCTURAL = _BLOCK | _CONTAINERS
_RENAME = {"h1": "h2", "h5": "h4", "h6": "h4"}
_VOID = frozenset({"br", "img", "hr"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_WS = re.compile(r"[ \t\n\r\f\v]+")
_EDGE = " \t\n\r\f\v\u3000\xa0"


def _els(node: Any, path: str) -> list[lxml_html.HtmlElement]:
    result = node.xpath(path)
    if not isinstance(result, list):
        return []
    return [el for el in result if isinstance(el, lxml_html.HtmlElement)]


def _absolute(value: str, base_url: str) -> str:
    value = value.strip()
    if not value or not base_url:
        return value
    try:
        return urljoin(base_url, value)
    except ValueError:
        return ""


def _is_block(node: Any) -> bool:
    return isinstance(node, lxml_html.HtmlElement) and node.tag in _STRUCTURAL


def _wrap_inline_runs(parent: lxml_html.HtmlElement, *, images_too: bool) -> None:
    """Wrap runs of loose text/inline children of a block container into <p>.

    Keeps kramdown from seeing bare text lines and nh3 from gluing text of sibling blocks together.
    """
    if not any(_is_block(child) for child in parent) and parent.getparent() is not None:
        return
    runs: list[list[Any]] = []  # each run: [leading text or None, inline children...]
    current: list[Any] = [parent.text]
    parent.text = None
    for child in list(parent):
        if _is_block(child):
            runs.append(current)
            current = [child.tail]
            child.tail = None
            runs.append([None, child])
        else:
            current.append(child)
    runs.append(current)

    for child in list(parent):
        parent.remove(child)
    for run in runs:
        text, items = run[0], run[1:]
        if len(items) == 1 and _is_block(items[0]):
            parent.append(items[0])
            continue
        has_text = bool((text or "").strip(_EDGE)) or any(
            (el.text_content() or "").strip(_EDGE) or (el.tail or "").strip(_EDGE) for el in items
        )
        has_image = any(
            el.tag == "img" or _els(el, ".//img") for el in items if isinstance(el, lxml_html.HtmlElement)
        )
        if not (has_text or (images_too and has_image)):
            continue
        para = lxml_html.Element("p")
        para.text = text
        for el in items:
            para.append(el)
        parent.append(para)


def _structure(root: lxml_html.HtmlElement, base_url: str) -> None:
    """The lxml pass before nh3: drop dangerous/hidden nodes, map containers to blocks, fix URLs."""
    for comment in root.xpath(".//comment() | .//processing-instruction()"):
        if comment.getparent() is not None:
            comment.drop_tree()
    # libxml2 parses HTML5 void elements it does not know (embed, source, track, wbr) as containers
    # of everything after them; dropping them with their "content" would drop the article's rest.
    for el in _els(root, ".//embed | .//source | .//track | .//wbr | .//keygen"):
        el.drop_tag()
    for el in _els(root, ".//*"):
        if el.getparent() is None:
            continue
        hidden = el.get("hidden") is not None or _HIDDEN_STYLE.search(el.get("style") or "")
        if el.tag in _DROP_WITH_CONTENT or hidden:
            el.drop_tree()
    for el in _els(root, ".//*[contains(name(), ':')]"):  # namespaced leftovers (svg:*, o:p)
        if el.getparent() is not None:
            el.drop_tag()

    for img in _els(root, ".//img"):
        src = (img.get("src") or "").strip()
        if not src or src.startswith("data:"):
            src = (img.get("data-src") or img.get("data-original") or "").strip()
        src = _absolute(src, base_url)
        if src.startswith("http://"):
            src = "https://" + src[len("http://") :]
        tiny = img.get("width") in ("0", "1") and img.get("height") in ("0", "1")
        if not src or tiny:
            img.drop_tree()
        else:
            img.set("src", src)
    for link in _els(root, ".//a[@href]"):
        link.set("href", _absolute(link.get("href") or "", base_url))

    for el in reversed(_els(root, ".//*")):  # innermost first
        if el.tag in _RENAME:
            el.tag = _RENAME[el.tag]
        elif el.tag in _CONTAINERS:
            if any(_is_block(child) for child in el):
                _wrap_inline_runs(el, images_too=False)
                el.drop_tag()
            else:
                el.tag = "p"
                el.attrib.clear()
        elif el.tag in ("blockquote", "li", "td", "th", "figure"):
            _wrap_inline_runs(el, images_too=False)
    _wrap_inline_runs(root, images_too=True)


def _normalise(root: lxml_html.HtmlElement) -> None:
    """After nh3: collapse whitespace, drop empty paragraphs and dead links/images."""
    for el in _els(root, ".//a[not(@href)]"):
        el.drop_tag()
    for el in _els(root, ".//img[not(@src)]"):
        el.drop_tree()
    for el in root.iter():
        if not isinstance(el, lxml_html.HtmlElement):
            continue
        if el.text:
            el.text = _WS.sub(" ", el.text)
        if el.tail:
            el.tail = _WS.sub(" ", el.tail)
    for el in _els(root, ".//*"):
        if el.tag not in _BLOCK:
            continue
        # trim leading/trailing whitespace and <br> inside blocks
        while len(el) and el[0].tag == "br" and not (el.text or "").strip(_EDGE):
            br = el[0]
            el.text = br.tail
            el.remove(br)
        if el.text:
            el.text = el.text.lstrip(_EDGE) or None
        while len(el) and el[-1].tag == "br" and not (el[-1].tail or "").strip(_EDGE):
            el.remove(el[-1])
        if len(el):
            if el[-1].tail:
                el[-1].tail = el[-1].tail.rstrip(_EDGE) or None
        elif el.text:
            el.text = el.text.rstrip(_EDGE) or None
        if el.tail:
            el.tail = el.tail.strip(_EDGE) or None
    for el in reversed(
        _els(root, ".//p | .//h2 | .//h3 | .//h4 | .//blockquote | .//li | .//figure | .//figcaption")
    ):
        if (
            not el.text_content().strip(_EDGE)
            and not _els(el, ".//img | .//hr | .//table")
            and el.getparent() is not None
        ):
            el.drop_tree()
    if root.text:
        root.text = root.text.strip(_EDGE) or None


def _attrs(el: lxml_html.HtmlElement) -> str:
    return "".join(f' {name}="{htmllib.escape(str(value), quote=True)}"' for name, value in el.attrib.items())


def _serialise(node: lxml_html.HtmlElement, out: list[str]) -> None:
    tag = str(node.tag)
    block = tag in _BLOCK
    if block:
        out.append("\n")
    out.append(f"<{tag}{_attrs(node)}>")
    if tag not in _VOID:
        if node.text:
            out.append(inert_text(node.text))
        for child in node:
            if isinstance(child, lxml_html.HtmlElement):
                _serialise(child, out)
            elif child.tail:  # comments cannot survive nh3, but keep their tails
                out.append(inert_text(child.tail))
        out.append(f"</{tag}>")
    if block:
        out.append("\n")
    if node.tail:
        out.append(inert_text(node.tail))


# Characters XML (and so lxml) cannot hold; upstream bodies do contain them now and then.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def strip_control(text: str) -> str:
    """Drop control characters that are not text (they would crash the HTML parser)."""
    return _NOT_XML.sub("", text)


def sanitize_html(html: str, *, base_url: str) -> str:
    """Untrusted body HTML → safe, block-per-line, Liquid-escaped HTML ("" when nothing is left)."""
    import nh3  # heavy-ish native import; only the clean pipeline needs it

    html = strip_control(html or "")
    if not html.strip():
        return ""
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    _structure(root, base_url)
    staged = "".join(
        [htmllib.escape(root.text, quote=False) if root.text else ""]
        + [etree.tostring(child, encoding="unicode", method="html", with_tail=True) for child in root]
    )
    parts = urlsplit(base_url or "")
    relative: Any = (
        ("rewrite_with_base", base_url) if parts.scheme in URL_SCHEMES and parts.netloc else "deny"
    )
    cleaned = nh3.clean(
        staged,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        strip_comments=True,
        link_rel=LINK_REL,
        url_schemes=set(URL_SCHEMES),
        url_relative=relative,
    )
    if not cleaned.strip():
        return ""
    out_root = lxml_html.fragment_fromstring(cleaned, create_parent="div")
    _normalise(out_root)
    # nh3 re-parses the staged HTML its own way, so text can again sit outside any block: wrap it,
    # or kramdown would read that line as Markdown.
    if (out_root.text or "").strip(_EDGE) or not all(_is_block(child) for child in out_root):
        _wrap_inline_runs(out_root, images_too=True)
    out: list[str] = []
    for child in out_root:
        if isinstance(child, lxml_html.HtmlElement):
            _serialise(child, out)
    lines = (line.strip(" \t") for line in "".join(out).split("\n"))
    return liquid_escape("\n".join(line for line in lines if line))

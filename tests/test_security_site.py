"""No upstream string reaches a built page or the feed as live HTML, script or Markdown.

Hypothesis writes hostile values into **every** upstream field (title, media, origin, author, editor,
summary, article URL, body text, image alt/title, link href/title); the real clean → category →
render steps make posts of them in the real ``init-site`` scaffold; the real ``jekyll build --safe``
(kramdown, jekyll-feed, the shipped layouts) builds the site once per batch; and every built page
and ``feed.xml`` is parsed and checked:

* nothing that runs script or navigates away (no script/iframe/object/embed/base/form…, no on*
  attribute, no javascript:/vbscript:/data: URL);
* no Markdown construct: a post page's content holds exactly the elements of our sanitised body
  plus the footer's three links, and every front-matter string is shown as the literal text it is;
* the feed is well-formed XML, and its titles, summaries and contents carry the same literal text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from crawler.items import ArticleItem
from crawler.postformat import SiteSettings, clean_text, render_post
from crawler.site import init_site, write_category_pages
from crawler.sitebuild import build_site
from crawler.sources.chinanews.urls import article_id_from_url, item_id_from_url
from crawler.sources.eastmoney.extract import parse_list_payload
from crawler.state import StateStore
from crawler.timeutil import parse_beijing
from pipelines.category import assign_category, category_of
from pipelines.clean import clean_item
from pipelines.validate import problems
from tests.archive_support import jekyll_build
from tests.test_hostile import dangerous_bits

pytestmark = pytest.mark.jekyll

SITE = SiteSettings(url="//finews.withounder.com")
ATOM = "{http://www.w3.org/2005/Atom}"

# Pieces an attacker would try: HTML, Markdown (kramdown + GFM), kramdown extensions, Liquid,
# XML/CDATA breakers, URL schemes, entities, controls and line structure.
FRAGMENTS = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)",
    "<svg onload=alert(1)>", "<iframe src=//evil.example>", "<object data=x>", "<embed src=x>",
    "<base href=//evil.example/>", "<form action=//evil.example>", "<a href=javascript:alert(1)>x</a>",
    "<b>b</b>", "</p>", "</div>", "<div markdown=\"1\">", "<!--", "-->", "<![CDATA[", "]]>",
    "[x](javascript:alert(1))", "![i](javascript:alert(1))", "](javascript:alert(1))", "[x]: javascript:alert(1)",
    "[ref]", "[^1]", "[^1]: note", "<javascript:alert(1)>", "<https://evil.example/>", "<mailto:a@b.c>",
    "*em*", "**strong**", "_u_", "__uu__", "`code`", "```", "~~del~~", "~~~", "$$x$$", "| a | b |",
    "|---|", "{: onclick=\"alert(1)\"}", "{::nomarkdown}<script>alert(1)</script>{:/}", "{:toc}",
    "*[HTML]: Hyper", "{{ site.title }}", "{% raw %}", "{%- include x -%}", "\\", "\\\\", "\\*",
    "\n", "\n\n", "\r\n", "    ", "\t", "# ", "## h", "> q", "- li", "1. ol", "---", "===", ": dd",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)", "data:text/html,<script>",
    "http://evil.example/x", "&lt;script&gt;", "&#106;avascript:", "&#x3C;", "&amp;", "&", "\"", "'",
    "\x00", "\x1b", "\x7f", "\u2028", "\u200b", "\u202e", "\ufeff", "\ufffe", "\ud800", "𠀀",
    "中国新闻网", "新闻", "快讯", "正文",
]  # fmt: skip
_SPECIALS = "<>&\"'`*_[]()!#|~$\\{}%=:;/-+.^@\n\t "

hostile_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=_SPECIALS, max_size=4), st.text(max_size=3)),
    min_size=1,
    max_size=6,
).map("".join)
hostile_url = st.one_of(
    st.sampled_from(
        [
            "javascript:alert(1)",
            " JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "//evil.example/x",
            "https://evil.example/a'\"><script>alert(1)</script>",
            "https://finance.eastmoney.com/a/x.html?<>{{ site }}[x](javascript:alert(1))",
            "",
        ]
    ),
    hostile_text.map(lambda s: "https://finance.eastmoney.com/a/" + s),
    hostile_text,
)


@st.composite
def hostile_article(draw: st.DrawFn) -> dict[str, str]:
    return {
        "title": draw(hostile_text),
        "media": draw(hostile_text),
        "origin": draw(hostile_text),
        "author": draw(hostile_text),
        "editor": draw(hostile_text),
        "summary": draw(hostile_text),
        # an http(s) URL (others are refused: see below) carrying hostile characters
        "url": "https://finance.eastmoney.com/a/" + draw(st.text(alphabet=_SPECIALS + "中文", max_size=30)),
        "text": draw(hostile_text),
        "alt": draw(hostile_text),
        "href": draw(hostile_url),
        "link_title": draw(hostile_text),
    }


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;")


def body_html(fields: dict[str, str]) -> str:
    """A body that puts the hostile text where upstream text goes: loose, in blocks, in attributes."""
    text, alt, title, href = (
        fields["text"],
        _attr(fields["alt"]),
        _attr(fields["link_title"]),
        _attr(fields["href"]),
    )
    return (
        f"{text}<p>开头{text}结尾</p>{text}<div>{text}<br>{text}</div>"
        f'<p><img src="https://img.example/a.jpg" alt="{alt}" title="{title}"></p>'
        f'<p><a href="{href}" title="{title}">{text}</a> <strong>{text}</strong></p>'
        f"<ul><li>{text}</li></ul><table><tr><td>{text}</td></tr></table><blockquote>{text}</blockquote>"
        "<p>结尾正文。</p>"
    )


KNOWN = {
    "title": "[x](javascript:alert(1)) ![i](javascript:alert(1)) <img src=x onerror=alert(1) *em* `c`",
    "media": "<img src=x onerror=alert(1)>](javascript:alert(1))[x](javascript:alert(2))",
    "origin": "<script>alert(1)</script>",
    "author": "*a* _b_ ]]>",
    "editor": '{: onclick="alert(1)"}',
    "summary": "]]><script>alert(1)</script><img src=x onerror=alert(1)",
    "url": "https://finance.eastmoney.com/a/x.html?<>{{site}}[x](javascript:alert(1))]]>\"'",
    "text": "[x](javascript:alert(1)) ![i](javascript:alert(1)) *em* ~~del~~ `code` <https://evil.example/>",
    "alt": '"><script>alert(1)</script>',
    "href": "javascript:alert(1)",
    "link_title": "[t](javascript:alert(1))",
}


def make_item(n: int, fields: dict[str, str]) -> ArticleItem:
    return ArticleItem(
        source="eastmoney",
        article_id=f"2022052600001{n:05d}",
        title=fields["title"],
        published=parse_beijing("2022-05-26 08:00:00") + timedelta(minutes=n),
        body_html=body_html(fields),
        url=fields["url"],
        media=fields["media"],
        summary=fields["summary"],
        origin=fields["origin"],
        author=fields["author"],
        editor=fields["editor"],
    )


def _norm(text: str) -> str:
    return " ".join(text.split())


def _visible(text: str) -> str:
    """What a reader sees of a plain string: whitespace collapsed, invisible format characters aside."""
    return _norm("".join(ch for ch in text if unicodedata.category(ch) != "Cf"))


def _tags(root: Any) -> list[str]:
    return [el.tag for el in root.iter() if isinstance(el.tag, str)][1:]


def build_batch(
    tmp: Path, batch: list[dict[str, str]], builder: str = "jekyll"
) -> tuple[Path, list[ArticleItem]]:
    site = tmp / "site"
    init_site(site)
    posts = []
    with StateStore(tmp / "state.sqlite3") as state:
        for n, fields in enumerate(batch):
            item = make_item(n, fields)
            if problems(item):
                continue
            clean_item(item)
            if not item.body.strip():
                continue
            item.category, item.tag = category_of(state, item)
            rendered = render_post(item, SITE)
            (site / rendered.relpath).write_text(rendered.text, encoding="utf-8")
            posts.append(item)
        write_category_pages(state, site)
    if builder == "hugo":  # the large-archive builder reads the same posts (crawler/sitebuild.py)
        build_site(site, builder="hugo", dest=tmp / "_site", search=False, full=True)
    else:
        build = jekyll_build(site, tmp / "_site")
        assert build.returncode == 0, build.stdout + build.stderr
    return tmp / "_site", posts


def check_site(built: Path, items: list[ArticleItem]) -> None:
    pages = [p for p in built.rglob("*.html") if p.name != "404.html"]
    for page in pages:
        doc = lxml_html.fromstring(page.read_bytes())
        assert doc.body is not None and doc.head is not None, (page, page.read_text()[:300])
        assert dangerous_bits(doc.body) == [], page
        assert [b for b in dangerous_bits(doc.head) if b != "<link>"] == [], page
        for link in doc.head.iter("link"):
            assert (link.get("href") or "").startswith(("https://finews.withounder.com/", "/")), page
    for item in items:
        page = built / item.category / "2022" / "05" / "26" / f"NW{item.article_id}.html"
        if not page.exists():
            page = built / item.category / "2022" / "05" / "26" / f"{item.article_id}.html"
        doc = lxml_html.fromstring(page.read_bytes())
        (content,) = doc.find_class("post-content")
        ours = lxml_html.fragment_fromstring(item.body, create_parent="div")
        # kramdown added nothing and took nothing: our body's elements, then the footer's link line
        # and its two links — no Markdown link, image, emphasis, code, list or heading of its own
        assert _tags(content) == [*_tags(ours), "p", "a", "p", "a", "a"], item.title[:60]
        assert _norm(content.text_content()).startswith(_norm(ours.text_content())), item.title[:60]
        footer_links = content.findall(".//a")[-2:]
        assert footer_links[0].text_content() == f"返回{clean_text(item.tag)}"
        assert footer_links[0].get("href") == f"//finews.withounder.com/category/{item.category}.html"
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", item.category), item.category
        (h1,) = doc.find_class("post-title")
        assert _visible(h1.text_content()) == _visible(clean_text(item.title))
        meta = _visible(doc.find_class("post-meta")[0].text_content())
        assert _visible(clean_text(item.media)) in meta

    # the listings (home page, category pages) show each title as the literal text it is
    titles_shown = {_visible(clean_text(i.title)) for i in items}
    for listing in [built / "index.html", *(built / "category").glob("*.html")]:
        doc = lxml_html.fromstring(listing.read_bytes())
        links = doc.xpath("//ul[contains(@class, 'post-list')]//a")
        assert links or listing.name != "index.html", "the home page lists the posts"
        for link in links:
            assert _visible(link.text_content()) in titles_shown, (listing, link.text_content())

    feed = ElementTree.parse(built / "feed.xml")  # well-formed whatever the posts hold
    entries = feed.getroot().findall(f"{ATOM}entry")
    assert entries, "the feed lists the posts"
    for entry in entries:
        title = entry.find(f"{ATOM}title")
        assert title is not None
        assert title.get("type", "text") == "text" or "<" not in (title.text or "")
        assert _visible(title.text or "") in titles_shown
        for field in ("content", "summary"):
            node = entry.find(f"{ATOM}{field}")
            if node is None or not (node.text or "").strip():
                continue
            if node.get("type") == "html":
                fragment = lxml_html.fragment_fromstring(node.text or "", create_parent="div")
                assert dangerous_bits(fragment) == [], (field, (node.text or "")[:200])
                if field == "summary":
                    assert len(fragment) == 0, ("summary holds markup", node.text)


# each example is a batch of posts and one real site build, so few examples and no shrinking
BATCHES = settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.parametrize("builder", ["jekyll", "hugo"])  # both builders read the same posts
@BATCHES
@given(batch=st.lists(hostile_article(), min_size=25, max_size=25))
@example(batch=[KNOWN] + [dict(KNOWN, media=m) for m in ("*媒体*", "<b>媒体</b>", "[媒体](x)")])
def test_no_upstream_field_reaches_a_built_page_or_the_feed_live(builder, batch, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"hostile-{builder}")
    built, items = build_batch(tmp, batch, builder)
    assert items, "some hostile articles still make posts"
    check_site(built, items)


def test_known_slugs_and_site_paths_cannot_be_taken_by_a_hostile_media_name(tmp_path):
    with StateStore(tmp_path / "state.sqlite3") as state:
        squatters = ["zhongguoxinwenwang", "emnews", "Xinhuashe", "category", "assets", "feed", "../x", "<b>"]
        for name in squatters:
            slug, _tag = assign_category(state, name)
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", slug), slug
        assert assign_category(state, "中国新闻网")[0] == "zhongguoxinwenwang"
        assert assign_category(state, "东财滚动新闻")[0] == "emnews"
        assert assign_category(state, "新华社")[0] == "xinhuashe"
        slugs = [s for s, _m, _t in state.categories()]
        assert len(slugs) == len(set(slugs))
        assert not {"category", "assets", "feed", "index", "search", "old_post"} & set(slugs)


def test_an_article_url_that_is_not_http_is_refused():
    for url in ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,x", "//evil.example/", "x"]:
        assert any("http(s)" in p for p in problems(make_item(1, dict(KNOWN, url=url)))), url


def test_invisible_titles_are_empty():
    for title in ["\u200b", "\u200b\u200d\ufeff", " \u2060 \u00ad ", "\u202e\u202c", "\u3000\u200b"]:
        item = make_item(1, dict(KNOWN, title=title))
        assert "empty title" in problems(item), repr(title)


ARABIC_INDIC = "٢٠٢٢٠٥٢٦٢٣٩١٩٢١٧١٢"  # 202205262391921712 in Arabic-Indic digits
FULL_WIDTH = "２０２２０５２６２３９１９２１７１２"


def test_ids_with_non_ascii_digits_are_rejected_at_list_parsing():
    records = [
        {"code": f"NW{digits}", "title": "标题", "showTime": "2022-05-26 10:00:00", "mediaName": "新华社",
         "url": f"https://finance.eastmoney.com/a/{digits}.html"}
        for digits in (ARABIC_INDIC, FULL_WIDTH)
    ]  # fmt: skip
    page = parse_list_payload(json.dumps({"code": "1", "data": {"list": records}}))
    assert page.entries == []
    for digits in ("٩٧٢٤٥١٣", "９７２４５１３"):
        url = f"https://www.chinanews.com.cn/gn/2022/05-26/{digits}.shtml"
        assert article_id_from_url(url) is None
        assert item_id_from_url(url) is None

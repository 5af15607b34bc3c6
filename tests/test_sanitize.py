"""The generic sanitiser: hostile input, URL handling, kramdown-safe layout, Liquid safety."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from crawler.postformat import has_liquid, liquid_escape
from pipelines.sanitize import sanitize_html

BASE = "https://finance.eastmoney.com/a/202204082336871455.html"
DANGEROUS = re.compile(
    r"<\s*/?\s*(script|style|iframe|object|embed|form|input|button|svg|math|meta|base|link|noscript|template)\b"
    r"|\son\w+\s*=|javascript:|vbscript:|data:|style\s*=|srcdoc",
    re.IGNORECASE,
)


def clean(html: str) -> str:
    return sanitize_html(html, base_url=BASE)


def _tags(out: str) -> set[str]:
    return set(re.findall(r"<([a-z0-9]+)", out))


def _check_safe(out: str) -> None:
    assert not DANGEROUS.search(out), out
    assert not has_liquid(out), out
    assert _tags(out) <= {
        "p", "br", "h2", "h3", "h4", "strong", "b", "em", "i", "u", "sub", "sup", "blockquote", "ul", "ol",
        "li", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "figure", "figcaption", "img",
        "a", "hr",
    }  # fmt: skip


HOSTILE = {
    "script": ("<p>正文<script>alert(1)</script></p><script src=//evil.com/x.js></script>", ["正文"]),
    "onerror": ('<p>图<img src="/a.jpg" onerror="alert(1)" onload=x></p>', ["图"]),
    "javascript-href": ('<p><a href="javascript:alert(1)">点我</a> <a href=" JaVaScRiPt:alert(1)">再点</a></p>', ["点我", "再点"]),
    "vbscript-href": ('<p><a href="vbscript:msgbox(1)">vb</a></p>', ["vb"]),
    "data-urls": ('<p><img src="data:image/png;base64,AAAA"><a href="data:text/html,<script>alert(1)</script>">d</a></p>', ["d"]),
    "svg": ('<p>前</p><svg onload="alert(1)"><script>alert(2)</script><text>svg 文本</text></svg><p>后</p>', ["前", "后"]),
    "iframe": ('<iframe src="https://evil.com/" srcdoc="<script>x</script>">框内</iframe><p>正文</p>', ["正文"]),
    "meta-refresh": ('<meta http-equiv="refresh" content="0;url=https://evil.com/"><p>正文</p>', ["正文"]),
    "base": ('<base href="https://evil.com/"><p><a href="/x">链接</a></p>', ["链接"]),
    "form": ('<form action="https://evil.com/"><input name=q value=v><button>提交</button></form><p>正文</p>', ["正文"]),
    "style-attrs": ('<p style="position:fixed;top:0" class="x" id="y" onclick="z">样式</p><style>p{}</style>', ["样式"]),
    "object-embed": ('<object data="x.swf"><embed src="x.swf"></object><p>正文</p>', ["正文"]),
    "liquid-text": ("<p>{{ site.data }} 和 {% include x.html %} 以及 {% raw %}原样{% endraw %}</p>", ["原样"]),
    "liquid-attrs": ('<p><img src="/i.jpg?v={{x}}" alt="{{ a }}" title="{% if %}"><a href="/x?{% raw %}" title="%}}">a</a></p>', ["a"]),
    "entity-braces": ("<p>&#123;&#123; x &#125;&#125; &lbrace;% y %&rbrace;</p>", ["x", "y"]),
}  # fmt: skip


@pytest.mark.parametrize(("html", "texts"), HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_input(html: str, texts: list[str]) -> None:
    out = clean(html)
    _check_safe(out)
    visible = lxml_html.fragment_fromstring(out, create_parent="div").text_content()
    for text in texts:
        assert text in visible
    assert "evil.com" not in out
    assert "alert" not in out
    assert "框内" not in out  # iframe content goes with the iframe
    assert "提交" not in out


def test_liquid_braces_render_back_to_the_original_text() -> None:
    out = clean("<p>{{ site.data }} 和 {% raw %}</p>")
    assert out == "<p>&#123;&#123; site.data &#125;&#125; 和 &#123;% raw %&#125;</p>"
    assert lxml_html.fragment_fromstring(out).text_content() == "{{ site.data }} 和 {% raw %}"


def test_liquid_in_attributes_is_escaped_but_kept() -> None:
    out = clean('<p><img src="/i.jpg" alt="{{ a }}"><a href="https://x.com/?q={{x}}" title="%}">l</a></p>')
    assert 'alt="&#123;&#123; a &#125;&#125;"' in out
    assert 'href="https://x.com/?q=&#123;&#123;x&#125;&#125;"' in out
    img = lxml_html.fragment_fromstring(out).find(".//img")
    assert img is not None
    assert img.get("alt") == "{{ a }}"


def test_urls_absolute_and_images_https() -> None:
    out = clean(
        '<p><img src="/pic/a.jpg"><img src="//dfscdn.dfcfw.com/b.jpg"><img src="http://x.com/c.jpg">'
        '<a href="../news/1.html">rel</a><a href="//hk.eastmoney.com/a/1.html">proto</a>'
        '<a href="http://www.chinanews.com/">http link</a></p>'
    )
    assert re.findall(r'src="([^"]+)"', out) == [
        "https://finance.eastmoney.com/pic/a.jpg",
        "https://dfscdn.dfcfw.com/b.jpg",
        "https://x.com/c.jpg",
    ]
    assert re.findall(r'href="([^"]+)"', out) == [
        "https://finance.eastmoney.com/news/1.html",
        "https://hk.eastmoney.com/a/1.html",
        "http://www.chinanews.com/",  # links keep their scheme; only images are upgraded
    ]
    assert out.count('rel="nofollow noopener noreferrer"') == 3


def test_allowed_attributes_only() -> None:
    out = clean(
        '<p><img src="/a.jpg" alt="图" title="t" width="552" height="300" border="0" data-code="x" loading="lazy">'
        '<a href="/x" title="t" target="_blank" class="keytip" data-code="1">l</a></p>'
    )
    assert out == (
        '<p><img src="https://finance.eastmoney.com/a.jpg" alt="图" title="t" width="552" height="300">'
        '<a href="https://finance.eastmoney.com/x" title="t" rel="nofollow noopener noreferrer">l</a></p>'
    )


def test_layout_one_block_per_line_without_indentation() -> None:
    html = """
        <div class="article">
            <h1>标题</h1>
            <div>第一段
                <span>继续</span></div>
            <center><img src="/a.jpg"></center>
            <p>　　缩进段落</p>
            <p>   </p><p><br></p><p>&nbsp;　</p>
            <ul>
                <li>一</li>
                <li>二</li>
            </ul>
            <blockquote>引用<p>段</p></blockquote>
        </div>
        散落的文字
    """
    out = clean(html)
    assert out.split("\n") == [
        "<h2>标题</h2>",
        "<p>第一段 继续</p>",
        '<p><img src="https://finance.eastmoney.com/a.jpg"></p>',
        "<p>缩进段落</p>",
        "<ul>",
        "<li>一</li>",
        "<li>二</li>",
        "</ul>",
        "<blockquote>",
        "<p>引用</p>",
        "<p>段</p>",
        "</blockquote>",
        "<p>散落的文字</p>",
    ]


def test_every_line_starts_with_a_tag() -> None:
    """kramdown must never see bare text, Markdown markers or indented code blocks."""
    out = clean(
        "<div># 不是标题<div>1. 不是列表</div>* 不是项目<table><tr><td>格</td></tr></table>    四个空格</div>"
    )
    for line in out.split("\n"):
        assert line.startswith("<"), line
        assert line == line.strip()


def test_empty_and_blank_input() -> None:
    assert clean("") == ""
    assert clean("   \n") == ""
    assert clean("<p> </p><p><br/></p><script>x</script>") == ""


def test_centered_images_become_blocks() -> None:
    out = clean('<p>前</p><center><img src="https://dfscdn.dfcfw.com/a.jpg"></center><p>后</p>')
    assert out.split("\n") == ["<p>前</p>", '<p><img src="https://dfscdn.dfcfw.com/a.jpg"></p>', "<p>后</p>"]


def test_tables_kept() -> None:
    out = clean("<table><caption>表</caption><tr><th>a</th></tr><tr><td colspan=2>b</td></tr></table>")
    assert out.split("\n") == [
        "<table>",
        "<caption>表</caption>",
        "<tbody>",
        "<tr>",
        "<th>a</th>",
        "</tr>",
        "<tr>",
        '<td colspan="2">b</td>',
        "</tr>",
        "</tbody>",
        "</table>",
    ]


def test_liquid_helpers() -> None:
    assert liquid_escape("{{ x }}") == "&#123;&#123; x &#125;&#125;"
    assert liquid_escape("无括号") == "无括号"
    for marker in ("{{", "{%", "}}", "%}"):
        assert has_liquid(f"a {marker} b")
    assert not has_liquid("{ x } % {")
    assert not has_liquid(liquid_escape("{{ {% %} }}"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *"{}%<>/=\"' abp科技",
                "<p>",
                "</p>",
                "<script>",
                "{{",
                "{%",
                '<img src="',
                '" alt="',
                '<a href="',
                '">',
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_any_text_comes_out_liquid_safe(text: str) -> None:
    out = clean(text)
    assert not has_liquid(out)
    assert "<script" not in out.lower()

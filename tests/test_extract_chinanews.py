"""中国新闻网 extraction on the real Template A page and RSS capture, plus hand-made pages.

Hand-made fixtures stand in for templates no public sample exists for (see PROVENANCE.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from lxml import html as lxml_html

from crawler.matching import match_key
from crawler.sources.chinanews.articles import extract_article, merge_pages, page_urls
from crawler.sources.chinanews.lists import ListEntry, parse_rss, parse_scroll_list
from crawler.sources.chinanews.page import decode_page
from crawler.sources.chinanews.preclean import preclean_body
from crawler.sources.chinanews.urls import (
    DEFAULT_BASE_URL,
    article_id_from_url,
    canonical_url,
    classify_url,
    day_archive_url,
    item_id_from_url,
)
from crawler.sources.common import ExtractionError, NotAnArticle, SoftNotFound
from crawler.timeutil import BEIJING

FIX = Path(__file__).parent / "fixtures" / "chinanews"
HAND = FIX / "handmade"
LOOP = "http://127.0.0.1:8765"
REAL_ARTICLE = FIX / "article_2020-07-04_ll_9229287_left-t-template.html"
REAL_RSS = FIX / "rss_scroll-news_2026-04-19.xml"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _paragraphs(html: str) -> list[str]:
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    return [p.text_content() for p in root.iter("p")]


def _images(html: str) -> list[str]:
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    return [img.get("src", "") for img in root.iter("img")]


# --------------------------------------------------------------------------- URLs

ARTICLE_VARIANTS = [
    "https://www.chinanews.com.cn/gn/2026/09-27/10704546.shtml",
    "http://www.chinanews.com/gn/2026/09-27/10704546.shtml",
    "https://chinanews.com.cn/gn/2026/09-27/10704546.shtml",
    "//www.chinanews.com/gn/2026/09-27/10704546.shtml",
    "/gn/2026/09-27/10704546.shtml",
    "https://www.chinanews.com.cn/gn/2026/09-27/10704546.shtml?from=rss#top",
    "https://www.chinanews.com.cn/gn/2026/09-27/10704546_3.shtml",
    "https://m.chinanews.com/wap/detail/zw/gn/2026/09-27/10704546.shtml",
    f"{LOOP}/gn/2026/09-27/10704546_2.shtml?x=1",
]


@pytest.mark.parametrize("url", ARTICLE_VARIANTS)
def test_every_url_variant_maps_to_one_article(url: str) -> None:
    assert classify_url(url) == "article"
    assert article_id_from_url(url) == "10704546"
    assert canonical_url(url, base_url=LOOP) == f"{LOOP}/gn/2026/09-27/10704546.shtml"
    public = "https://www.chinanews.com.cn/gn/2026/09-27/10704546.shtml"
    if not url.startswith(LOOP):  # an unknown host is never taken for the site
        assert canonical_url(url, base_url=DEFAULT_BASE_URL) == public
    else:
        assert canonical_url(url, base_url=DEFAULT_BASE_URL) == f"{LOOP}/gn/2026/09-27/10704546.shtml"


def test_base_url_with_a_path_prefix_is_respected() -> None:
    base = f"{LOOP}/cns/"
    assert canonical_url("/gj/2026/04-19/10606399.shtml", base_url=base) == (
        f"{LOOP}/cns/gj/2026/04-19/10606399.shtml"
    )
    assert canonical_url(f"{LOOP}/cns/gj/2026/04-19/10606399_2.shtml", base_url=base) == (
        f"{LOOP}/cns/gj/2026/04-19/10606399.shtml"
    )


@pytest.mark.parametrize(
    ("url", "kind", "item_id"),
    [
        ("https://www.chinanews.com.cn/ll/2020/07-04/9229287.shtml", "article", "9229287"),
        ("https://www.chinanews.com.cn/gn/2016/09-11/8000830.shtml", "article", "8000830"),
        ("https://www.chinanews.com.cn/gj/2030/01-02/123456789.shtml", "article", "123456789"),
        ("https://www.chinanews.com.cn/tp/hd2011/2026/09-27/1206069.shtml", "photo", "p1206069"),
        ("//www.chinanews.com/tp/hd2011/2018/03-01/806646.shtml", "photo", "p806646"),
        ("https://www.chinanews.com.cn/cul/shipin/2026/09-23/news1069974.shtml", "video", "v1069974"),
        ("https://www.chinanews.com.cn/shipin/cns-d/2026/09-23/news1069975.shtml", "video", "v1069975"),
        ("https://www.chinanews.com.cn/china.shtml", "other", None),
        ("https://www.chinanews.com.cn/scroll-news/2026/0927/news.shtml", "other", None),
        ("https://www.bj.chinanews.com/news/2026/0927/123.html", "other", None),
        ("https://m.chinanews.com/wap/detail/chs/zw/396326.shtml", "other", None),
    ],
)
def test_classify_and_id_spaces(url: str, kind: str, item_id: str | None) -> None:
    assert classify_url(url) == kind
    assert item_id_from_url(url) == item_id
    assert article_id_from_url(url) == (item_id if kind == "article" else None)


def test_day_archive_url() -> None:
    assert day_archive_url(LOOP + "/", date(2022, 1, 5)) == f"{LOOP}/scroll-news/2022/0105/news.shtml"


# --------------------------------------------------------------------------- real Template A page


def test_real_template_a_article_matches_expected_json() -> None:
    expected = json.loads(_read(FIX / "article_2020-07-04_ll_9229287.expected.json"))
    url = "http://www.chinanews.com/ll/2020/07-04/9229287.shtml?f=qbapp"
    item = extract_article(decode_page(REAL_ARTICLE.read_bytes(), "text/html"), url=url)

    got = {key: getattr(item, key) for key in expected["item"] if key != "published"}
    got["published"] = item.published.isoformat() if item.published else None
    assert got == expected["item"]
    assert item.published is not None
    assert item.published.utcoffset() == timedelta(hours=8)
    # The floating header's <h1> has the same words but surrounding whitespace: we must not
    # depend on it; the raw body is the .left_zw container, untouched.
    assert item.body_html.startswith("<p>\u3000\u3000编者按")
    assert "adInContent" in item.body_html

    clean = preclean_body(item.body_html, base_url=DEFAULT_BASE_URL)
    want = expected["clean"]
    paragraphs = _paragraphs(clean.html)
    assert (clean.editor, clean.author) == (want["editor"], want["author"])
    assert len(paragraphs) == want["paragraphs"]
    assert paragraphs[0].startswith(want["first_paragraph_starts"])
    assert paragraphs[-1].endswith(want["last_paragraph_ends"])
    assert len(_images(clean.html)) == want["images"]
    for junk in want["absent"]:
        assert junk not in clean.html, junk
    assert match_key(item.title, item.published) == expected["match_key"]


def test_real_page_literal_fffd_outside_the_body_is_not_a_decode_error() -> None:
    text = decode_page(REAL_ARTICLE.read_bytes(), None)
    assert text.count("\ufffd") == 2  # upstream mojibake in a trailing HTML comment
    item = extract_article(text, url="https://www.chinanews.com.cn/ll/2020/07-04/9229287.shtml")
    assert "\ufffd" not in item.title + item.body_html


# --------------------------------------------------------------------------- RSS


def test_real_rss_feed_matches_expected_json() -> None:
    expected = json.loads(_read(FIX / "rss_scroll-news_2026-04-19.expected.json"))
    entries = parse_rss(REAL_RSS.read_bytes(), base_url=LOOP)
    assert len(entries) == expected["count"]
    got = [
        {
            "article_id": e.article_id,
            "path": e.url.removeprefix(LOOP),
            "title": e.title,
            "channel": e.channel,
            "published": e.published.isoformat() if e.published else None,
        }
        for e in entries
    ]
    assert got == expected["items"]
    assert all(e.kind == "article" and e.feed == "rss" for e in entries)
    assert entries[0].summary == expected["first_summary"]
    assert not any(e.summary.startswith(("\n", "\u3000")) for e in entries)


def test_rss_accepts_str_and_lenient_dates_and_drops_channel_items() -> None:
    xml = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>中新网生活</title>
<item><title>频道页</title><link>https://www.chinanews.com.cn/life/</link>
<description></description><pubDate>2019-10-05 14:58:24</pubDate></item>
<item><title>非RFC时间</title><link>http://www.chinanews.com/sh/2019/10-05/8971234.shtml</link>
<description>&lt;p&gt;　　带转义HTML的摘要&lt;/p&gt;</description><pubDate>2019-10-05 14:58:24</pubDate></item>
<item><title>无时区</title><link>//www.chinanews.com.cn/gn/2026/10-03/10707434.shtml?x=1</link>
<description>
　　摘要</description><pubDate>Sat, 3 Oct 2026 12:53:46</pubDate></item>
<item><title>重复</title><link>https://www.chinanews.com.cn/gn/2026/10-03/10707434.shtml</link>
<pubDate>Sat, 3 Oct 2026 12:53:46 +0800</pubDate></item>
</channel></rss>"""
    entries = parse_rss(xml, base_url=LOOP)
    assert [(e.article_id, e.title) for e in entries] == [("8971234", "非RFC时间"), ("10707434", "无时区")]
    assert entries[0].published == datetime(2019, 10, 5, 14, 58, 24, tzinfo=BEIJING)
    assert entries[1].published == datetime(2026, 10, 3, 12, 53, 46, tzinfo=BEIJING)
    assert entries[0].summary == "带转义HTML的摘要"
    assert entries[1].url == f"{LOOP}/gn/2026/10-03/10707434.shtml"


def test_rss_garbage_is_an_error() -> None:
    with pytest.raises(ExtractionError):
        parse_rss(b"<html><body>502 Bad Gateway</body></html>", base_url=LOOP)


# --------------------------------------------------------------------------- scroll lists


def test_scroll_list_rows() -> None:
    entries = parse_scroll_list(
        _read(HAND / "scroll_news1.html"),
        page_url=f"{LOOP}/scroll-news/news1.html",
        base_url=LOOP,
        now=datetime(2026, 9, 27, 23, 0, tzinfo=BEIJING),
    )
    got = [(e.article_id, e.kind, e.channel, e.url.removeprefix(LOOP)) for e in entries]
    assert got == [
        ("10704546", "article", "gn", "/gn/2026/09-27/10704546.shtml"),
        ("10704545", "article", "gj", "/gj/2026/09-27/10704545.shtml"),
        ("10704544", "article", "cj", "/cj/2026/09-27/10704544.shtml"),  # //….com + query
        ("v1070011", "video", "cul", "/cul/shipin/2026/09-27/news1070011.shtml"),
        ("p1206069", "photo", "tp", "/tp/hd2011/2026/09-27/1206069.shtml"),
        ("10704540", "article", "sh", "/sh/2026/09-27/10704540.shtml"),  # unquoted old href
        ("10704538", "article", "mil", "/mil/2026/09-27/10704538.shtml"),
        ("10703999", "article", "gn", "/gn/2026/09-26/10703999.shtml"),
    ]  # konge rows, the duplicate row and the channel-page row are gone
    assert all(e.feed == "scroll" for e in entries)
    assert entries[0].published == datetime(2026, 9, 27, 22, 20, tzinfo=BEIJING)
    assert entries[-1].published == datetime(2026, 9, 26, 23, 58, tzinfo=BEIJING)
    assert entries[6].title == "军事新闻：列表里被截断的长标题在title属性里"


def test_day_archive_rows_take_the_year_from_the_url() -> None:
    entries = parse_scroll_list(
        _read(HAND / "day_archive_2025-12-31.html"),
        page_url=day_archive_url(LOOP, date(2025, 12, 31)),
        base_url=LOOP,
        now=datetime(2026, 3, 1, tzinfo=BEIJING),  # a backfill months later
    )
    assert [e.feed for e in entries] == ["archive"] * 3
    assert [e.published for e in entries] == [
        datetime(2025, 12, 31, 23, 59, tzinfo=BEIJING),
        datetime(2025, 12, 31, 23, 40, tzinfo=BEIJING),
        datetime(2025, 12, 31, 8, 0, tzinfo=BEIJING),
    ]


def test_scroll_list_hrefs_resolve_against_the_page() -> None:
    html = """<div class="content_list"><ul>
    <li><div class="dd_lm">[国内]</div><div class="dd_bt"><a href="../gn/2026/09-27/10704001.shtml">相对</a></div>
    <div class="dd_time">9-27 08:00</div></li>
    <li><div class="dd_bt"><a href="javascript:void(0)">坏链接</a></div></li>
    <li><div class="dd_bt"><a href="https://www.sh.chinanews.com/x/2026/09-27/1.shtml">子站</a></div></li>
    </ul></div>"""
    entries = parse_scroll_list(html, page_url=f"{LOOP}/scroll-news/news3.html", base_url=LOOP)
    assert [e.url for e in entries] == [f"{LOOP}/gn/2026/09-27/10704001.shtml"]


def test_list_entry_context_round_trip() -> None:
    entry = parse_rss(REAL_RSS.read_bytes(), base_url=LOOP)[0]
    context = json.loads(json.dumps(entry.to_context()))
    assert ListEntry.from_context(context) == entry
    assert ListEntry.from_context(entry.to_context() | {"published": None}).published is None


# --------------------------------------------------------------------------- Template B, video


def test_template_b_article() -> None:
    url = f"{LOOP}/cj/2022/04-08/9724513.shtml?from=list"
    entry = ListEntry(
        article_id="9724513",
        url=f"{LOOP}/cj/2022/04-08/9724513.shtml",
        title="列表标题",
        channel="cj",
        published=None,
        kind="article",
        feed="archive",
    )
    item = extract_article(
        _read(HAND / "template_b_cj_2022-04-08_9724513.html"), url=url, entry=entry, base_url=LOOP
    )
    assert item.title == "短视频平台汇聚抗“疫”新暖流 快手多举措联动"  # not the floating header's <h1>
    assert item.published == datetime(2022, 4, 8, 17, 57, 45, tzinfo=BEIJING)
    assert (item.source, item.media, item.article_id) == ("chinanews", "中国新闻网", "9724513")
    assert item.url == entry.url
    assert (item.origin, item.editor, item.author) == ("中国新闻网", "李娟", "")  # author_baidu = editor
    assert item.feed == "archive"

    clean = preclean_body(item.body_html, base_url=LOOP)
    assert clean.editor == "李娟"
    assert _images(clean.html) == [
        "https://i2.chinanews.com.cn/simg/cmshd/2022/04/08/9724513a.jpg",
        f"{LOOP}/cj/2022/04-08/U580P4T8D9724513F107DT20220408175745.jpg",
    ]
    assert '<div class="pictext" style="text-align:center">快手疫情求助入口。受访者供图</div>' in clean.html
    assert f'href="{LOOP}/cj/2022/04-07/9723001.shtml"' in clean.html
    paragraphs = _paragraphs(clean.html)
    assert paragraphs[0].startswith("新冠疫情此起彼伏")
    assert paragraphs[-1] == "详见此前报道。(完)"
    assert "<br>更为重要的是" in clean.html  # indent after <br> removed too
    for junk in ("adInContent", "<script", "<!--", "编辑:", "function_code_page", "\u3000", "<p></p>"):
        assert junk not in clean.html, junk


def test_template_b_time_line_without_hidden_fields() -> None:
    html = _read(HAND / "template_b_cj_2022-04-08_9724513.html")
    html = re.sub(r'<div id="BaiduSpider".*?</div>', "", html, flags=re.DOTALL)
    html = re.sub(r'<input id="news(date|time)"[^>]*>', "", html)
    item = extract_article(html, url=f"{LOOP}/cj/2022/04-08/9724513.shtml", base_url=LOOP)
    assert item.published == datetime(2022, 4, 8, 17, 57, tzinfo=BEIJING)  # minutes only
    assert item.origin == "中国新闻网"


def test_video_page() -> None:
    url = "https://www.chinanews.com/cul/shipin/2026/09-23/news1069974.shtml"
    item = extract_article(_read(HAND / "video_cul_2026-09-23_news1069974.html"), url=url)
    assert item.article_id == "v1069974"
    assert item.title == "中外专家在渝聚焦柑桔产业发展"
    assert item.published == datetime(2026, 9, 23, 20, 3, tzinfo=BEIJING)
    assert (item.origin, item.editor) == ("中国新闻网", "叶攀")
    assert item.summary == ""  # meta description merely repeats the title
    clean = preclean_body(item.body_html, base_url=DEFAULT_BASE_URL)
    assert _paragraphs(clean.html) == [
        "9月23日，柑桔重大病虫害防控暨产业高质量发展国际论坛在重庆市北碚区举行。",
        "来自多个国家的专家围绕柑桔黄龙病防控等议题展开交流。",
    ]


# --------------------------------------------------------------------------- multi-page


def test_multi_page_article_becomes_one_body_in_order() -> None:
    first_url = f"{LOOP}/gn/2021/06-01/9489001.shtml"
    first_html = _read(HAND / "multipage_gn_2021-06-01_9489001.html")
    others = page_urls(first_html, url=first_url, base_url=LOOP)
    assert others == [f"{LOOP}/gn/2021/06-01/9489001_2.shtml", f"{LOOP}/gn/2021/06-01/9489001_3.shtml"]
    # from a middle page, the pager still lists the rest (page 1 without a suffix)
    assert page_urls(
        _read(HAND / "multipage_gn_2021-06-01_9489001_2.html"), url=others[0], base_url=LOOP
    ) == [
        first_url,
        others[1],
    ]

    first = extract_article(first_html, url=first_url, base_url=LOOP)
    bodies = [
        extract_article(
            _read(HAND / f"multipage_gn_2021-06-01_9489001_{n}.html"), url=u, base_url=LOOP
        ).body_html
        for n, u in zip((2, 3), others, strict=True)
    ]
    merged = merge_pages(first, bodies)
    assert (merged.article_id, merged.title, merged.url) == (first.article_id, first.title, first_url)
    assert merge_pages(first, []) == first
    clean = preclean_body(merged.body_html, base_url=LOOP)
    assert _paragraphs(clean.html) == [
        "中新网6月1日电 第一页第一段。",
        "第一页第二段。",
        "第二页第一段。",
        "第三页，也是最后一页。(完)",
    ]
    assert _images(clean.html) == [f"{LOOP}/gn/2021/06-01/U2P4T8D9489001F107DT20210601.jpg"]
    assert "下一页" not in clean.html
    assert "上一页" not in clean.html
    assert clean.editor == "王琴"


def test_single_page_article_has_no_other_pages() -> None:
    html = _read(REAL_ARTICLE)
    assert (
        page_urls(html, url="https://www.chinanews.com.cn/ll/2020/07-04/9229287.shtml", base_url=LOOP) == []
    )


# --------------------------------------------------------------------------- charsets


def test_gb2312_page_decodes_without_mojibake() -> None:
    raw = (HAND / "gb2312_gn_2016-09-11_8000830.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GB bytes, declared only in <meta>
    text = decode_page(raw, "text/html")  # no charset in the header: the <meta> decides
    assert decode_page(raw, "text/html; charset=GBK") == text
    item = extract_article(text, url="http://www.chinanews.com/gn/2016/09-11/8000830.shtml")
    assert item.title == "国务院常务会议部署推进“互联网+政务服务”"
    assert item.published == datetime(2016, 9, 11, 20, 15, 36, tzinfo=BEIJING)  # seconds from newstime
    assert item.origin == "中国新闻网"
    clean = preclean_body(item.body_html, base_url=DEFAULT_BASE_URL)
    assert clean.editor == "张浩"
    assert _paragraphs(clean.html) == [
        (
            "中新网9月11日电\u3000据中国政府网消息，国务院总理主持召开国务院常务会议，"
            "部署推进“互联网+政务服务”，让企业和群众办事更方便。"
        ),
        "会议指出，要以群众需求为导向，简化优化办事流程，推进网上办理，实现部门间数据共享。",
    ]
    assert "\ufffd" not in text


def test_gbk_only_characters_declared_gb2312_decode_via_gb18030() -> None:
    # 镕 and 堃 are GBK, not GB2312: pages that declare gb2312 really serve GBK.
    page = '<html><head><meta charset="gb2312"><title>朱镕基 堃</title></head><body></body></html>'
    assert "朱镕基 堃" in decode_page(page.encode("gbk"), None)


def test_wrong_charset_is_an_error_not_mojibake() -> None:
    raw = (HAND / "gb2312_gn_2016-09-11_8000830.html").read_bytes()
    with pytest.raises(ExtractionError, match="encoding"):
        decode_page(raw, "text/html; charset=utf-8")  # the header wins over <meta>


def test_fffd_in_title_or_body_is_refused() -> None:
    html = _read(HAND / "template_b_cj_2022-04-08_9724513.html").replace("据悉", "据\ufffd")
    with pytest.raises(ExtractionError, match="body"):
        extract_article(html, url=f"{LOOP}/cj/2022/04-08/9724513.shtml")


# --------------------------------------------------------------------------- failures


def test_soft_404_is_a_failure() -> None:
    with pytest.raises(SoftNotFound):
        extract_article(_read(HAND / "soft404.html"), url=f"{LOOP}/gn/2026/01-01/10500000.shtml")


@pytest.mark.parametrize(
    "head",
    [
        "<title> 页面没有找到 </title>",
        '<title>中新网</title><meta name="keywords" content="404missing">',
    ],
)
def test_soft_404_variants(head: str) -> None:
    html = f"<html><head>{head}</head><body><div id='cont_1_1_2'><h1>x</h1><div class='left_zw'><p>y</p></div></div></body></html>"
    with pytest.raises(SoftNotFound):
        extract_article(html, url=f"{LOOP}/gn/2026/01-01/10500000.shtml")


def test_not_an_article_and_missing_fields() -> None:
    html = _read(HAND / "template_b_cj_2022-04-08_9724513.html")
    with pytest.raises(NotAnArticle):
        extract_article(html, url=f"{LOOP}/china.shtml")
    with pytest.raises(NotAnArticle):
        extract_article(
            "<html><body><div class='hd_photo'></div></body></html>",
            url=f"{LOOP}/tp/hd2011/2026/09-27/1.shtml",
        )
    no_body = re.sub(r'<div class="left_zw">.*?</div>\s*</div>', "</div>", html, flags=re.DOTALL)
    with pytest.raises(ExtractionError, match=r"^body"):
        extract_article(no_body, url=f"{LOOP}/cj/2022/04-08/9724513.shtml")
    no_time = re.sub(
        r'<div id="BaiduSpider".*?</div>|<input id="news(date|time)"[^>]*>|<div class="content_left_time">.*?</div>',
        "",
        html,
        flags=re.DOTALL,
    )
    with pytest.raises(ExtractionError, match=r"^published"):
        extract_article(no_time, url=f"{LOOP}/cj/2022/04-08/9724513.shtml")
    no_title = re.sub(r"<h1 class=\"content_left_title\">.*?</h1>|<input id=\"newstitle\"[^>]*>", "", html)
    with pytest.raises(ExtractionError, match=r"^title"):
        extract_article(no_title, url=f"{LOOP}/cj/2022/04-08/9724513.shtml")


# --------------------------------------------------------------------------- match key


def test_match_key_is_source_neutral() -> None:
    published = datetime(2022, 4, 8, 17, 57, 45, tzinfo=BEIJING)
    key = match_key("短视频平台汇聚抗“疫”新暖流 快手多举措联动", published)
    assert key == "短视频平台汇聚抗疫新暖流快手多举措联动|2022-04-08 17:57"
    # Eastmoney spelling: half-width quotes, full-width space, UTC time, other seconds
    utc = datetime(2022, 4, 8, 9, 57, 3, tzinfo=UTC)
    assert match_key('短视频平台汇聚抗"疫"新暖流\u3000快手多举措联动 ', utc) == key
    assert match_key("Ｃhina　ＧＤＰ：增长", published) == match_key("china gdp 增长", published)
    assert match_key("", published) == ""
    assert match_key("标题", None) == ""
    assert match_key("“”【】", published) == ""
    assert match_key("短视频平台汇聚抗疫新暖流", published) != key


def test_the_same_story_both_ways_has_one_match_key() -> None:
    """The golden Eastmoney post (media 中国新闻网) and the hand-made chinanews original."""
    item = extract_article(
        _read(HAND / "template_b_cj_2022-04-08_9724513.html"), url=f"{LOOP}/cj/2022/04-08/9724513.shtml"
    )
    # title and date lines of the golden seed post (shared/seeds/000_3c9ac8582064baac.txt)
    eastmoney_title = "短视频平台汇聚抗“疫”新暖流 快手多举措联动"
    eastmoney_time = datetime.strptime("2022-04-08 17:57:45 +0800", "%Y-%m-%d %H:%M:%S %z")
    assert match_key(eastmoney_title, eastmoney_time) == match_key(item.title, item.published)
    later = eastmoney_time + timedelta(minutes=1)
    assert match_key(eastmoney_title, later) != match_key(item.title, item.published)


def test_merge_keeps_every_other_field() -> None:
    item = extract_article(
        _read(HAND / "template_b_cj_2022-04-08_9724513.html"), url=f"{LOOP}/cj/2022/04-08/9724513.shtml"
    )
    merged = merge_pages(replace(item, aliases=["eastmoney:202204082336871455"]), ["<p>二</p>"])
    assert merged.aliases == ["eastmoney:202204082336871455"]
    assert merged.body_html.endswith("<p>二</p>")


def test_preclean_resolves_relative_images_against_a_page_url() -> None:
    page = f"{LOOP}/gn/2021/06-01/9489001.shtml"  # the clean pipeline passes the article URL
    html = '<p><img src="U1.jpg"><img src="/gn/2021/06-01/U2.jpg"><img src="//i2.chinanews.com/U3.jpg"></p>'
    assert _images(preclean_body(html, base_url=page).html) == [
        f"{LOOP}/gn/2021/06-01/U1.jpg",
        f"{LOOP}/gn/2021/06-01/U2.jpg",
        "https://i2.chinanews.com/U3.jpg",
    ]

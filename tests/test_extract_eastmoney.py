"""Eastmoney extraction on saved payloads: list shapes, ids, GetNewsText bodies, article pages, pre-clean."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html

from crawler.items import ArticleItem
from crawler.postformat import has_liquid
from crawler.sources.common import ExtractionError, UpstreamFormatError
from crawler.sources.eastmoney.extract import (
    ListEntry,
    ListPage,
    extract_article_page,
    extract_text_payload,
    parse_article_id,
    parse_list_payload,
    preclean_body,
)
from crawler.timeutil import BEIJING
from pipelines.sanitize import sanitize_html

FIXTURES = Path(__file__).parent / "fixtures" / "eastmoney"
SEED = FIXTURES / "seed" / "000_3c9ac8582064baac.txt"
ERRORS = {"UpstreamFormatError": UpstreamFormatError, "ExtractionError": ExtractionError}


def _cases(kind: str) -> list[Path]:
    found = []
    for meta in sorted(FIXTURES.glob("*/meta.json")):
        if json.loads(meta.read_text(encoding="utf-8"))["kind"] == kind:
            found.append(meta.parent)
    assert found, f"no fixtures of kind {kind}"
    return found


def _load(case: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    inputs = [p for p in case.iterdir() if p.name.startswith("input.")]
    assert len(inputs) == 1, case
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    return inputs[0].read_text(encoding="utf-8"), meta, expected


def _page_dict(page: ListPage) -> dict[str, Any]:
    return {"entries": [e.to_context() for e in page.entries], "total": page.total, "cursor": page.cursor}


def _entry(meta: dict[str, Any]) -> ListEntry | None:
    return ListEntry.from_context(meta["entry"]) if meta.get("entry") else None


def _check_error(call: Any, expected: dict[str, Any]) -> None:
    with pytest.raises(ERRORS[expected["error"]]) as info:
        call()
    for fragment in expected["message_contains"]:
        assert fragment in str(info.value)


# --------------------------------------------------------------------------- list payloads


@pytest.mark.parametrize("case", _cases("list"), ids=lambda p: p.name)
def test_list_payload_fixture(case: Path) -> None:
    text, meta, expected = _load(case)
    kwargs = {"article_url": meta["article_url"]} if "article_url" in meta else {}
    if "error" in expected:
        _check_error(lambda: parse_list_payload(text, **kwargs), expected)
        return
    assert _page_dict(parse_list_payload(text, **kwargs)) == expected


def test_columns_record_rules() -> None:
    """The rules the spider relies on, spelled out on the columns fixture."""
    text, _, _ = _load(FIXTURES / "list-columns-code-str")
    page = parse_list_payload(text)
    ids = [e.article_id for e in page.entries]
    assert "20260702101113747001360" not in ids  # Caifuhao (Np_dst CFH) skipped
    assert "20180912944502216" in ids  # 17-digit ids accepted
    assert all(re.fullmatch(r"\d{17,}", i) for i in ids)
    no_title = next(e for e in page.entries if e.article_id == "202205262391921712")
    assert no_title.title == ""  # kept: the validate pipeline decides
    no_time = next(e for e in page.entries if e.article_id == "202112082206672930")
    assert no_time.published is None
    first = page.entries[0]
    assert first.published == datetime(2022, 4, 8, 17, 57, 45, tzinfo=BEIJING)
    assert first.url == "https://finance.eastmoney.com/a/202204082336871455.html"  # https, canonical
    assert first.info_code == "NW202204082336871455"


def test_nw_prefix_stripped_from_legacy45() -> None:
    text, _, _ = _load(FIXTURES / "list-legacy45")
    entries = parse_list_payload(text).entries
    assert [e.article_id for e in entries] == ["202204082336871455", "20170401725887367"]
    assert [e.info_code for e in entries] == ["NW202204082336871455", "NW20170401725887367"]


def test_jsonp_and_ajaxresult_wrappers_match_plain_json() -> None:
    jsonp, _, _ = _load(FIXTURES / "list-jsonp")
    plain = re.sub(r"^[^(]+\((.*)\);\s*$", r"\1", jsonp, flags=re.DOTALL)
    assert parse_list_payload(jsonp) == parse_list_payload(plain)
    var, _, _ = _load(FIXTURES / "list-kuaixun-var")
    assert parse_list_payload(var) == parse_list_payload(var.removeprefix("var ajaxResult=").rstrip(";"))


@pytest.mark.parametrize(
    "text",
    ["", "   ", "[]", '"just a string"', "null", "callback(", "<html><body>blocked</body></html>"],
)
def test_list_payload_garbage_raises(text: str) -> None:
    with pytest.raises(UpstreamFormatError):
        parse_list_payload(text)


def test_list_entry_context_round_trip() -> None:
    text, _, _ = _load(FIXTURES / "list-columns-code-str")
    for entry in parse_list_payload(text).entries:
        context = entry.to_context()
        assert json.loads(json.dumps(context)) == context
        assert ListEntry.from_context(context) == entry


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("NW202204082336871455", "202204082336871455"),
        ("nw202204082336871455", "202204082336871455"),
        ("202204082336871455", "202204082336871455"),
        ("20180912944502216", "20180912944502216"),
        ("NW20170401725887367", "20170401725887367"),
        (" 202204082336871455\n", "202204082336871455"),
        (
            "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW202204082336871455",
            "202204082336871455",
        ),
        (
            "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202204082336871455",
            "202204082336871455",
        ),
        ("https://finance.eastmoney.com/a/202204082336871455.html", "202204082336871455"),
        ("http://finance.eastmoney.com/a/202204082336871455.html", "202204082336871455"),
        ("https://wap.eastmoney.com/a/202204082336871455.html", "202204082336871455"),
        ("http://finance.eastmoney.com/news/11060,202112082206672930.html", "202112082206672930"),
        ("http://finance.eastmoney.com/news/1344,20180912944502216.html", "20180912944502216"),
        ("http://hk.eastmoney.com/news/11362,202112082206885265.html", "202112082206885265"),
        (
            "http://choicewzp1.eastmoney.com/NewsData/GetNewsText.do?id=NW202204082336871455",
            "202204082336871455",
        ),
        (
            "http://app.jg.eastmoney.com/NewsData/GetNewsText.do?id=202204082336871455&cid=Admin",
            "202204082336871455",
        ),
        ("http://wap.eastmoney.com/3g/news/article,8,344,1,20160127589986793.shtml", "20160127589986793"),
        ("", None),
        ("12345", None),
        ("2022040823368", None),
        ("AN202607271827362108", None),
        ("S888009007", None),
        ("https://finance.eastmoney.com/", None),
        ("https://finance.eastmoney.com/a/cjdd.html", None),
        ("http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=AN202607271827362108", None),
        ("not an id at all", None),
    ],
)
def test_parse_article_id(value: str, expected: str | None) -> None:
    assert parse_article_id(value) == expected


# --------------------------------------------------------------------------- GetNewsText bodies


def _item_dict(item: ArticleItem) -> dict[str, Any]:
    return {
        "source": item.source,
        "article_id": item.article_id,
        "title": item.title,
        "published": item.published.isoformat() if item.published else None,
        "url": item.url,
        "media": item.media,
        "feed": item.feed,
        "summary": item.summary,
        "share_url": item.share_url,
        "origin": item.origin,
        "editor": item.editor,
        "author": item.author,
    }


@pytest.mark.parametrize("case", _cases("text"), ids=lambda p: p.name)
def test_text_payload_fixture(case: Path) -> None:
    text, meta, expected = _load(case)
    entry = _entry(meta)
    assert entry is not None
    if "error" in expected:
        _check_error(lambda: extract_text_payload(text, entry, url=meta["url"]), expected)
        return
    item = extract_text_payload(text, entry, url=meta["url"])
    if "result" in expected:
        assert item is expected["result"]
        return
    assert item is not None
    # The body is the API's HTML untouched: the real fragment, byte for byte.
    real = (FIXTURES / expected.pop("body_html_from")).read_text(encoding="utf-8")
    assert item.body_html == real
    assert _item_dict(item) == expected
    assert item.key == f"eastmoney:{entry.article_id}"


def test_text_payload_prefers_text_then_content() -> None:
    entry = ListEntry.from_context(
        json.loads((FIXTURES / "text-real-nw202204082336871455" / "meta.json").read_text(encoding="utf-8"))[
            "entry"
        ]
    )
    both = json.dumps({"text": "<p>正文</p>", "content": "<p>另一份</p>"})
    content_only = json.dumps({"text": "", "content": "<p>另一份</p>"})
    item = extract_text_payload(both, entry, url="http://127.0.0.1/x")
    assert item is not None
    assert item.body_html == "<p>正文</p>"
    item = extract_text_payload(content_only, entry, url="http://127.0.0.1/x")
    assert item is not None
    assert item.body_html == "<p>另一份</p>"
    assert extract_text_payload("{}", entry, url="http://127.0.0.1/x") is None


# --------------------------------------------------------------------------- article pages


@pytest.mark.parametrize("case", _cases("page"), ids=lambda p: p.name)
def test_article_page_fixture(case: Path) -> None:
    text, meta, expected = _load(case)
    entry = _entry(meta)
    if "error" in expected:
        _check_error(lambda: extract_article_page(text, entry, url=meta["url"]), expected)
        return
    item = extract_article_page(text, entry, url=meta["url"])
    contains = expected.pop("body_contains")
    excludes = expected.pop("body_excludes")
    assert _item_dict(item) == expected
    for fragment in contains:
        assert fragment in item.body_html
    for fragment in excludes:
        assert fragment not in item.body_html


def test_article_page_body_survives_nested_divs() -> None:
    """A non-greedy regex would stop at the ad's first </div>; the DOM selector must not."""
    text, meta, _ = _load(FIXTURES / "page-current")
    body = extract_article_page(text, None, url=meta["url"]).body_html
    assert body.index("ad_context3") < body.index("截至4月5日") < body.index("文章来源")


def test_article_page_then_preclean() -> None:
    text, meta, _ = _load(FIXTURES / "page-legacy")
    item = extract_article_page(text, None, url=meta["url"])
    cleaned = preclean_body(item.body_html, base_url=item.url)
    assert cleaned.editor == "王五"
    out = sanitize_html(cleaned.html, base_url=item.url)
    assert "IMG#" not in out
    assert "责任编辑" not in out
    assert "<p>深交所12日表示，将进一步加强上市公司监管。</p>" in out.split("\n")
    assert "<td>项目</td>" in out.split("\n")


# --------------------------------------------------------------------------- pre-clean + sanitise on real bodies


def _visible_paragraphs(fragment: str) -> list[str]:
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    texts = []
    for p in root.iter("p"):
        if re.search(r"display\s*:\s*none", p.get("style") or ""):
            continue
        text = re.sub(r"\s+", "", p.text_content())
        if text:
            texts.append(text)
    return texts


def _seed_body() -> str:
    post = SEED.read_text(encoding="utf-8")
    body = post.split("\n---\n", 1)[1]
    return body.split("\n\n<http://finews.zning.xyz/", 1)[0]


@pytest.mark.parametrize("case", _cases("clean"), ids=lambda p: p.name)
def test_clean_fixture(case: Path) -> None:
    text, meta, expected = _load(case)
    cleaned = preclean_body(text, base_url=meta["base_url"])
    out = sanitize_html(cleaned.html, base_url=meta["base_url"])
    assert (cleaned.origin, cleaned.editor, cleaned.author) == (
        expected["origin"],
        expected["editor"],
        expected["author"],
    )
    assert out.split("\n") == expected["html"]
    assert not has_liquid(out)


def test_seed_body_text_survives_cleaning() -> None:
    """Every paragraph of the golden post survives; widgets, K-line image and hidden <p> do not."""
    seed = _seed_body()
    fragment = (FIXTURES / "clean-real-nw202204082336871455" / "input.html").read_text(encoding="utf-8")
    assert seed == fragment  # the real GetNewsText fragment is the seed's body
    base = "https://finance.eastmoney.com/a/202204082336871455.html"
    cleaned = preclean_body(fragment, base_url=base)
    out = sanitize_html(cleaned.html, base_url=base)

    assert cleaned.origin == "中国新闻网"
    expected = [t for t in _visible_paragraphs(seed) if t != "（文章来源：中国新闻网）"]
    assert len(expected) == 14  # 14 text paragraphs (plus 2 images)
    assert _visible_paragraphs(out) == expected
    assert "文章来源" not in out
    for gone in ("EM_StockImg", "webquoteklinepic", "token=", "display", "<center", "style=", "class="):
        assert gone not in out
    images = re.findall(r'<img src="([^"]+)"', out)
    assert images == [
        "https://dfscdn.dfcfw.com/download/D25142679471871442176_w700h395.jpg",
        "https://dfscdn.dfcfw.com/download/D25423380243271724215_w475h650.jpg",
    ]
    assert out.startswith("<p>新冠疫情此起彼伏")  # no hidden/empty paragraph first (excerpt)


def test_content_fragment_stock_spans_unwrapped() -> None:
    base = "https://finance.eastmoney.com/a/202205262391921712.html"
    fragment = (FIXTURES / "clean-real-202205262391921712" / "input.html").read_text(encoding="utf-8")
    cleaned = preclean_body(fragment, base_url=base)
    assert cleaned.origin == "上海证券报"  # the 证券 stock span inside the source line is flattened
    for widget in (
        "keytip",
        "em_stock_key_common",
        "quote_",
        "bkquote_",
        "stock_",
        "infokey",
        "data-code",
        "<span",
    ):
        assert widget not in cleaned.html
    assert "宣布为蔚来旗下ET7新能源汽车提供" in cleaned.html
    assert (
        "目前A股已有部分制冷剂生产企业具备产能，国内大型制冷剂生产企业亦均将其作为未来新的业绩增长点"
        in cleaned.html
    )
    out = sanitize_html(cleaned.html, base_url=base)
    assert "quote.eastmoney.com" not in out
    assert "<p>具体来看" not in out
    assert "具体来看，巨化股份、联创股份已有HFO-1234yf产品，国新文化控股子公司" in out
    assert "《&lt;蒙特利尔议定书&gt;基加利修正案》" in out  # escaped text stays escaped
    assert len(re.findall(r"<img ", out)) == 3
    expected = [t for t in _visible_paragraphs(fragment) if not t.startswith("（文章来源")]
    assert _visible_paragraphs(out) == expected


def test_preclean_handmade_noise() -> None:
    base = "https://finance.eastmoney.com/a/202204082336871455.html"
    text = (FIXTURES / "clean-handmade-noise" / "input.html").read_text(encoding="utf-8")
    cleaned = preclean_body(text, base_url=base)
    assert (cleaned.origin, cleaned.editor) == ("证券时报", "张三")
    for gone in (
        "webquoteklinepic",
        "妙想",
        "隐藏",
        "acttg",
        "em_handle_adv_close",
        "广告文字",
        "郑重声明",
        "IMG#",
        "责任编辑",
        "文章来源",
        "\u3000",
    ):
        assert gone not in cleaned.html
    for kept in (
        "据贵州茅台公告，业绩增长。<br>第二行缩进。",
        "<strong>小标题</strong>",
        "<table>",
        "D1234_w600h400.jpg",
    ):
        assert kept in cleaned.html


def test_preclean_empty() -> None:
    assert preclean_body("", base_url="https://finance.eastmoney.com/").html == ""
    assert preclean_body("<!-- EM_StockImg_Start --><p>x</p><!-- EM_StockImg_End -->", base_url="").html == ""


def test_stockimg_markers_never_swallow_article_text() -> None:
    base = "https://finance.eastmoney.com/a/202204082336871455.html"
    spaced = "<p>前</p><!--  EM_StockImg_Start  --><p><img src='https://webquoteklinepic.eastmoney.com/GetPic.aspx?token=1'></p>图注<!--EM_StockImg_End-->尾<p>后</p>"
    assert preclean_body(spaced, base_url=base).html == "<p>前</p>尾<p>后</p>"
    unpaired = "<!-- EM_StockImg_Start --><p>正文一</p><!-- EM_StockImg_Start --><p>X</p><!-- EM_StockImg_End --><p>正文二</p>"
    assert preclean_body(unpaired, base_url=base).html == "<p>正文一</p><p>正文二</p>"
    nested = "<p>开头<!-- EM_StockImg_Start --><a class='x'><img src='https://e.com/k.png'></a><!-- EM_StockImg_End -->结尾</p>"
    assert preclean_body(nested, base_url=base).html == "<p>开头结尾</p>"


def test_origin_line_variants() -> None:
    base = "https://finance.eastmoney.com/"
    half_width = preclean_body("<p>正文</p><p>(文章来源:新华社)</p>", base_url=base)
    assert (half_width.origin, half_width.html) == ("新华社", "<p>正文</p>")
    plain = preclean_body('<p>正文</p><p class="em_media">文章来源：证券时报网</p>', base_url=base)
    assert (plain.origin, plain.html) == ("证券时报网", "<p>正文</p>")
    body_mention = preclean_body("<p>据本报文章来源于调查，来源：某处。</p>", base_url=base)
    assert body_mention.origin == ""
    assert "文章来源" in body_mention.html

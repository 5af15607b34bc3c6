"""The golden test: the seed's upstream payload renders to a post compatible with the seed."""

from __future__ import annotations

import re
from pathlib import Path

import frontmatter
from lxml import html as lxml_html

from crawler.postformat import SiteSettings, render_post
from crawler.sources.eastmoney.extract import ListEntry, extract_text_payload
from crawler.timeutil import parse_beijing
from pipelines.clean import clean_item

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
SEED_SITE = SiteSettings(url="//finews.withounder.com")
SHARE = "http://finews.zning.xyz/html_News/NewsShare.html?infoCode={id}"


def _seed_item():
    entry = ListEntry(
        article_id="202204082336871455",
        info_code="NW202204082336871455",
        title="短视频平台汇聚抗“疫”新暖流 快手多举措联动",
        published=parse_beijing("2022-04-08 17:57:45"),
        media="中国新闻网",
        summary="",
        url="https://finance.eastmoney.com/a/202204082336871455.html",
        feed="legacy45",
    )
    import json

    payload = json.dumps({"text": (GOLDEN / "seed-body.fragment.html").read_text(encoding="utf-8")})
    item = extract_text_payload(payload, entry, url=entry.url)
    assert item is not None
    item.share_url = SHARE.format(id=entry.info_code)
    item.category, item.tag = "zhongguoxinwenwang", "中国新闻网新闻"
    return clean_item(item)


def _text_of(fragment: str) -> str:
    return re.sub(r"\s+", "", lxml_html.fragment_fromstring(fragment, create_parent="div").text_content())


def _images(fragment: str) -> list[str]:
    return re.findall(r'<img[^>]+src="(https://dfscdn[^"]+)"', fragment)


def test_seed_file_name_front_matter_and_footer():
    seed = (GOLDEN / "seed-post.md").read_text(encoding="utf-8")
    rendered = render_post(_seed_item(), SEED_SITE)

    assert rendered.relpath == "_posts/2022-04-08-NW202204082336871455.md"
    ours, theirs = frontmatter.loads(rendered.text), frontmatter.loads(seed)
    for key, value in theirs.metadata.items():
        assert ours.metadata[key] == value, key
    assert list(ours.metadata)[:5] == ["layout", "title", "date", "categories", "tags"]
    # the seed's five front-matter lines, byte for byte
    assert rendered.text.splitlines()[1:6] == seed.splitlines()[1:6]
    # the link line and the footer line, byte for byte, in the same order at the end
    assert rendered.text.rstrip("\n").splitlines()[-3:] == seed.splitlines()[-3:]


def test_seed_article_text_and_images_survive_cleaning():
    seed_body = frontmatter.loads((GOLDEN / "seed-post.md").read_text(encoding="utf-8")).content
    seed_article = seed_body.split("\n\n<http")[0]
    item = _seed_item()
    expected_text = _text_of(seed_article).replace("（文章来源：中国新闻网）", "")
    assert _text_of(item.body) == expected_text
    assert _images(item.body) == _images(seed_article)
    assert len(_images(item.body)) == 2
    assert item.origin == "中国新闻网"
    # what the seed had and a clean mirror must not: the hidden paragraph, the tokened K-line chart
    assert "webquoteklinepic" not in item.body
    assert "display:none" not in item.body
    assert "EM_StockImg" not in item.body


def test_rendering_is_deterministic_apart_from_fetch_time():
    a, b = _seed_item(), _seed_item()
    assert render_post(a, SEED_SITE).content_hash == render_post(b, SEED_SITE).content_hash

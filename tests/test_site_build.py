"""The generated site builds with the real Jekyll, and every post and category page is where links point.

Posts come from both sources through the crawl's own pipelines, hostile titles and bodies
included; one is rotated into the archive. Needs the ``jekyll`` command (Debian: jekyll,
ruby-jekyll-feed): skipped locally without it, a failure when ``$CI`` is set.
"""

from __future__ import annotations

import functools
import html
import os
import shutil
import subprocess
import threading
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import pytest
from lxml import html as lxml_html

from crawler.archive.rotate import rotate
from crawler.postformat import as_list, iter_post_paths, parse_post, parse_post_date
from crawler.site import init_site, template_files, write_category_pages
from crawler.timeutil import now_beijing, parse_beijing
from pipelines.store import PostStore
from tests.archive_support import (
    Crawl,
    chinanews_item,
    days_ago,
    eastmoney_item,
    jekyll_build,
    make_config,
    text_of,
)

pytestmark = pytest.mark.jekyll

HOSTILE_TITLE = '他说"你好": {{ site.title }} {% raw %} <script>alert(1)</script> \\ 反斜杠 #不是注释'
HOSTILE_BODY = (
    "<p>正文 {{ site.title }} 与 {% include nope.html %} 以及 {% endraw %} 都是文字。</p>"
    "<script>alert('x')</script>"
    "<div># 不是标题</div>"
    "<p>    四个空格开头</p>"
    "<p>| a | b |</p>"
    "<p>*不是强调* _也不是_ [链接](javascript:alert(1))</p>"
    "<p>结尾}}{{</p>"
)


def _url_of(meta: dict, slug: str) -> str:
    """Where Jekyll puts a post under our permalink: /:categories/:year/:month/:day/:title.html."""
    when, has_offset = parse_post_date(meta["date"])
    assert when is not None and has_offset
    cats = "/".join(c.lower() for c in as_list(meta["categories"]))
    return f"/{cats}/{when:%Y/%m/%d}/{slug}.html"


def _page_text(path: Path, selector: str = "main") -> str:
    doc = lxml_html.fromstring(path.read_text(encoding="utf-8"))
    nodes = doc.cssselect(selector)
    assert nodes, f"{selector} missing in {path}"
    return " ".join(nodes[0].text_content().split())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    config = make_config(root)
    init_site(config.output_dir)
    crawl = Crawl(config)
    items = [
        eastmoney_item(
            "202204082336871455",
            title="短视频平台汇聚抗“疫”新暖流 快手多举措联动",
            published=parse_beijing("2022-04-08 17:57:45"),
            media="中国新闻网",
        ),
        # 00:19 in Beijing is the previous day in UTC: the URL must carry the Beijing day.
        eastmoney_item(
            "202205262391921712",
            title=HOSTILE_TITLE,
            published=parse_beijing("2022-05-26 00:19:55"),
            media="21世纪经济报道 21财经APP",
            body_html=HOSTILE_BODY,
        ),
        eastmoney_item(
            "202112082206672930",
            title="---",
            published=days_ago(0, 9),
            media="",
            body_html="<p>离岸人民币兑美元升至6.3512，为2018年以来最高水平。</p>",
        ),
        chinanews_item(),
        # upstream clock slightly ahead: Jekyll must not drop it (future: true)
        chinanews_item(
            article_id="9229288",
            title="yes",
            published=now_beijing() + timedelta(minutes=20),
            body_html="<p>{% if true %}未来十分钟{% endif %} &amp; &lt;b&gt;</p><p>第二段</p>",
        ),
        eastmoney_item(
            "201901010000000001",
            title="[bracket] * star & amp: 安信国际证券(香港)",
            published=parse_beijing("2019-01-01 08:00:00"),
            media="安信国际证券(香港)",
            body_html="<p>很久以前的消息，会被归档。</p>",
        ),
    ]
    for item in items:
        assert crawl.feed(item), item.key
    state = crawl.state
    state.assign_category("新华社", "xinhuashe", "新华社新闻")  # in the registry, no post in the window
    store = PostStore(config.output_dir)
    moved = rotate(
        store,
        state,
        keep_days=3,
        archive_dir=config.output.archive_dir,
        now=parse_beijing("2020-01-01 12:00:00"),
    )
    assert moved.moved == [f"{config.output.archive_dir}/2019-01-01-NW201901010000000001.md"]
    write_category_pages(state, config.output_dir)
    dest = root / "_site"
    result = jekyll_build(config.output_dir, dest)
    assert result.returncode == 0, result.stdout + result.stderr
    yield config, state, dest, result
    crawl.close()


def test_every_post_is_at_its_url_with_its_text(built):
    config, _, dest, _ = built
    posts = [
        p for p in iter_post_paths(config.output_dir, config.output.archive_dir) if p.startswith("_posts/")
    ]
    assert len(posts) == 5
    for rel in posts:
        post = parse_post(rel, (config.output_dir / rel).read_text(encoding="utf-8"))
        assert post.meta is not None, rel
        page = dest / _url_of(post.meta, post.slug).lstrip("/")
        assert page.is_file(), f"{rel} not built at {page.relative_to(dest)}"
        body_only = post.body.split("\n\n<http", 1)[0]
        assert text_of(body_only)[:400] in _page_text(page, ".post-content"), rel
        assert _page_text(page, ".post-title") == " ".join(post.meta["title"].split())


def test_beijing_day_in_url_and_future_post_published(built):
    _, _, dest, _ = built
    assert (dest / "21shijijingjibaodao21caijingapp/2022/05/26/NW202205262391921712.html").is_file()
    today = now_beijing().date()
    future = list(dest.glob("zhongguoxinwenwang/*/*/*/cns9229288.html"))
    assert len(future) == 1
    assert future[0].parent.name in {f"{today.day:02d}", f"{(today + timedelta(days=1)).day:02d}"}


def test_liquid_and_html_in_articles_stay_text(built):
    _, _, dest, _ = built
    page = dest / "21shijijingjibaodao21caijingapp/2022/05/26/NW202205262391921712.html"
    raw = page.read_text(encoding="utf-8")
    text = _page_text(page, ".post-content")
    assert "{{ site.title }}" in text and "{% include nope.html %}" in text and "{% endraw %}" in text
    assert "结尾}}{{" in text
    assert "<script>alert" not in raw and 'href="javascript:' not in raw
    assert _page_text(page, ".post-title") == " ".join(HOSTILE_TITLE.split())
    assert "<script>alert(1)</script>" not in raw.split("<main>", 1)[1]
    future = next(dest.glob("zhongguoxinwenwang/*/*/*/cns9229288.html"))
    assert "{% if true %}未来十分钟{% endif %}" in _page_text(future, ".post-content")


def test_category_pages_for_every_registry_entry(built):
    config, state, dest, _ = built
    registry = state.categories()
    assert {slug for slug, _, _ in registry} >= {"xinhuashe", "zhongguoxinwenwang", "emnews"}
    for slug, _media, title in registry:
        page = dest / "category" / f"{slug}.html"
        assert page.is_file(), slug
        assert html.unescape(_page_text(page, "main h1")) == title
    # the footer of each post links to a page that exists
    for rel in iter_post_paths(config.output_dir, config.output.archive_dir):
        text = (config.output_dir / rel).read_text(encoding="utf-8")
        slug = text.rsplit("/category/", 1)[1].split(".html", 1)[0]
        assert (dest / "category" / f"{slug}.html").is_file(), rel
    listed = _page_text(dest / "category" / "zhongguoxinwenwang.html")
    assert "坚定实施扩大内需战略" in listed and "短视频平台汇聚抗“疫”新暖流" in listed


def test_archived_post_stays_on_the_site(built):
    config, state, dest, _ = built
    archived = dest / config.output.archive_dir / "2019-01-01-NW201901010000000001.html"
    assert archived.is_file()
    assert "很久以前的消息，会被归档。" in _page_text(archived, ".post-content")
    record = state.get_article("eastmoney:201901010000000001")
    assert record.post_path == f"{config.output.archive_dir}/2019-01-01-NW201901010000000001.md"
    # listed on its category page, under 归档
    cat = next(s for s, m, _ in state.categories() if m == "安信国际证券(香港)")
    assert "[bracket] * star & amp" in _page_text(dest / "category" / f"{cat}.html")
    # not a post: not in the feed
    assert "201901010000000001" not in (dest / "feed.xml").read_text(encoding="utf-8")


def test_feed_home_and_404(built):
    config, _, dest, _ = built
    feed = ElementTree.parse(dest / "feed.xml").getroot()
    entries = feed.findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == 5
    home = _page_text(dest / "index.html")
    assert "坚定实施扩大内需战略" in home
    assert (dest / "404.html").is_file()
    assert f'"/{config.output.archive_dir}/"' in (dest / "404.html").read_text(encoding="utf-8")
    assert (dest / "assets/css/style.css").is_file()


def test_jekyll_warns_about_nothing(built):
    *_, result = built
    noisy = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if any(w in line.lower() for w in ("warn", "error", "deprecat", "liquid"))
    ]
    assert noisy == []


def test_committed_scaffold_matches_the_template():
    """output/ in the repository holds the same scaffold init-site writes."""
    repo_output = Path(__file__).resolve().parent.parent / "output"
    for rel in template_files():
        assert (repo_output / rel).is_file(), rel
        if rel == "_config.yml":
            continue
        from crawler.site import TEMPLATE_DIR

        assert (repo_output / rel).read_bytes() == (TEMPLATE_DIR / rel).read_bytes(), rel


def test_screenshot_of_a_post(built, tmp_path_factory):
    """A headless Chromium screenshot of a rendered post, for people to look at (skipped without Chromium)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on PATH (optional)")
    _, _, dest, _ = built
    page = next(dest.glob("zhongguoxinwenwang/2022/04/08/*.html"))
    out = Path(os.environ.get("WIREMIRROR_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots")) / "post.png"
    # served over loopback HTTP, as a web server would: root-relative asset links resolve
    handler = functools.partial(QuietHandler, directory=str(dest))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{page.relative_to(dest).as_posix()}"
    try:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1000,1400",
                f"--screenshot={out}",
                url,
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    print(f"screenshot of {page.relative_to(dest)}: {out}")
    assert out.is_file() and out.stat().st_size > 10_000


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_imported_predecessor_site_builds(tmp_path):
    """The real seed-site posts, imported with --fix, build; every post and page is at its URL."""
    from crawler.archive.importer import import_archive
    from crawler.state import StateStore
    from tests.archive_support import FIXTURES

    config = make_config(tmp_path)
    init_site(config.output_dir)
    with StateStore(config.db_path) as state:
        report = import_archive(FIXTURES / "seed-site", config, state, fix=True)
        assert report.ok
        registry = state.categories()
    dest = tmp_path / "_site"
    result = jekyll_build(config.output_dir, dest)
    assert result.returncode == 0, result.stdout + result.stderr
    for rel in iter_post_paths(config.output_dir, config.output.archive_dir):
        post = parse_post(rel, (config.output_dir / rel).read_text(encoding="utf-8"))
        if rel.startswith("_posts/"):
            page = dest / _url_of(post.meta, post.slug).lstrip("/")
        else:
            page = dest / config.output.archive_dir / (Path(rel).stem + ".html")
        assert page.is_file(), rel
        assert _page_text(page, ".post-title") == post.meta["title"]
        article = "\n".join(line.removeprefix("> ") for line in post.body.split("\n<http", 1)[0].splitlines())
        squeeze = "".join  # raw upstream HTML has no whitespace between paragraphs; the build adds some
        assert squeeze(text_of(article).split())[:40] in squeeze(_page_text(page, ".post-content").split()), (
            rel
        )
    for slug, _, title in registry:
        assert html.unescape(_page_text(dest / "category" / f"{slug}.html", "main h1")) == title
    # the archived Eastmoney post (raw upstream HTML, as the predecessor kept it) is listed on its category page
    assert "国内首次！蔚来汽车启用这款“绿色”制冷液" in _page_text(
        dest / "category" / "shanghaizhengquanbao.html"
    )

"""``wiremirror site build`` with both builders: same URLs, date archives, per-month category pages,
previous/next, the head, hostile content, a rebuild of only the changed periods, and a real browser.

One site is filled through the crawl's own pipelines (tests/archive_support.py), one post rotated
into the archive; it is built with Jekyll and with Hugo, each with its Pagefind index. Needs
``jekyll`` (Debian) and ``hugo``/``pagefind`` (the dev extra): skipped locally without them, a
failure when ``$CI`` is set. The browser test drives Debian's /usr/bin/chromium with Playwright
and keeps its screenshots in build/screenshots/ (or ``$WIREMIRROR_SCREENSHOT_DIR``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import threading
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import pytest
from lxml import html as lxml_html

from crawler.archive.rotate import rotate
from crawler.site import init_site, write_category_pages
from crawler.sitebuild import build_site, plan_shards, scan_posts, week_of
from crawler.timeutil import parse_beijing
from pipelines.store import PostStore
from tests.archive_support import Crawl, chinanews_item, eastmoney_item, make_config, require_jekyll
from tests.test_hostile import dangerous_bits
from tests.test_site_build import HOSTILE_BODY, HOSTILE_TITLE

pytestmark = pytest.mark.jekyll

REPO = Path(__file__).resolve().parent.parent
KUAISHOU = "短视频平台汇聚抗“疫”新暖流 快手多举措联动"
KUAISHOU_URL = "zhongguoxinwenwang/2022/04/08/NW202204082336871455.html"
NEXT_DAY_URL = "zhongguoxinwenwang/2022/04/09/NW202204092336871456.html"


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed but CI is set: pip install -e '.[dev]'")
        pytest.skip(f"{module} is not installed")


def _text(path: Path, selector: str = "main") -> str:
    doc = lxml_html.fromstring(path.read_text(encoding="utf-8"))
    nodes = doc.cssselect(selector)
    assert nodes, f"{selector} missing in {path}"
    return " ".join(nodes[0].text_content().split())


def _site_files(dest: Path) -> set[str]:
    return {
        p.relative_to(dest).as_posix()
        for p in dest.rglob("*")
        if p.is_file() and not p.relative_to(dest).as_posix().startswith("pagefind/")
    }


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    require_jekyll()
    _require("hugo")
    _require("pagefind")
    root = tmp_path_factory.mktemp("builders")
    config = make_config(root)
    init_site(config.output_dir)
    crawl = Crawl(config)
    items = [
        eastmoney_item(
            "202204082336871455",
            title=KUAISHOU,
            published=parse_beijing("2022-04-08 17:57:45"),
            media="中国新闻网",
        ),
        replace(  # corrected once upstream, then withdrawn (the revision marks, tests/test_revisions.py)
            eastmoney_item(
                "202204092336871456",
                title="第二天的消息",
                published=parse_beijing("2022-04-09 08:00:00"),
                media="中国新闻网",
                body_html="<p>第二天的正文，另一件事。</p>",
            ),
            revision=2,
            updated=parse_beijing("2022-04-09 10:30:00"),
            retracted=parse_beijing("2022-04-10 09:00:00"),
        ),
        eastmoney_item(
            "202205262391921712",
            title=HOSTILE_TITLE,
            published=parse_beijing("2022-05-26 00:19:55"),
            media="21世纪经济报道 21财经APP",
            body_html=HOSTILE_BODY,
        ),
        chinanews_item(),
        eastmoney_item(
            "201901010000000001",
            title="很久以前的消息",
            published=parse_beijing("2019-01-01 08:00:00"),
            media="安信国际证券(香港)",
            body_html="<p>很久以前的消息，会被归档。</p>",
        ),
    ]
    for item in items:
        assert crawl.feed(item), item.key
    moved = rotate(
        PostStore(config.output_dir),
        crawl.state,
        keep_days=3,
        archive_dir=config.output.archive_dir,
        now=parse_beijing("2020-01-01 12:00:00"),
    )
    assert len(moved.moved) == 1
    write_category_pages(crawl.state, config.output_dir)
    reports = {}
    for builder in ("jekyll", "hugo"):
        reports[builder] = build_site(
            config.output_dir, builder=builder, dest=root / builder, archive_dir=config.output.archive_dir
        )
    yield root, config, crawl, reports
    crawl.close()


def test_both_builders_write_the_same_urls(sites):
    root, *_ = sites
    jekyll, hugo = _site_files(root / "jekyll"), _site_files(root / "hugo")
    assert jekyll == hugo
    assert {KUAISHOU_URL, NEXT_DAY_URL, "old_post/2019-01-01-NW201901010000000001.html"} <= hugo
    assert {"index.html", "feed.xml", "archive.html", "search.html", "categories.html", "404.html"} <= hugo
    assert {"archive/2022/04/08.html", "archive/2022/04.html", "category/zhongguoxinwenwang.html"} <= hugo
    assert "category/zhongguoxinwenwang/2022-04.html" in hugo
    assert "archive/2019/01/01.html" in hugo  # archived posts have their day too
    for builder in ("jekyll", "hugo"):
        assert (root / builder / "pagefind").is_dir(), builder


@pytest.mark.parametrize("builder", ["jekyll", "hugo"])
def test_date_archives_calendar_and_months(sites, builder):
    root, *_ = sites
    dest = root / builder
    day = _text(dest / "archive/2022/04/08.html")
    assert KUAISHOU in day and "2022-04-08 17:57" in day and "第二天的消息" not in day
    calendar = lxml_html.fromstring((dest / "archive/2022/04.html").read_bytes())
    links = {a.get("href") for a in calendar.cssselect("table.calendar a")}
    assert links == {"/archive/2022/04/08.html", "/archive/2022/04/09.html"}
    assert len(calendar.cssselect("table.calendar tbody tr")) == 5  # April 2022: Fri 1st … Sat 30th
    index = lxml_html.fromstring((dest / "archive.html").read_bytes())
    assert "/archive/2022/04.html" in {a.get("href") for a in index.cssselect("main a")}
    assert "2022年4月" in _text(dest / "archive.html")
    assert "很久以前的消息" in _text(dest / "archive/2019/01/01.html")  # an archived post


@pytest.mark.parametrize("builder", ["jekyll", "hugo"])
def test_category_page_links_its_months_and_home_shows_years(sites, builder):
    root, *_ = sites
    dest = root / builder
    category = lxml_html.fromstring((dest / "category/zhongguoxinwenwang.html").read_bytes())
    hrefs = {a.get("href") for a in category.cssselect("main a")}
    assert "/category/zhongguoxinwenwang/2022-04.html" in hrefs
    assert f"/{KUAISHOU_URL}" in hrefs
    month = _text(dest / "category/zhongguoxinwenwang/2022-04.html")
    assert KUAISHOU in month and "第二天的消息" in month and "坚定实施扩大内需战略" not in month
    home = _text(dest / "index.html")
    assert "2022-04-08 17:57" in home and "2020-07-04 12:10" in home  # the year, always
    # a category whose only post was rotated into the archive still lists it
    _, _, crawl, _ = sites
    (slug,) = [s for s, media, _ in crawl.state.categories() if media == "安信国际证券(香港)"]
    assert "很久以前的消息" in _text(dest / "category" / f"{slug}.html")


@pytest.mark.parametrize("builder", ["jekyll", "hugo"])
def test_post_links_previous_next_and_its_periods(sites, builder):
    root, *_ = sites
    page = lxml_html.fromstring((root / builder / KUAISHOU_URL).read_bytes())
    nav = {a.get("href") for a in page.cssselect("nav.post-nav a")}
    assert f"/{NEXT_DAY_URL}" in nav  # the next post of the category
    assert {"/category/zhongguoxinwenwang/2022-04.html", "/archive/2022/04/08.html"} <= nav
    # within the category: the older 中国新闻网 post (2020), not the newer post of another category
    assert "/zhongguoxinwenwang/2020/07/04/cns9229287.html" in nav, nav
    newest = lxml_html.fromstring((root / builder / NEXT_DAY_URL).read_bytes())
    newest_nav = [a.get("href") for a in newest.cssselect("nav.post-nav a")]
    assert f"/{KUAISHOU_URL}" in newest_nav and not any("/2022/05/26/" in h for h in newest_nav), newest_nav


@pytest.mark.parametrize("builder", ["jekyll", "hugo"])
def test_a_revised_and_retracted_post_says_so_to_its_reader(sites, builder):
    root, *_ = sites
    page = lxml_html.fromstring((root / builder / NEXT_DAY_URL).read_bytes())
    (notice,) = page.cssselect("p.post-retracted")
    assert "此稿已被来源撤回" in notice.text_content() and "2022-04-10 09:00" in notice.text_content()
    (revision,) = page.cssselect("p.post-revision")
    assert "第 2 版" in revision.text_content() and "2022-04-09 10:30" in revision.text_content()
    assert "第二天的正文" in page.cssselect("div.post-content")[0].text_content()  # the text stays
    plain = lxml_html.fromstring((root / builder / KUAISHOU_URL).read_bytes())
    assert not plain.cssselect("p.post-retracted, p.post-revision")


@pytest.mark.parametrize("builder", ["jekyll", "hugo"])
def test_head_describes_the_post_not_the_site(sites, builder):
    root, *_ = sites
    doc = lxml_html.fromstring((root / builder / KUAISHOU_URL).read_bytes())

    def meta(selector: str) -> str:
        (found,) = doc.cssselect(selector)
        return found.get("content")

    description = meta('meta[name="description"]')
    assert "疫情" in description  # the first paragraph of the article
    assert (
        "金融消息聚合简站" not in description and "免责声明" not in description and "返回" not in description
    )
    assert meta('meta[property="og:description"]') == description
    assert meta('meta[property="og:type"]') == "article"
    assert meta('meta[property="og:title"]') == KUAISHOU
    assert meta('meta[property="og:url"]').endswith(f"/{KUAISHOU_URL}")
    assert doc.cssselect('link[type="application/atom+xml"]')


def test_hugo_pages_and_feed_carry_no_script_from_upstream(sites):
    """test_hostile.py's scan, on the Hugo build: only the search page has a script, ours."""
    root, *_ = sites
    dest = root / "hugo"
    for page in dest.rglob("*.html"):
        if page.relative_to(dest).parts[0] == "pagefind":
            continue
        doc = lxml_html.fromstring(page.read_bytes())
        found = dangerous_bits(doc.body)
        # 404.html: the archive redirect, as in the Jekyll scaffold (test_hostile exempts it too)
        if page.name == "404.html":
            assert set(found) == {"<script>"}, found
        elif page.name == "search.html":
            assert set(found) <= {"<script>", "<link>"}, found  # Pagefind's UI, put in by enable_search_page
            assert all(
                s.get("src", "").startswith("/pagefind/") for s in doc.body.iter("script") if s.get("src")
            )
        else:
            assert found == [], page
        assert [b for b in dangerous_bits(doc.head) if b != "<link>"] == [], page
    hostile = next(dest.glob("21shijijingjibaodao21caijingapp/2022/05/26/*.html"))
    assert "{{ site.title }}" in _text(hostile, ".post-content")
    assert _text(hostile, ".post-title") == " ".join(HOSTILE_TITLE.split())
    feed = ElementTree.parse(dest / "feed.xml")
    entries = feed.getroot().findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == 4  # posts, not the archived page
    for content in feed.iter("{http://www.w3.org/2005/Atom}content"):
        fragment = lxml_html.fragment_fromstring(content.text or "<p></p>", create_parent="div")
        assert dangerous_bits(fragment) == []


def test_periods_and_a_rebuild_of_only_what_changed(sites):
    root, config, crawl, reports = sites
    assert set(reports["hugo"].shards_built) >= {"top", "week:2022-W14", "month:2022-04"}
    entries = scan_posts(config.output_dir, config.output.archive_dir)
    shards = {s.name: s for s in plan_shards(entries, [])}
    assert [e.url for e in shards["week:2022-W14"].render] == [f"/{KUAISHOU_URL}", f"/{NEXT_DAY_URL}"]
    # the week's neighbours in the category are staged too (previous/next cross the boundary)
    assert "/zhongguoxinwenwang/2020/07/04/cns9229287.html" in {e.url for e in shards["week:2022-W14"].listed}
    assert week_of("2022-04-08") == "2022-W14"

    dest = root / "hugo"
    again = build_site(config.output_dir, builder="hugo", dest=dest, archive_dir=config.output.archive_dir)
    assert list(again.shards_built) == ["top"]  # nothing changed: only the home/category pages
    assert crawl.feed(
        eastmoney_item(
            "202204102336871457",
            title="新的一条",
            published=parse_beijing("2022-04-10 09:00:00"),
            media="中国新闻网",
        )
    )
    new_url = "zhongguoxinwenwang/2022/04/10/NW202204102336871457.html"
    after = build_site(config.output_dir, builder="hugo", dest=dest, archive_dir=config.output.archive_dir)
    assert sorted(after.shards_built) == ["month:2022-04", "top", "week:2022-W14"]
    assert (dest / new_url).is_file()
    assert "新的一条" in _text(dest / "index.html") and "新的一条" in _text(dest / "archive/2022/04/10.html")
    previous = lxml_html.fromstring((dest / NEXT_DAY_URL).read_bytes())
    assert f"/{new_url}" in {a.get("href") for a in previous.cssselect("nav.post-nav a")}
    # a post that goes away takes its page along (the other tests see the site as it was)
    (config.output_dir / "_posts" / "2022-04-10-NW202204102336871457.md").unlink()
    build_site(config.output_dir, builder="hugo", dest=dest, archive_dir=config.output.archive_dir)
    assert not (dest / new_url).exists() and "新的一条" not in _text(dest / "index.html")
    assert not (config.output_dir / "archive/2022/04/10.html").exists()
    assert not (dest / "archive/2022/04/10.html").exists()


# -- a real browser ---------------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _chromium() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).is_file():
        if os.environ.get("CI"):
            pytest.fail(
                "chromium is not installed but CI is set: apt-get install chromium fonts-wqy-microhei"
            )
        pytest.skip("no chromium")
    _require("playwright")
    return found


@pytest.mark.parametrize("builder", ["hugo", "jekyll"])
def test_a_reader_browses_and_searches_in_chinese(sites, builder):
    """Home → category → day → post, then 快手 typed into the search box finds the post."""
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    root, *_ = sites
    shots = Path(os.environ.get("WIREMIRROR_SCREENSHOT_DIR") or REPO / "build" / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root / builder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]  # fmt: skip
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=args, headless=True)
            page = browser.new_page(viewport={"width": 1000, "height": 1200})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/")
            assert page.locator("ul.post-list li").count() == 4
            page.screenshot(path=str(shots / f"{builder}-home.png"), full_page=True)
            page.click("text=分类")
            page.click("text=中国新闻网新闻")
            assert page.url.endswith("/category/zhongguoxinwenwang.html")
            page.click("text=2022年4月")
            assert page.locator("ul.post-list li").count() == 2
            page.screenshot(path=str(shots / f"{builder}-category-month.png"), full_page=True)
            page.goto(f"{base}/archive/2022/04.html")
            page.screenshot(path=str(shots / f"{builder}-calendar.png"), full_page=True)
            page.click("table.calendar a >> text=8")
            assert page.url.endswith("/archive/2022/04/08.html")
            page.screenshot(path=str(shots / f"{builder}-day.png"), full_page=True)
            page.click(f"text={KUAISHOU}")
            assert page.url.endswith(KUAISHOU_URL)
            assert page.locator("h1.post-title").inner_text() == KUAISHOU
            page.screenshot(path=str(shots / f"{builder}-post.png"))
            page.click("nav >> text=搜索")
            page.locator(".pagefind-ui__search-input").fill("快手")
            result = page.locator(".pagefind-ui__result-link").first
            result.wait_for(timeout=15_000)
            assert KUAISHOU in result.inner_text()
            assert page.locator(".pagefind-ui__result-link").count() == 1  # not the next-day post
            page.screenshot(path=str(shots / f"{builder}-search.png"), full_page=True)
            result.click()
            assert page.url.endswith(KUAISHOU_URL)
            assert errors == []
            browser.close()
    finally:
        server.shutdown()
        server.server_close()


def test_cli_site_build_and_pages(sites, tmp_path):
    """``wiremirror site pages`` and ``site build`` from the command line, on the same site."""
    import json

    from tests.archive_support import write_toml
    from tests.conftest import run_cli

    _, config, *_ = sites
    toml = write_toml(tmp_path, config)
    (config.output_dir / "archive/2022/04/08.html").unlink()
    pages = run_cli("site", "pages", "--config", str(toml))
    assert pages.returncode == 0, pages.stderr
    assert (config.output_dir / "archive/2022/04/08.html").is_file()
    dest = tmp_path / "built"
    build = run_cli(
        "site",
        "build",
        "--builder",
        "hugo",
        "--no-search",
        "--dest",
        str(dest),
        "--json",
        "--config",
        str(toml),
    )
    assert build.returncode == 0, build.stderr
    report = json.loads(build.stdout)
    assert report["builder"] == "hugo" and report["posts"] == 5 and "top" in report["shards_built"]
    assert (dest / KUAISHOU_URL).is_file() and not (dest / "pagefind").exists()
    bad = run_cli("site", "build", "--builder", "nope", "--config", str(toml))
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_the_predecessors_real_posts_get_the_same_urls_from_both_builders(tmp_path):
    """The seed site's real posts (digest-only, raw Eastmoney HTML, old date formats), imported with --fix."""
    from crawler.archive.importer import import_archive
    from crawler.state import StateStore
    from tests.archive_support import FIXTURES

    require_jekyll()
    _require("hugo")
    config = make_config(tmp_path)
    init_site(config.output_dir)
    with StateStore(config.db_path) as state:
        assert import_archive(FIXTURES / "seed-site", config, state, fix=True).ok
        write_category_pages(state, config.output_dir)
    built = {}
    for builder in ("jekyll", "hugo"):
        dest = tmp_path / builder
        build_site(
            config.output_dir, builder=builder, dest=dest, archive_dir=config.output.archive_dir, search=False
        )
        built[builder] = _site_files(dest)
    assert built["jekyll"] == built["hugo"]
    posts = [rel for rel in built["hugo"] if rel.count("/") == 4 or rel.startswith("old_post/")]
    assert len(posts) >= 5, sorted(built["hugo"])

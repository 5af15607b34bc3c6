"""archive stats and categories, init-site: counts from a crawled site, gaps, failures; the CLI tables."""

from __future__ import annotations

from datetime import date

from crawler.archive.stats import collect_stats, gap_ranges
from crawler.site import init_site, template_files
from crawler.state import StateStore
from crawler.timeutil import parse_beijing
from tests.archive_support import Crawl, chinanews_item, eastmoney_item, make_config, write_toml
from tests.conftest import run_cli


def _site(tmp_path):
    config = make_config(tmp_path)
    crawl = Crawl(config)
    for article_id, when, media in [
        ("202205200000000001", "2022-05-20 09:00:00", "上海证券报"),
        ("202205200000000002", "2022-05-20 23:59:00", "证券时报"),
        ("202205230000000003", "2022-05-23 00:01:00", "上海证券报"),
    ]:
        assert crawl.feed(
            eastmoney_item(
                article_id,
                title=f"标题{article_id}",
                published=parse_beijing(when),
                media=media,
                body_html=f"<p>{article_id}</p>",
            )
        )
    assert crawl.feed(chinanews_item(published=parse_beijing("2022-05-21 08:00:00")))
    crawl.state.record_failure(
        key="eastmoney:202205230000000009", source="eastmoney", url="http://x/a", error="boom"
    )
    crawl.close()
    return config, StateStore(config.db_path)


def test_counts_gaps_and_failures(tmp_path):
    config, state = _site(tmp_path)
    stats = collect_stats(state, archive_dir=config.output.archive_dir, today=date(2022, 5, 24))
    assert stats.total == 4 and stats.live == 4 and stats.archived == 0
    assert stats.per_source == {"eastmoney": 3, "chinanews": 1}
    assert stats.per_category == {"shanghaizhengquanbao": 2, "zhengquanshibao": 1, "zhongguoxinwenwang": 1}
    assert stats.per_day == {"2022-05-20": 2, "2022-05-21": 1, "2022-05-23": 1}
    assert stats.gaps == [("2022-05-22", "2022-05-22", 1), ("2022-05-24", "2022-05-24", 1)]
    assert stats.source_gaps["chinanews"] == [("2022-05-22", "2022-05-24", 3)]
    assert stats.failures == {"eastmoney": 1}
    since = collect_stats(
        state, archive_dir=config.output.archive_dir, since=date(2022, 5, 23), today=date(2022, 5, 23)
    )
    assert since.total == 1 and since.gaps == []


def test_gap_ranges():
    days = {"2022-01-01", "2022-01-04"}
    assert gap_ranges(days, date(2022, 1, 1), date(2022, 1, 6)) == [
        ("2022-01-02", "2022-01-03", 2),
        ("2022-01-05", "2022-01-06", 2),
    ]
    assert gap_ranges(set(), date(2022, 1, 1), date(2022, 1, 1)) == [("2022-01-01", "2022-01-01", 1)]


def test_cli_stats_and_categories(tmp_path):
    config, state = _site(tmp_path)
    state.assign_category("新华社", "xinhuashe", "新华社新闻")
    state.close()
    toml = write_toml(tmp_path, config)
    stats = run_cli("archive", "stats", "--config", str(toml), check=True)
    for text in (
        "posts per source",
        "eastmoney",
        "chinanews",
        "shanghaizhengquanbao",
        "2022-05-20",
        "gaps (days without any post)",
        "failures outstanding",
    ):
        assert text in stats.stdout, text
    cats = run_cli("archive", "categories", "--config", str(toml), check=True)
    assert "xinhuashe" in cats.stdout and "新华社新闻" in cats.stdout
    page = config.output_dir / "category" / "xinhuashe.html"
    assert (
        page.read_text(encoding="utf-8")
        == "---\nlayout: category\ntitle: 新华社新闻\ncategory: xinhuashe\n---\n"
    )
    mtime = page.stat().st_mtime_ns
    run_cli("archive", "categories", "--config", str(toml), check=True)
    assert page.stat().st_mtime_ns == mtime  # unchanged pages are not rewritten


def test_init_site_writes_the_scaffold_and_keeps_edits(tmp_path):
    site = tmp_path / "site"
    result = run_cli("init-site", str(site), check=True)
    assert "written" in result.stdout
    for rel in template_files():
        assert (site / rel).is_file(), rel
    assert (site / "old_post").is_dir()
    layout = site / "_layouts" / "post.html"
    layout.write_text("my own layout", encoding="utf-8")
    again = init_site(site)
    assert again.kept == ["_layouts/post.html"] and again.written == []
    assert layout.read_text(encoding="utf-8") == "my own layout"
    forced = init_site(site, force=True)
    assert forced.written == ["_layouts/post.html"]
    custom = init_site(
        tmp_path / "other", title='新闻: "镜像"', url="//news.example.org", archive_dir="archive"
    )
    text = (tmp_path / "other" / "_config.yml").read_text(encoding="utf-8")
    import yaml

    parsed = yaml.safe_load(text)
    assert parsed["title"] == '新闻: "镜像"' and parsed["url"] == "https://news.example.org"
    assert parsed["wiremirror"]["archive_dir"] == "archive" and (tmp_path / "other" / "archive").is_dir()
    assert "_config.yml" in custom.written

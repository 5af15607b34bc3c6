"""archive rotate: Beijing days, idempotent moves, and archived posts never coming back to _posts."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from crawler.archive.rotate import cutoff_day, rotate
from crawler.timeutil import parse_beijing
from pipelines.store import PostStore
from tests.archive_support import Crawl, days_ago, eastmoney_item, make_config, write_toml
from tests.conftest import run_cli

ARCHIVE = "old_post"


def _site(tmp_path, dates):
    """A site with one post per (id, Beijing time) written by the crawl pipelines."""
    config = make_config(tmp_path)
    crawl = Crawl(config)
    for article_id, when in dates:
        assert crawl.feed(
            eastmoney_item(
                article_id, title=f"标题{article_id}", published=when, body_html=f"<p>正文{article_id}</p>"
            )
        )
    return config, crawl


def _names(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_cutoff_is_a_beijing_calendar_day_not_utc():
    # 2022-05-25 23:30 UTC is already 2022-05-26 07:30 in Beijing (the predecessor's runner got this wrong)
    now = datetime(2022, 5, 25, 23, 30, tzinfo=UTC)
    assert cutoff_day(3, now).isoformat() == "2022-05-24"
    assert cutoff_day(1, now).isoformat() == "2022-05-26"


def test_rotate_moves_old_posts_by_beijing_date(tmp_path):
    config, crawl = _site(
        tmp_path,
        [
            ("202205230000000001", parse_beijing("2022-05-23 23:59:00")),
            ("202205240000000002", parse_beijing("2022-05-24 00:01:00")),
            ("202205260000000003", parse_beijing("2022-05-26 07:00:00")),
        ],
    )
    # frozen at a UTC instant whose UTC date (05-25) differs from the Beijing date (05-26)
    with time_machine.travel(datetime(2022, 5, 25, 23, 30, tzinfo=UTC), tick=False):
        result = rotate(PostStore(config.output_dir), crawl.state, keep_days=3, archive_dir=ARCHIVE)
    assert result.moved == [f"{ARCHIVE}/2022-05-23-NW202205230000000001.md"]
    assert _names(config.posts_dir) == [
        "2022-05-24-NW202205240000000002.md",
        "2022-05-26-NW202205260000000003.md",
    ]
    assert _names(config.archive_dir) == ["2022-05-23-NW202205230000000001.md"]
    assert crawl.state.get_article("eastmoney:202205230000000001").post_path == result.moved[0]
    crawl.close()


def test_rotation_is_idempotent_and_keeps_bytes(tmp_path):
    config, crawl = _site(
        tmp_path,
        [("202201010000000001", parse_beijing("2022-01-01 10:00:00")), ("202201020000000002", days_ago(0))],
    )
    before = (config.posts_dir / "2022-01-01-NW202201010000000001.md").read_bytes()
    store = PostStore(config.output_dir)
    first = rotate(store, crawl.state, keep_days=3, archive_dir=ARCHIVE)
    second = rotate(store, crawl.state, keep_days=3, archive_dir=ARCHIVE)
    assert len(first.moved) == 1 and second.moved == [] and second.kept == 1
    assert (config.archive_dir / "2022-01-01-NW202201010000000001.md").read_bytes() == before
    crawl.close()


def test_a_later_crawl_never_recreates_an_archived_post(tmp_path):
    config, crawl = _site(tmp_path, [("202201010000000001", parse_beijing("2022-01-01 10:00:00"))])
    rotate(PostStore(config.output_dir), crawl.state, keep_days=3, archive_dir=ARCHIVE)
    crawl.close()
    archived = config.archive_dir / "2022-01-01-NW202201010000000001.md"
    before = archived.read_bytes()
    # the same article listed again by a later crawl: nothing in _posts, the archived file untouched
    later = Crawl(config)
    again = eastmoney_item(
        "202201010000000001",
        title="标题202201010000000001",
        published=parse_beijing("2022-01-01 10:00:00"),
        body_html="<p>正文202201010000000001</p>",
    )
    assert later.feed(again)
    later.close()
    assert _names(config.posts_dir) == []
    assert archived.read_bytes() == before
    # an upstream edit, in yet another crawl, updates the archived file in place
    third = Crawl(config)
    edited = eastmoney_item(
        "202201010000000001",
        title="标题202201010000000001",
        published=parse_beijing("2022-01-01 10:00:00"),
        body_html="<p>更正后的正文</p>",
    )
    assert third.feed(edited)
    third.close()
    assert _names(config.posts_dir) == []
    assert "更正后的正文" in archived.read_text(encoding="utf-8")


def test_identical_copy_already_archived_and_conflicts(tmp_path):
    config, crawl = _site(
        tmp_path,
        [
            ("202201010000000001", parse_beijing("2022-01-01 10:00:00")),
            ("202201010000000002", parse_beijing("2022-01-01 11:00:00")),
        ],
    )
    config.archive_dir.mkdir()
    same = "2022-01-01-NW202201010000000001.md"
    other = "2022-01-01-NW202201010000000002.md"
    (config.archive_dir / same).write_bytes((config.posts_dir / same).read_bytes())
    (config.archive_dir / other).write_text("---\nlayout: post\n---\nsomething else\n", encoding="utf-8")
    (config.posts_dir / "-202205262391921712.md").write_text("---\ndate:  +0800\n---\n", encoding="utf-8")
    result = rotate(PostStore(config.output_dir), crawl.state, keep_days=3, archive_dir=ARCHIVE)
    assert result.already_archived == [f"{ARCHIVE}/{same}"]
    assert result.conflicts == [f"_posts/{other}"]
    assert result.skipped == ["_posts/-202205262391921712.md"]
    assert _names(config.posts_dir) == ["-202205262391921712.md", other]  # the conflict stays put
    assert (config.archive_dir / other).read_text(encoding="utf-8").endswith("something else\n")
    assert crawl.state.get_article("eastmoney:202201010000000001").post_path == f"{ARCHIVE}/{same}"
    crawl.close()


def test_dry_run_and_exempt(tmp_path):
    config, crawl = _site(
        tmp_path,
        [
            ("202201010000000001", parse_beijing("2022-01-01 10:00:00")),
            ("202201010000000002", parse_beijing("2022-01-01 11:00:00")),
        ],
    )
    store = PostStore(config.output_dir)
    dry = rotate(store, crawl.state, keep_days=3, archive_dir=ARCHIVE, dry_run=True)
    assert len(dry.moved) == 2 and len(_names(config.posts_dir)) == 2
    kept = rotate(
        store, crawl.state, keep_days=3, archive_dir=ARCHIVE, exempt=["2022-01-01-NW202201010000000002.md"]
    )
    assert kept.moved == [f"{ARCHIVE}/2022-01-01-NW202201010000000001.md"]
    assert _names(config.posts_dir) == ["2022-01-01-NW202201010000000002.md"]
    crawl.close()


def test_cli_rotate_prints_a_summary(tmp_path):
    today = days_ago(0)
    config, crawl = _site(
        tmp_path,
        [("202201010000000001", parse_beijing("2022-01-01 10:00:00")), ("202201020000000002", today)],
    )
    crawl.close()
    toml = write_toml(tmp_path, config)
    result = run_cli("archive", "rotate", "--keep-days", "3", "--config", str(toml), check=True)
    assert f"moved {ARCHIVE}/2022-01-01-NW202201010000000001.md" in result.stdout
    assert "archive rotate" in result.stdout
    assert _names(config.posts_dir) == [f"{today:%Y-%m-%d}-NW202201020000000002.md"]
    again = run_cli("archive", "rotate", "--keep-days", "3", "--config", str(toml), check=True)
    assert f"moved {ARCHIVE}/" not in again.stdout
    bad = run_cli("archive", "rotate", "--keep-days", "0", "--config", str(toml))
    assert bad.returncode == 2

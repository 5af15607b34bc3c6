"""Item pipelines on hand-made items, built from a real crawler (no crawl, no network)."""

from __future__ import annotations

import asyncio

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from crawler import sources
from crawler.config import parse_config
from crawler.items import ArticleItem
from crawler.matching import match_key
from crawler.postformat import SiteSettings, render_post
from crawler.runtime import get_state
from crawler.sources.chinanews.spider import ChinanewsSpider
from crawler.sources.eastmoney.spider import EastmoneySpider
from crawler.state import CLAIM_ABANDONED_AFTER, StateStore
from crawler.timeutil import now_beijing, parse_beijing
from pipelines.category import CategoryPipeline
from pipelines.clean import CleanArticlePipeline
from pipelines.identity import IdentityPipeline
from pipelines.jekyll import JekyllPostPipeline
from pipelines.validate import ValidateArticlePipeline
from tests.conftest import run_stage


def crawler_of(tmp_path, spider):
    """A crawler (one crawl process, its own state connection) on the test's output and store."""
    config = parse_config(
        {"output": {"dir": str(tmp_path / "out")}, "state": {"dir": str(tmp_path / "state")}}
    )
    crawler = get_crawler(spider, {"WIREMIRROR_CONFIG": config})
    crawler.stats.open_spider()
    return crawler


@pytest.fixture
def crawler(tmp_path):
    crawler = crawler_of(tmp_path, EastmoneySpider)
    yield crawler
    get_state(crawler).close()


def item(**kw) -> ArticleItem:
    base = {
        "source": "eastmoney",
        "article_id": "202205260000000001",
        "title": "标题",
        "published": parse_beijing("2022-05-26 08:00:00"),
        "body_html": "<p>　　正文{{ x }}</p><script>x()</script>",
        "url": "https://finance.eastmoney.com/a/202205260000000001.html",
        "media": "新华社",
    }
    base.update(kw)
    return ArticleItem(**base)


def run_all(crawler, it):
    for cls in (
        ValidateArticlePipeline,
        CleanArticlePipeline,
        IdentityPipeline,
        CategoryPipeline,
        JekyllPostPipeline,
    ):
        it = run_stage(cls.from_crawler(crawler), it)
    return it


def test_validate_drops_and_records_invalid_items(crawler):
    pipeline = ValidateArticlePipeline.from_crawler(crawler)
    with pytest.raises(DropItem, match="empty title"):
        run_stage(pipeline, item(title="  "))
    with pytest.raises(DropItem, match="no publish time"):
        run_stage(pipeline, item(article_id="202205260000000002", published=None))
    with pytest.raises(DropItem, match="future"):
        run_stage(
            pipeline, item(article_id="202205260000000003", published=parse_beijing("2099-01-01 00:00"))
        )
    keys = [f.key for f in get_state(crawler).failures()]
    assert keys == [
        "eastmoney:202205260000000001",
        "eastmoney:202205260000000002",
        "eastmoney:202205260000000003",
    ]
    assert crawler.stats.get_value("wiremirror/failed") == 3


def test_full_chain_writes_a_clean_post_and_marks_it_known(crawler, tmp_path):
    done = run_all(crawler, item())
    post = (tmp_path / "out" / "_posts" / "2022-05-26-NW202205260000000001.md").read_text(encoding="utf-8")
    assert "<script" not in post
    assert "{{" not in post and "&#123;&#123; x &#125;&#125;" in post
    assert "<p>正文" in post  # the 　　 indent is gone
    assert done.category == "xinhuashe"
    assert get_state(crawler).is_known("eastmoney:202205260000000001")
    assert crawler.stats.get_value("wiremirror/new") == 1


def test_unchanged_article_is_not_rewritten(crawler, tmp_path):
    run_all(crawler, item())
    path = tmp_path / "out" / "_posts" / "2022-05-26-NW202205260000000001.md"
    before = path.stat().st_mtime_ns
    run_all(crawler, item())
    assert path.stat().st_mtime_ns == before
    assert crawler.stats.get_value("wiremirror/unchanged") == 1


def test_changed_article_is_updated_in_place(crawler, tmp_path):
    run_all(crawler, item())
    run_all(crawler, item(body_html="<p>更正后的正文</p>"))
    path = tmp_path / "out" / "_posts" / "2022-05-26-NW202205260000000001.md"
    assert "更正后的正文" in path.read_text(encoding="utf-8")
    assert get_state(crawler).get_article("eastmoney:202205260000000001").revision == 2
    assert crawler.stats.get_value("wiremirror/updated") == 1


def test_same_story_from_eastmoney_becomes_an_alias_of_the_chinanews_original(crawler, tmp_path):
    cns = item(
        source="chinanews",
        article_id="10606399",
        media="中国新闻网",
        url="https://www.chinanews.com.cn/gn/2022/05-26/10606399.shtml",
        title="同一条新闻",
    )
    cns = run_all(crawler, cns)  # the item as the pipelines passed it on
    em = item(media="中国新闻网", title="同一条新闻！")  # punctuation differs, same story
    with pytest.raises(DropItem, match="alias"):
        run_all(crawler, em)
    state = get_state(crawler)
    assert state.resolve("eastmoney:202205260000000001") == "chinanews:10606399"
    assert sorted(p.name for p in (tmp_path / "out" / "_posts").iterdir()) == ["2022-05-26-cns10606399.md"]
    # the original's post records the copy too, exactly as rendering it with that alias would
    path = tmp_path / "out" / "_posts" / "2022-05-26-cns10606399.md"
    cns.aliases = ["eastmoney:202205260000000001"]
    expected = render_post(cns, SiteSettings())
    assert path.read_text(encoding="utf-8") == expected.text
    assert state.get_article("chinanews:10606399").content_hash == expected.content_hash


def test_chinanews_original_supersedes_an_earlier_eastmoney_copy(crawler, tmp_path):
    run_all(crawler, item(media="中国新闻网", title="同一条新闻"))
    cns = item(
        source="chinanews",
        article_id="10606399",
        media="中国新闻网",
        url="https://www.chinanews.com.cn/gn/2022/05-26/10606399.shtml",
        title="同一条新闻",
    )
    run_all(crawler, cns)
    posts = sorted(p.name for p in (tmp_path / "out" / "_posts").iterdir())
    assert posts == ["2022-05-26-cns10606399.md"]
    text = (tmp_path / "out" / "_posts" / posts[0]).read_text(encoding="utf-8")
    assert "eastmoney:202205260000000001" in text  # the Eastmoney id is recorded on the original
    state = get_state(crawler)
    assert state.count_articles() == 1
    assert state.resolve("eastmoney:202205260000000001") == "chinanews:10606399"


@pytest.fixture
def other_crawler(tmp_path):
    """A second crawl process on the same output and state store (its own connection)."""
    other = crawler_of(tmp_path, ChinanewsSpider)
    yield other
    get_state(other).close()


def through(crawler, it, *stages):
    for cls in stages:
        it = run_stage(cls.from_crawler(crawler), it)
    return it


BEFORE_WRITING = (ValidateArticlePipeline, CleanArticlePipeline, IdentityPipeline, CategoryPipeline)


def chinanews_twin() -> ArticleItem:
    return item(
        source="chinanews",
        article_id="10606399",
        media="中国新闻网",
        url="https://www.chinanews.com.cn/gn/2022/05-26/10606399.shtml",
        title="同一条新闻",
    )


@pytest.mark.parametrize("original_writes_first", [True, False])
def test_two_crawls_claiming_one_story_at_once_leave_one_post(
    crawler, other_crawler, tmp_path, original_writes_first
):
    """Both copies pass the identity stage before either is written: the original's claim wins."""
    copy = through(crawler, item(media="中国新闻网", title="同一条新闻"), *BEFORE_WRITING)
    original = through(other_crawler, chinanews_twin(), *BEFORE_WRITING)
    assert original.aliases == ["eastmoney:202205260000000001"]  # it took the story over
    writes = [(other_crawler, original), (crawler, copy)]
    for who, it in writes if original_writes_first else reversed(writes):
        if it is copy:
            with pytest.raises(DropItem, match="claimed meanwhile"):
                run_stage(JekyllPostPipeline.from_crawler(who), it)
        else:
            run_stage(JekyllPostPipeline.from_crawler(who), it)

    posts = tmp_path / "out" / "_posts"
    assert sorted(p.name for p in posts.iterdir()) == ["2022-05-26-cns10606399.md"]
    expected = render_post(original, SiteSettings())
    assert (posts / "2022-05-26-cns10606399.md").read_text(encoding="utf-8") == expected.text
    state = get_state(crawler)
    assert state.resolve("eastmoney:202205260000000001") == "chinanews:10606399"
    assert state.count_articles() == 1
    assert state.get_article("chinanews:10606399").content_hash == expected.content_hash


def test_a_copy_of_a_story_another_crawl_is_writing_waits_then_becomes_its_alias(
    crawler, other_crawler, tmp_path
):
    original = through(other_crawler, chinanews_twin(), *BEFORE_WRITING)  # claimed, not yet written
    copy = item(media="中国新闻网", title="同一条新闻")
    with pytest.raises(DropItem, match="written now by another crawl"):
        through(crawler, copy, ValidateArticlePipeline, CleanArticlePipeline, IdentityPipeline)
    state = get_state(crawler)
    assert [f.key for f in state.failures("eastmoney")] == [copy.key]  # retried by a later run
    assert not (tmp_path / "out" / "_posts").exists() or not list((tmp_path / "out" / "_posts").iterdir())

    run_stage(JekyllPostPipeline.from_crawler(other_crawler), original)
    with pytest.raises(DropItem, match="alias"):  # the retry, in a later run
        run_all(crawler, item(media="中国新闻网", title="同一条新闻"))
    posts = tmp_path / "out" / "_posts"
    assert sorted(p.name for p in posts.iterdir()) == ["2022-05-26-cns10606399.md"]
    original.aliases = [copy.key]
    assert (posts / "2022-05-26-cns10606399.md").read_text(encoding="utf-8") == render_post(
        original, SiteSettings()
    ).text
    assert state.resolve(copy.key) == "chinanews:10606399"
    assert state.failures("eastmoney") == []


def test_an_abandoned_claim_does_not_block_the_story(crawler, other_crawler):
    """A crawl killed between claiming and writing: after a while the copy may take the story."""
    original = through(other_crawler, chinanews_twin(), *BEFORE_WRITING)  # then killed: never written
    state = get_state(crawler)
    story = match_key(original.title, original.published)
    soon = now_beijing() + CLAIM_ABANDONED_AFTER / 2
    later = now_beijing() + CLAIM_ABANDONED_AFTER * 2
    assert state.claim_story("eastmoney:1", "eastmoney", story, sources.rank, now=soon).verdict == "wait"
    taken = state.claim_story("eastmoney:1", "eastmoney", story, sources.rank, now=later)
    assert (taken.verdict, taken.owner) == ("write", "eastmoney:1")


def test_an_update_of_an_original_keeps_the_aliases_it_lists(crawler, tmp_path):
    """An original corrected upstream (or fetched again) must not lose the copies it records."""
    run_all(crawler, chinanews_twin())
    with pytest.raises(DropItem, match="alias"):
        run_all(crawler, item(media="中国新闻网", title="同一条新闻"))
    corrected = chinanews_twin()
    corrected.body_html = "<p>更正后的正文</p>"
    run_all(crawler, corrected)
    text = (tmp_path / "out" / "_posts" / "2022-05-26-cns10606399.md").read_text(encoding="utf-8")
    assert "更正后的正文" in text
    assert "aliases:\n- eastmoney:202205260000000001\n" in text


def test_a_burst_of_new_articles_is_group_committed(crawler, tmp_path, monkeypatch):
    """Posts arriving while a batch commits are flushed together and recorded in one transaction."""
    items = [
        run_stage_chain(crawler, item(article_id=f"2022052600000001{n:02d}", title=f"标题{n}"))
        for n in range(24)
    ]
    transactions = []
    real_record = StateStore.record_articles

    def record_articles(self, articles, **kw):
        transactions.append(len(articles))
        return real_record(self, articles, **kw)

    monkeypatch.setattr(StateStore, "record_articles", record_articles)
    writer = JekyllPostPipeline.from_crawler(crawler)

    async def burst():
        return await asyncio.gather(*(writer.process_item(it) for it in items))

    asyncio.run(burst())
    assert sum(transactions) == 24 and len(transactions) < 24  # batched, nothing lost
    posts = sorted(p.name for p in (tmp_path / "out" / "_posts").iterdir())
    assert posts == sorted(f"2022-05-26-NW2022052600000001{n:02d}.md" for n in range(24))
    state = get_state(crawler)
    assert all(
        state.get_article(it.key).post_path == f"_posts/2022-05-26-NW{it.article_id}.md" for it in items
    )
    assert crawler.stats.get_value("wiremirror/new") == 24


def run_stage_chain(crawler, it):
    return through(crawler, it, *BEFORE_WRITING)

"""StateStore on a real SQLite file: knowledge, aliases, failures with backoff, categories."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

from crawler.state import StateStore
from crawler.timeutil import now_beijing


def _record(store, key="eastmoney:1", **kw):
    source, _, article_id = key.partition(":")
    args = dict(
        key=key,
        source=source,
        article_id=article_id,
        media="",
        url="u",
        title="t",
        published="2022-01-01T00:00:00+08:00",
        content_hash="h",
        post_path="_posts/x.md",
    )
    args.update(kw)
    store.record_article(**args)


def test_known_keys_and_aliases(tmp_path):
    store = StateStore(tmp_path / "s.db")
    _record(store, "chinanews:9", aliases=["eastmoney:1"])
    assert store.known_keys(["chinanews:9", "eastmoney:1", "eastmoney:2"]) == {"chinanews:9", "eastmoney:1"}
    assert store.get_article("eastmoney:1").key == "chinanews:9"


def test_recording_an_article_clears_its_failure(tmp_path):
    store = StateStore(tmp_path / "s.db")
    store.record_failure(key="eastmoney:1", source="eastmoney", url="u", error="HTTP 500")
    _record(store)
    assert store.failures() == []


def test_failures_back_off_exponentially(tmp_path):
    store = StateStore(tmp_path / "s.db")
    now = now_beijing()
    for _ in range(3):
        store.record_failure(key="k", source="eastmoney", url="u", error="e", backoff=60, now=now)
    (failure,) = store.failures()
    assert failure.attempts == 3
    assert store.due_failures("eastmoney", now=now + timedelta(seconds=239)) == []
    assert [f.key for f in store.due_failures("eastmoney", now=now + timedelta(seconds=241))] == ["k"]
    assert store.due_failures("eastmoney", now=now + timedelta(days=30), max_attempts=3) == []


def test_supersede_folds_one_article_into_another(tmp_path):
    store = StateStore(tmp_path / "s.db")
    _record(store, "eastmoney:1")
    _record(store, "chinanews:9", aliases=["eastmoney:1"])
    store.supersede("eastmoney:1", "chinanews:9")
    assert store.count_articles() == 1
    assert store.resolve("eastmoney:1") == "chinanews:9"


def test_category_slugs_are_stable_and_unique(tmp_path):
    store = StateStore(tmp_path / "s.db")
    assert store.assign_category("中国新闻网", "zhongguoxinwenwang", "中国新闻网新闻") == "zhongguoxinwenwang"
    assert store.assign_category("中国新闻网", "other", "x") == "zhongguoxinwenwang"
    assert (
        store.assign_category("中国新闻王", "zhongguoxinwenwang", "中国新闻王新闻") == "zhongguoxinwenwang-2"
    )


def _writer(path, start):
    store = StateStore(path)
    for i in range(start, start + 200):
        _record(store, f"eastmoney:{i}")
    store.close()


def test_concurrent_writers_from_several_processes_lose_nothing(tmp_path):
    path = tmp_path / "s.db"
    StateStore(path).close()
    procs = [multiprocessing.Process(target=_writer, args=(path, n * 1000)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = StateStore(path)
    assert store.count_articles() == 800
    assert store.integrity_check() == "ok"


def _rank(source: str) -> int:
    return {"chinanews": 0, "eastmoney": 10}[source]


def test_claim_story_decides_identity_once_across_sources(tmp_path):
    store = StateStore(tmp_path / "s.db")
    story = "同一条新闻|2022-05-26 08:00"

    first = store.claim_story("eastmoney:1", "eastmoney", story, _rank)
    assert (first.verdict, first.owner, first.aliases) == ("write", "eastmoney:1", ())
    _record(store, "eastmoney:1", match_key=story)
    # another Eastmoney article with the same title and minute is another story
    assert store.claim_story("eastmoney:2", "eastmoney", story, _rank).verdict == "write"

    original = store.claim_story("chinanews:9", "chinanews", story, _rank)  # the lower rank wins
    assert (original.verdict, original.aliases) == ("write", ("eastmoney:1",))
    assert [old.key for old in original.superseded] == ["eastmoney:1"]
    assert store.record_article(
        key="chinanews:9",
        source="chinanews",
        article_id="9",
        media="",
        url="u",
        title="t",
        published="2022-05-26T08:00:00+08:00",
        content_hash="h",
        post_path="_posts/cns9.md",
        match_key=story,
        aliases=original.aliases,
        superseded=["eastmoney:1"],
    )
    assert store.resolve("eastmoney:1") == "chinanews:9"
    assert store.count_articles() == 1

    late = store.claim_story("eastmoney:3", "eastmoney", story, _rank)  # a later copy
    assert (late.verdict, late.owner) == ("alias", "chinanews:9")
    again = store.claim_story("eastmoney:1", "eastmoney", story, _rank)  # a known alias
    assert (again.verdict, again.owner) == ("alias", "chinanews:9")
    update = store.claim_story("chinanews:9", "chinanews", story, _rank)
    assert (update.verdict, update.aliases, update.superseded) == ("write", ("eastmoney:1",), ())


def test_a_story_recorded_before_claims_existed_is_still_claimed(tmp_path):
    """Articles recorded by the import or a store upgraded from version 2 hold their story."""
    store = StateStore(tmp_path / "s.db")
    story = "旧闻|2020-01-01 08:00"
    _record(store, "chinanews:5", match_key=story)
    with store.write() as conn:
        conn.execute("DELETE FROM claims")
    verdict = store.claim_story("eastmoney:7", "eastmoney", story, _rank)
    assert (verdict.verdict, verdict.owner) == ("alias", "chinanews:5")

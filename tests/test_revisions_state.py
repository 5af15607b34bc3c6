"""The recheck schedule and the state store's revision records (no crawl)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crawler.config import ConfigError, parse_config
from crawler.revisions import next_recheck
from crawler.state import Revision, StateStore
from crawler.timeutil import iso, parse_beijing

AGES = [600.0, 3600.0, 21600.0, 86400.0]
FIRST = parse_beijing("2026-11-30 23:50:00")


def test_each_age_gives_one_recheck_and_downtime_gives_one_for_all_it_missed():
    assert next_recheck(FIRST, AGES, FIRST) == (0, iso(FIRST + timedelta(seconds=600)))
    assert next_recheck(FIRST, AGES, FIRST + timedelta(seconds=700)) == (1, iso(FIRST + timedelta(hours=1)))
    # down for two days: the one recheck made now uses up every age
    assert next_recheck(FIRST, AGES, FIRST + timedelta(days=2)) == (4, "")
    assert next_recheck(FIRST, [], FIRST) == (0, "")


def test_due_rechecks_are_the_longest_waiting_first_and_capped(tmp_path):
    store = StateStore(tmp_path / "s.db")
    for n in range(5):
        store.record_article(
            key=f"eastmoney:{n}",
            source="eastmoney",
            article_id=str(n),
            media="",
            url=f"u{n}",
            title="t",
            published="2026-11-30T08:00:00+08:00",
            content_hash="h",
            post_path=f"_posts/{n}.md",
            context=json.dumps({"entry": {"article_id": str(n)}}),
            schedule=(0, iso(FIRST + timedelta(seconds=600 + n))),
        )
    now = FIRST + timedelta(seconds=603)
    due = store.due_rechecks("eastmoney", now=now, limit=3)
    assert [r.key for r in due] == ["eastmoney:0", "eastmoney:1", "eastmoney:2"]
    assert due[0].context == {"entry": {"article_id": "0"}}
    store.recheck_done("eastmoney:0", next_recheck(FIRST, AGES, now), etag='"v1"')
    assert [r.key for r in store.due_rechecks("eastmoney", now=now)] == [f"eastmoney:{n}" for n in (1, 2, 3)]
    assert store.get_article("eastmoney:0").etag == '"v1"'
    store.retract("eastmoney:1", now)
    assert store.get_article("eastmoney:1").retracted == iso(now)
    assert "eastmoney:1" not in {r.key for r in store.due_rechecks("eastmoney", now=now + timedelta(days=9))}


def test_versions_are_kept_once_each(tmp_path):
    store = StateStore(tmp_path / "s.db")
    first = Revision("eastmoney:1", 1, "h1", iso(FIRST), "旧标题", "<p>旧</p>")
    store.keep_revision(first)
    store.keep_revision(Revision("eastmoney:1", 1, "other", iso(FIRST), "x", "y"))  # already kept
    store.keep_revision(Revision("eastmoney:1", 2, "h2", iso(FIRST), "新标题", "<p>新</p>"))
    assert [(r.revision, r.title) for r in store.revisions("eastmoney:1")] == [(1, "旧标题"), (2, "新标题")]


def test_recheck_ages_are_global_with_a_per_source_override_and_checked():
    config = parse_config({"revisions": {"recheck_after": [3600, 600], "sources": {"eastmoney": [60]}}})
    assert config.recheck_ages("chinanews") == [600.0, 3600.0]
    assert config.recheck_ages("eastmoney") == [60.0]
    assert parse_config({"revisions": {"recheck_after": []}}).recheck_ages("chinanews") == []
    with pytest.raises(ConfigError, match=r"revisions\.sources\.eastmoney"):
        parse_config({"revisions": {"sources": {"eastmoney": [-1]}}})

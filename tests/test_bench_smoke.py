"""The benchmark harness works: every benchmark runs at tiny sizes (``--quick``) and bench.json has
its shape.

Nothing here looks at speed (a slow machine must not fail the suite): only counts and structure —
the no-change run makes exactly one list request per source and fetches no article, the throughput
crawl mirrors every article and the bare Scrapy spider fetched the same requests, verify checks
every post of both archives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.__main__ import BENCHMARKS
from crawler import postformat
from crawler.timeutil import parse_beijing

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench-results")
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wiremirror benchmarks" in result.stdout  # the rich table was printed
    assert "every row meets its target" in result.stdout or "MISS " in result.stdout  # and the verdict
    return json.loads((out / "bench.json").read_text(encoding="utf-8"))


def _bench(data: dict, name: str) -> dict:
    (found,) = [b for b in data["benchmarks"] if b["name"] == name]
    assert found["skipped"] == "", found["skipped"]
    return found


def _check(bench: dict, measure: str) -> dict:
    (found,) = [c for c in bench["checks"] if c["measure"] == measure]
    return found


def test_every_benchmark_ran_and_the_json_has_its_shape(bench_json):
    assert set(bench_json) >= {"when", "machine", "sizes", "total_seconds", "passed", "misses", "benchmarks"}
    machine = bench_json["machine"]
    assert machine["cores"] >= 1 and machine["ram_gb"] > 0 and machine["cpu"]
    assert machine["python"].startswith("3.") and machine["scrapy"][0].isdigit()
    assert len(bench_json["benchmarks"]) == len(BENCHMARKS)
    for bench in bench_json["benchmarks"]:
        assert bench["skipped"] == "", f"{bench['name']}: {bench['skipped']}"
        assert set(bench) >= {"name", "measure", "target", "checks", "ratios", "context", "passed"}
        assert bench["checks"], bench["name"]
        for check in bench["checks"]:
            assert set(check) == {"measure", "value", "op", "target", "unit", "passed"}
            assert check["op"] in ("<=", ">=")
            expected = (
                check["value"] <= check["target"]
                if check["op"] == "<="
                else check["value"] >= check["target"]
            )
            assert check["passed"] is expected
        assert bench["passed"] is all(c["passed"] for c in bench["checks"])
    assert bench_json["passed"] is all(b["passed"] for b in bench_json["benchmarks"])
    missed = sum(not c["passed"] for b in bench_json["benchmarks"] for c in b["checks"])
    assert len(bench_json["misses"]) == missed


def test_no_change_run_makes_one_list_request_per_source_and_fetches_no_article(bench_json):
    bench = _bench(bench_json, "no-change run")
    for source in ("eastmoney", "chinanews"):
        seen = bench["context"]["sources"][source]
        assert seen["list_requests"] == 1, seen["paths"]
        assert seen["article_fetches"] == 0, seen["paths"]
        assert seen["new"] == 0
        assert _check(bench, f"{source} article fetches")["value"] == 0
    assert bench["context"]["sources"]["eastmoney"]["paths"] == ["/comm/web/getNewsByColumns", "/robots.txt"]
    # the predecessor's poll on the same data: the list, then every listed body (smoke page size: 5)
    old = bench["context"]["predecessor"]
    assert old["requests"] == 6 and old["article_fetches"] == 5 and old["files_written"] == 5


def test_throughput_crawl_mirrors_every_article_and_the_bare_spider_fetched_the_same(bench_json):
    bench = _bench(bench_json, "crawl throughput")
    ours = bench["context"]["wiremirror"]
    n = bench_json["sizes"]["throughput_articles"]
    assert ours["new"] == ours["posts_on_disk"] == ours["known_in_state"] == n
    pages = -(-n // bench_json["sizes"]["page_size"])
    assert ours["requests_served"] == n + pages  # one body per article, one request per list page
    reference = bench["context"]["bare_scrapy"]
    assert reference["pages"] == reference["urls"] == ours["requests_served"]


def test_render_rebuild_verify_and_large_state_counts(bench_json):
    sizes = bench_json["sizes"]
    assert _bench(bench_json, "render")["context"]["posts"] == sizes["render_posts"]
    rebuild = _bench(bench_json, "rebuild")
    assert _check(rebuild, "posts written")["value"] == sizes["rebuild_posts"]
    assert rebuild["context"]["unchanged"]["summary"]["unchanged"] == sizes["rebuild_posts"]
    verify = _bench(bench_json, "verify")
    for n in (sizes["verify_posts"], sizes["verify_large_posts"]):
        assert verify["context"][str(n)]["summary"]["posts checked"] == n
        assert verify["context"][str(n)]["summary"]["problems found"] == 0
    nochange = _bench(bench_json, "no-change run")["context"]["archive"]
    assert nochange["posts"] == sizes["nochange_archive_posts"]
    large = _bench(bench_json, "large state")
    assert large["context"]["known_articles"] == sizes["large_state_rows"] + sizes["page_size"]
    assert large["context"]["requests_large"] == ["/robots.txt", "/comm/web/getNewsByColumns"]
    startup = _bench(bench_json, "start-up")
    for label in ("status", "crawl --help"):
        assert _check(startup, f"{label}: files in _posts listed or opened")["value"] == 0


def test_site_bench_built_every_size_and_timed_a_new_post(bench_json):
    site = _bench(bench_json, "site")
    sizes = bench_json["sizes"]["site_posts"]
    builds = site["context"]["hugo_full_builds"]
    assert sorted(int(n) for n in builds) == sorted(sizes)
    assert all(b["periods"] >= 2 and b["peak_mb"] > 0 for b in builds.values())
    new_post = site["context"]["new_post"]
    assert new_post["page_seconds"] != float("inf")  # the page appeared
    assert set(new_post["periods_rebuilt"]) >= {"top"} and len(new_post["periods_rebuilt"]) <= 3
    assert site["context"]["search"]["bundles"] >= 1


# -- the libyaml fast path of crawler.postformat writes exactly what the Python emitter writes ----

_NEUTRAL_CHARS = st.one_of(
    st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"), max_codepoint=0xFFFF
    ),
    st.sampled_from(list(" :#-?&*!|>'\"%@`{}[],.\\中文yesnoNULL~0123456789eE+")),
)
_TEXT = st.text(alphabet=_NEUTRAL_CHARS, max_size=80)


def _python_dump(meta: dict) -> str:
    return yaml.dump(
        meta,
        Dumper=postformat._PostDumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1 << 30,
    )


@pytest.mark.skipif(postformat._FastPostDumper is None, reason="PyYAML built without libyaml")
@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
@given(_TEXT, _TEXT, _TEXT, _TEXT, st.lists(_TEXT, max_size=3))
def test_fast_emitter_writes_the_same_bytes(title, media, summary, tag, aliases):
    from crawler.items import ArticleItem

    item = ArticleItem(
        source="eastmoney",
        article_id="202204082336871455",
        title=title,
        media=media,
        summary=summary,
        published=parse_beijing("2022-04-08 17:57:45"),
        body_html="<p>x</p>",
        url="https://x/" + media,
        body="<p>正文</p>",
        category="c",
        tag=tag or "t",
        aliases=aliases,
    )
    meta = postformat.front_matter(item)
    assert postformat._emitter_neutral(meta)
    assert postformat.dump_front_matter(meta) == _python_dump(meta)
    quoted = {"t": postformat.QuotedStr(title), "l": aliases}
    assert postformat.dump_front_matter(quoted) == _python_dump(quoted)


@pytest.mark.parametrize("value", ["𠀀 astral", "\x85 next line", "tab\there", "\u3000ideographic space"])
def test_text_the_fast_emitter_would_write_differently_takes_the_python_one(value):
    meta = {"title": postformat.QuotedStr(value), "tags": value}
    assert not postformat._emitter_neutral(meta)
    assert postformat.dump_front_matter(meta) == _python_dump(meta)

"""archive verify: a clean crawl passes; each defect is found, and --fix repairs what is safe and says so."""

from __future__ import annotations

import os
import shutil
import sys

import frontmatter
import pytest

from crawler.archive.rotate import rotate
from crawler.archive.verify import verify
from crawler.site import init_site, write_category_pages
from crawler.state import StateStore
from crawler.timeutil import parse_beijing
from pipelines.store import PostStore
from tests.archive_support import FIXTURES, Crawl, chinanews_item, eastmoney_item, make_config, write_toml
from tests.conftest import run_cli

SEED = FIXTURES / "seed-site"


def _clean_site(tmp_path):
    config = make_config(tmp_path)
    init_site(config.output_dir)
    crawl = Crawl(config)
    for n, when in enumerate(["2022-05-20 09:00:00", "2022-05-21 10:00:00", "2022-05-22 11:00:00"], start=1):
        assert crawl.feed(
            eastmoney_item(
                f"20220520000000000{n}",
                title=f"标题{n}",
                published=parse_beijing(when),
                body_html=f"<p>正文{n}</p>",
            )
        )
    assert crawl.feed(chinanews_item())
    rotate(
        PostStore(config.output_dir),
        crawl.state,
        keep_days=1,
        archive_dir=config.output.archive_dir,
        now=parse_beijing("2022-05-22 12:00:00"),
    )
    write_category_pages(crawl.state, config.output_dir)
    crawl.close()
    return config, StateStore(config.db_path)


def _codes(report):
    return sorted({(p.relpath, p.code) for p in report.remaining})


def test_a_crawled_and_rotated_site_is_clean(tmp_path):
    config, state = _clean_site(tmp_path)
    report = verify(config, state)
    assert report.checked == 4
    assert report.problems == []
    assert report.ok


def test_each_defect_is_reported_and_fixed(tmp_path):
    config, state = _clean_site(tmp_path)
    posts, archive = config.posts_dir, config.archive_dir
    live = posts / "2022-05-22-NW202205200000000003.md"
    old = archive / "2022-05-20-NW202205200000000001.md"
    # 1. blank line before the front matter (predecessor defect 3)
    live.write_text("\n" + live.read_text(encoding="utf-8"), encoding="utf-8")
    # 2. date without offset, 3. Liquid in the body
    text = old.read_text(encoding="utf-8").replace("2022-05-20 09:00:00 +0800", "2022-05-20 09:00:00")
    old.write_text(text.replace("<p>正文1</p>", "<p>正文1 {{ site.title }}</p>"), encoding="utf-8")
    # 4. a second file of one article (the emnews-style copy of NW…0002)
    second = archive / "2022-05-21-202205200000000002.md"
    shutil.copyfile(archive / "2022-05-21-NW202205200000000002.md", second)
    # 5. a post the state store does not know
    stray = posts / "2022-05-22-NW202205229999999999.md"
    stray_text = live.read_text(encoding="utf-8").lstrip("\n").replace("标题3", "无人知晓")
    stray.write_text(stray_text.replace("202205200000000003", "202205229999999999"), encoding="utf-8")
    # 6. a category page gone, 7. a leftover temporary file, 8. a known article whose file is gone
    (config.output_dir / "category" / "zhongguoxinwenwang.html").unlink()
    (posts / ".wm-abc.tmp").write_text("half", encoding="utf-8")
    chinanews_post = next(archive.glob("*-cns9229287.md"))
    chinanews_post.unlink()

    report = verify(config, state)
    found = {p.code for p in report.remaining}
    assert found >= {
        "leading-blank",
        "date-offset",
        "liquid",
        "duplicate",
        "untracked",
        "category-page",
        "temporary",
        "missing",
    }
    assert not report.ok

    fixed = verify(config, state, fix=True)
    assert fixed.ok, [str(p) for p in fixed.remaining]
    assert {p.code for p in fixed.problems if p.fixed} == found
    assert any("blank lines before the front matter removed" in c for c in fixed.changes)
    assert any("given its Beijing offset" in c for c in fixed.changes)
    assert any("entity-escaped" in c for c in fixed.changes)
    assert any("duplicate of" in c and "moved to" in c for c in fixed.changes)
    assert any("scheduled to be fetched again" in c for c in fixed.changes)

    assert live.read_text(encoding="utf-8").startswith("---\n")
    meta = frontmatter.loads(old.read_text(encoding="utf-8")).metadata
    assert meta["date"] == "2022-05-20 09:00:00 +0800" and meta["title"] == "标题1"
    assert "&#123;&#123; site.title &#125;&#125;" in old.read_text(encoding="utf-8")
    assert not second.exists()
    assert list((config.state_dir / "quarantine").rglob("2022-05-21-202205200000000002.md"))
    assert state.get_article("eastmoney:202205229999999999").post_path == f"_posts/{stray.name}"
    assert (config.output_dir / "category" / "zhongguoxinwenwang.html").is_file()
    assert not list(posts.glob(".wm-*"))
    assert [f.key for f in state.failures()] == ["chinanews:9229287"]
    # clean, except the post that only the next crawl can bring back
    again = verify(config, state)
    assert [(p.code, p.fixable) for p in again.remaining] == [("missing", False)]
    assert "re-fetch is scheduled" in again.remaining[0].message


def test_unfixable_problems_keep_the_exit_code(tmp_path):
    config, state = _clean_site(tmp_path)
    (config.posts_dir / "2022-05-22-NW202205200000000009.md").write_bytes(b"---\ntitle: \xff\xfe\n---\n")
    (config.posts_dir / "2022-05-22-NW202205200000000008.md").write_text(
        "---\nlayout: post\ntitle: x\ndate: someday\ncategories: a\ntags: b\n---\n", encoding="utf-8"
    )
    report = verify(config, state, fix=True)
    assert {p.code for p in report.remaining} == {"encoding", "bad-date"}
    toml = write_toml(tmp_path, config)
    result = run_cli("archive", "verify", "--config", str(toml))
    assert result.returncode == 1
    assert "not valid UTF-8" in result.stdout and "is not a date" in result.stdout
    assert "archive verify" in result.stdout


def test_real_seed_posts_show_their_real_defects(tmp_path):
    config, state = _clean_site(tmp_path)
    for rel in (
        "_posts/-202205262391921712.md",
        "_posts/2021-12-08-202112082206928461.md",
        "_posts/2021-12-08-202112082206672930.md",
    ):
        shutil.copyfile(SEED / rel, config.output_dir / rel)
    report = verify(config, state)
    got = _codes(report)
    assert ("_posts/-202205262391921712.md", "missing-title") in got
    assert ("_posts/-202205262391921712.md", "bad-date") in got  # "date:  +0800"
    assert ("_posts/2021-12-08-202112082206928461.md", "leading-blank") in got
    assert ("_posts/2021-12-08-202112082206672930.md", "date-offset") in got
    fixed = verify(config, state, fix=True)
    # the empty-date post cannot be dated (no other copy, unknown to the state store): it stays reported
    assert {p.relpath for p in fixed.remaining} == {"_posts/-202205262391921712.md"}
    assert (
        (config.posts_dir / "2021-12-08-202112082206928461.md")
        .read_text(encoding="utf-8")
        .startswith("---\n")
    )


def test_cli_verify_ok_and_fix(tmp_path):
    config, state = _clean_site(tmp_path)
    state.close()
    toml = write_toml(tmp_path, config)
    assert run_cli("archive", "verify", "--config", str(toml)).returncode == 0
    target = next(config.output_dir.glob("category/*.html"))
    target.unlink()
    broken = run_cli("archive", "verify", "--config", str(toml))
    assert broken.returncode == 1 and "fixable: run with --fix" in broken.stdout
    fixed = run_cli("archive", "verify", "--fix", "--config", str(toml))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "category page written" in fixed.stdout and target.is_file()


def test_an_impossible_date_is_a_reported_problem_not_a_crash():
    from crawler.postformat import parse_post

    post = parse_post(
        "_posts/2021-02-30-NW202102300000000001.md", "---\ntitle: x\ndate: 2021-02-30 10:00:00\n---\nbody\n"
    )
    assert post.meta is None
    assert "not valid YAML" in post.error


def test_libyaml_and_pyyaml_read_front_matter_alike():
    import yaml

    from crawler.postformat import load_front_matter

    samples = [
        'title: "他说\\"你好\\": 测试"\ndate: 2022-05-26 00:19:55 +0800\ncategories: emnews\n',
        "title: 'single'\ndate: 2022-05-26 00:19:55+08:00\ntags:\n- 中国新闻网新闻\n",
        "aliases:\n- eastmoney:1\nrender_with_liquid: false\nexcerpt: yes\n",
    ]
    for text in samples:
        assert load_front_matter(text) == yaml.safe_load(text)
    with_tab = "title: a\n\tb: c\n"
    with pytest.raises(yaml.YAMLError):
        load_front_matter(with_tab)


# -- verify streams and lets crawls run -------------------------------------------------------


def _big_archive(tmp_path, posts: int):
    """``posts`` posts a crawl would write, all known to the state store, with category pages."""
    from bench.archive_data import known_articles

    config = make_config(tmp_path)
    init_site(config.output_dir)
    known_articles(config.db_path, posts, with_posts=PostStore(config.output_dir))
    with StateStore(config.db_path) as state:
        write_category_pages(state, config.output_dir)
    return config


def test_a_crawl_writes_while_verify_runs_and_nothing_it_wrote_is_reported(tmp_path, monkeypatch):
    """verify holds no crawl lock while it reads: a writer takes the lock after verify's first
    batch, adds a post and rewrites a later one (its state store row updated only after verify read
    the file), and verify, looking at suspects again under the lock, reports nothing."""
    import threading

    from crawler.archive import verify as verify_module
    from crawler.archive.repair import record_from_post
    from crawler.cli import main
    from crawler.locks import crawl_lock_name, source_lock
    from crawler.postformat import parse_post, read_post
    from tests.conftest import wait_for

    n = 3 * verify_module.BATCH
    config = _big_archive(tmp_path, n)
    toml = write_toml(tmp_path, config)
    paused, resume, calls = threading.Event(), threading.Event(), []

    def after_batch(checked: int) -> None:
        calls.append(checked)
        if len(calls) == 1:
            paused.set()
            assert resume.wait(60)

    monkeypatch.setattr(verify_module, "after_batch", after_batch)
    code: list[int] = []
    runner = threading.Thread(target=lambda: code.append(main(["archive", "verify", "--config", str(toml)])))
    runner.start()
    try:
        wait_for(paused.is_set, what="verify's first batch")
        later = max(config.posts_dir.iterdir())  # read in verify's last batch
        with (
            source_lock(config.state_dir, crawl_lock_name("eastmoney"), timeout=0),
            StateStore(config.db_path) as state,
        ):
            # a new article, written and recorded as the crawl pipeline does (file first)
            donor = parse_post(f"_posts/{later.name}", later.read_text(encoding="utf-8"))
            new_id = "209912310000000001"
            new_name = f"{donor.name_date}-NW{new_id}.md"
            (config.posts_dir / new_name).write_text(
                donor.text.replace(str(donor.meta["article_id"]), new_id), encoding="utf-8"
            )
            rel = f"_posts/{new_name}"
            assert record_from_post(state, config, read_post(config.output_dir / rel, rel))
            # an update of a listed post: the file changes now, its row once verify has read it
            key = f"eastmoney:{donor.meta['article_id']}"
            old_hash = str(donor.meta["content_hash"])
            later.write_text(donor.text.replace(old_hash, "0123456789abcdef"), encoding="utf-8")
            resume.set()
            wait_for(lambda: calls and calls[-1] >= n, what="verify to read every post")
            state.set_content_hash(key, "0123456789abcdef")
        runner.join(120)
    finally:
        resume.set()
        runner.join(120)
    assert not runner.is_alive()
    assert code == [0]  # no problem reported: what the writer did was looked at again under the lock
    assert len(calls) == 3


_LISTINGS: list[str] | None = None  # while a test collects them: folders os.listdir read whole


def _audit(event: str, args: tuple) -> None:
    if _LISTINGS is not None and event == "os.listdir" and args and args[0] is not None:
        _LISTINGS.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only inside a test


def test_verify_never_holds_a_whole_post_folder_listing(tmp_path):
    """Memory independent of the archive: verify (and its progress bar's count) reads the post
    folders one directory entry at a time, never as one list of every name."""
    global _LISTINGS
    from crawler.cli import main

    config = _big_archive(tmp_path, 20)
    toml = write_toml(tmp_path, config)
    _LISTINGS = []
    try:
        assert main(["archive", "verify", "--config", str(toml)]) == 0
        listed = set(_LISTINGS)
    finally:
        _LISTINGS = None
    assert not listed & {os.path.realpath(config.posts_dir), os.path.realpath(config.archive_dir)}

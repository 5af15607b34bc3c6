"""archive import: the real predecessor site (tests/fixtures/seed-site) with its real defects, and hand-made ones."""

from __future__ import annotations

import hashlib
import shutil

import frontmatter

from crawler.archive.importer import import_archive
from crawler.archive.verify import verify
from crawler.site import init_site
from crawler.state import StateStore
from crawler.timeutil import parse_beijing
from tests.archive_support import FIXTURES, Crawl, eastmoney_item, make_config, write_toml
from tests.conftest import run_cli

SEED = FIXTURES / "seed-site"
HANDMADE = SEED / "handmade"

CLEAN = ["old_post/2021-12-08-202112082207168450.md", "old_post/2022-05-26-NW202205262391921712.md"]
DEFECTIVE = [
    "_posts/2021-12-01-init.md",  # date without offset
    "_posts/2021-12-08-202112082206672930.md",  # date without offset
    "_posts/2021-12-08-202112082206885265.md",  # date without offset
    "_posts/2021-12-08-202112082206928461.md",  # blank line before the front matter
]
EMPTY_DATE = "_posts/-202205262391921712.md"  # same article as old_post/2022-05-26-NW…


def _fingerprint(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _setup(tmp_path):
    config = make_config(tmp_path)
    init_site(config.output_dir)
    return config, StateStore(config.db_path)


def test_without_fix_only_sound_posts_are_taken_byte_for_byte(tmp_path):
    config, state = _setup(tmp_path)
    before = _fingerprint(SEED)
    report = import_archive(SEED, config, state)
    assert _fingerprint(SEED) == before  # the source folder is never touched
    assert sorted(report.imported) == CLEAN
    for rel in CLEAN:
        assert (config.output_dir / rel).read_bytes() == (SEED / rel).read_bytes()
    assert sorted({p.relpath for p in report.rejected}) == DEFECTIVE
    assert report.duplicates == [f"{EMPTY_DATE} (same article as {CLEAN[1]})"]
    assert not report.ok
    # imported articles are known under the keys a crawl uses: never fetched again
    assert state.known_keys(["eastmoney:202112082207168450", "eastmoney:202205262391921712"]) == {
        "eastmoney:202112082207168450",
        "eastmoney:202205262391921712",
    }
    record = state.get_article("eastmoney:202205262391921712")
    assert record.post_path == CLEAN[1] and record.media == "上海证券报"
    assert record.published == "2022-05-26T00:19:55+08:00"
    assert ("shanghaizhengquanbao", "上海证券报", "上海证券报新闻") in state.categories()
    assert (config.output_dir / "category" / "shanghaizhengquanbao.html").is_file()


def test_with_fix_every_real_post_is_repaired_and_the_site_verifies(tmp_path):
    config, state = _setup(tmp_path)
    report = import_archive(SEED, config, state, fix=True)
    assert report.ok, [str(p) for p in report.rejected]
    assert sorted(report.imported) == sorted(CLEAN + DEFECTIVE)
    assert not (config.output_dir / EMPTY_DATE).exists()
    blank = (config.output_dir / DEFECTIVE[3]).read_text(encoding="utf-8")
    assert blank.startswith("---\n")
    for rel in DEFECTIVE:
        post = frontmatter.loads((config.output_dir / rel).read_text(encoding="utf-8"))
        assert post.metadata["date"].endswith(" +0800"), rel
    # bodies are kept as they were (the predecessor wrote no final newline; neither do we add one)
    original = (SEED / DEFECTIVE[1]).read_text(encoding="utf-8").split("---\n", 2)[2]
    assert (config.output_dir / DEFECTIVE[1]).read_text(encoding="utf-8").endswith(original)
    assert {slug for slug, _, _ in state.categories()} == {"emnews", "shanghaizhengquanbao", "sitenews"}
    assert state.category_for("东财滚动新闻") == ("emnews", "东财滚动新闻")
    for slug in ("emnews", "shanghaizhengquanbao", "sitenews"):
        assert (config.output_dir / "category" / f"{slug}.html").is_file()
    # the hand-written init post has no article id: on the site, not in the state store
    assert state.count_articles() == 5
    assert verify(config, state).ok


def test_import_is_idempotent(tmp_path):
    config, state = _setup(tmp_path)
    import_archive(SEED, config, state, fix=True)
    before = _fingerprint(config.output_dir)
    again = import_archive(SEED, config, state, fix=True)
    assert again.imported == [] and len(again.known) == 5
    assert _fingerprint(config.output_dir) == before


def test_a_crawl_after_the_import_does_not_duplicate(tmp_path):
    config, state = _setup(tmp_path)
    import_archive(SEED, config, state, fix=True)
    state.close()
    crawl = Crawl(config)
    # the same story again from the current API (media 上海证券报): known, nothing new written
    item = eastmoney_item(
        "202205262391921712",
        title="国内首次！蔚来汽车启用这款“绿色”制冷液 哪些A股公司早有布局？",
        published=parse_beijing("2022-05-26 00:19:55"),
    )
    assert crawl.state.is_known(item.key)
    before = _fingerprint(config.output_dir / "_posts")
    crawl.feed(item)
    assert _fingerprint(config.output_dir / "_posts") == before
    assert crawl.state.get_article(item.key).post_path.startswith("old_post/")
    crawl.close()


def test_handmade_defects_unescaped_titles_spaces_case_variants_liquid(tmp_path):
    config, state = _setup(tmp_path)
    plain = import_archive(HANDMADE, config, state)
    assert plain.imported == []
    assert {p.code for p in plain.rejected} == {"front-matter", "category-slug", "liquid"}

    report = import_archive(HANDMADE, config, state, fix=True)
    assert report.ok, [str(p) for p in report.rejected]
    assert len(report.imported) == 4
    quoted = frontmatter.loads(
        (config.posts_dir / "2022-05-20-NW202205202380000001.md").read_text(encoding="utf-8")
    )
    assert quoted.metadata["title"] == '他说"涨停"了 \\ 反斜杠: 测试'
    assert quoted.metadata["categories"] == "21shijijingjibaodao21caijingapp"
    assert quoted.metadata["tags"] == ["21世纪经济报道 21财经APP新闻"]
    assert "/category/21shijijingjibaodao21caijingapp.html)" in quoted.content
    brackets = (config.posts_dir / "2022-05-20-NW202205202380000002.md").read_text(encoding="utf-8")
    assert "categories: anxinguojizhengquanxianggang" in brackets
    assert "&#123;&#123; 调整 &#125;&#125;" in brackets and "{{" not in brackets.split("---", 2)[2]
    # TechWeb and Techweb are one source with one slug
    slugs = {
        frontmatter.loads(p.read_text(encoding="utf-8")).metadata["categories"]
        for p in config.archive_dir.glob("2022-05-19-*.md")
    }
    assert slugs == {"techweb"}
    assert sum(1 for slug, _, _ in state.categories() if slug.startswith("techweb")) == 1
    assert verify(config, state).ok


def test_import_in_place_quarantines_the_duplicate(tmp_path):
    config, state = _setup(tmp_path)
    for folder in ("_posts", "old_post"):
        shutil.copytree(SEED / folder, config.output_dir / folder, dirs_exist_ok=True)
    report = import_archive(config.output_dir, config, state, fix=True)
    assert report.ok
    assert not (config.output_dir / EMPTY_DATE).exists()
    assert list((config.state_dir / "quarantine").rglob("-202205262391921712.md"))
    assert verify(config, state).ok


def test_cli_import(tmp_path):
    config, state = _setup(tmp_path)
    state.close()
    toml = write_toml(tmp_path, config)
    plain = run_cli("archive", "import", str(SEED), "--config", str(toml))
    assert plain.returncode == 1
    assert "not imported" in plain.stdout and "(run with --fix)" in plain.stdout
    fixed = run_cli("archive", "import", str(SEED), "--fix", "--config", str(toml))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "repaired" in fixed.stdout and "archive import" in fixed.stdout
    assert run_cli("archive", "verify", "--config", str(toml)).returncode == 0
    assert run_cli("archive", "import", str(tmp_path / "nope"), "--config", str(toml)).returncode == 2

"""The post format: front matter that always parses back to the same values, Liquid-safe bodies,
and rendering and reading as inverse functions."""

from __future__ import annotations

from datetime import timedelta

import frontmatter
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.items import ArticleItem
from crawler.postformat import (
    SEED_KEYS,
    QuotedStr,
    SiteSettings,
    article_key,
    clean_text,
    dump_post,
    has_liquid,
    parse_post,
    parse_post_date,
    post_relpath,
    render_post,
)
from crawler.timeutil import parse_beijing
from pipelines.sanitize import sanitize_html

SITE = SiteSettings()


def make_item(**kw) -> ArticleItem:
    base = dict(
        source="eastmoney",
        article_id="202204082336871455",
        title="标题",
        published=parse_beijing("2022-04-08 17:57:45"),
        body_html="<p>x</p>",
        url="https://finance.eastmoney.com/a/202204082336871455.html",
        media="中国新闻网",
        body="<p>正文</p>",
        category="zhongguoxinwenwang",
        tag="中国新闻网新闻",
    )
    base.update(kw)
    return ArticleItem(**base)


HOSTILE_TITLES = [
    'He said: "hi" # not a comment',
    "- leading dash",
    "---",
    "[bracket] * star & amp",
    "line one\nline two\r\nthree",
    "{{ site.title }} {% raw %} {% endraw %}",
    "zero\u200bwidth \u202eright-to-left",
    "'single' \\ back\\slash",
    "yes",
    "x" * 10_000,
    "%percent: @at `tick` |pipe >gt",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_titles_round_trip(title):
    rendered = render_post(make_item(title=title, media=title[:40]), SITE)
    post = frontmatter.loads(rendered.text)
    assert post["title"] == clean_text(title)
    assert post["layout"] == "post"
    assert post["date"] == "2022-04-08 17:57:45 +0800"
    assert post.content.startswith("<p>正文</p>")
    # exactly one front-matter block: the body never holds a line that closes or reopens it
    assert rendered.text.count("\n---\n") == 1


def test_multiword_category_and_tag_are_lists_so_jekyll_does_not_split_them():
    rendered = render_post(make_item(tag="Career In 投行新闻", category="careerintouhang"), SITE)
    post = frontmatter.loads(rendered.text)
    assert post["tags"] == ["Career In 投行新闻"]
    assert post["categories"] == "careerintouhang"


def test_file_names():
    assert post_relpath(make_item()) == "_posts/2022-04-08-NW202204082336871455.md"
    assert post_relpath(make_item(media="")) == "_posts/2022-04-08-202204082336871455.md"
    assert (
        post_relpath(make_item(source="chinanews", article_id="9229287")) == "_posts/2022-04-08-cns9229287.md"
    )
    # the file-name date is the Beijing date even for a time just after midnight Beijing (16:xx UTC)
    late = parse_beijing("2022-04-09 00:30:00")
    assert post_relpath(make_item(published=late)) == "_posts/2022-04-09-NW202204082336871455.md"


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "/abs", "12\x0034", "", "NW123"])
def test_ids_that_are_not_digits_are_refused(bad_id):
    with pytest.raises(ValueError, match="article id"):
        render_post(make_item(article_id=bad_id), SITE)


def test_missing_date_title_or_body_is_never_rendered():
    with pytest.raises(ValueError):
        render_post(make_item(published=None), SITE)
    with pytest.raises(ValueError):
        render_post(make_item(body="  "), SITE)


printable = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(title=printable.filter(lambda t: clean_text(t)), media=printable, body=printable)
def test_property_front_matter_parses_back_and_body_has_no_liquid(title, media, body):
    item = make_item(
        title=title,
        media=media,
        body=sanitize_html(f"<p>{body}</p>", base_url="https://e.com/") or "<p>.</p>",
    )
    rendered = render_post(item, SITE)
    head, _, rest = rendered.text[4:].partition("\n---\n")
    meta = yaml.safe_load(head)
    assert meta["title"] == clean_text(title)
    if clean_text(media):
        assert meta["media"] == clean_text(media)
    assert not has_liquid(rest)


one_line = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    source_id=st.one_of(
        st.tuples(st.just("eastmoney"), st.from_regex(r"20[0-9]{16}", fullmatch=True)),
        st.tuples(st.just("chinanews"), st.from_regex(r"[vp]?[1-9][0-9]{6,7}", fullmatch=True)),
    ),
    title=one_line.filter(lambda t: clean_text(t)),
    media=one_line,
    origin=one_line,
    summary=one_line,
    aliases=st.lists(st.from_regex(r"eastmoney:20[0-9]{16}", fullmatch=True), max_size=2, unique=True),
    minute=st.integers(0, 60 * 24 * 365 * 10),
)
def test_render_and_parse_are_inverse(source_id, title, media, origin, summary, aliases, minute):
    """What render_post writes, parse_post and article_key read back: the same values, the same id."""
    source, article_id = source_id
    published = parse_beijing("2016-01-01 00:00:00") + timedelta(minutes=minute)
    item = make_item(
        source=source, article_id=article_id, title=title, media=media, origin=origin, summary=summary,
        aliases=aliases, published=published, fetched_at=published,
    )  # fmt: skip
    rendered = render_post(item, SITE)
    post = parse_post(rendered.relpath, rendered.text)
    assert post.error == ""
    assert post.meta == {k: str(v) if isinstance(v, QuotedStr) else v for k, v in rendered.metadata.items()}
    assert list(post.meta)[:5] == list(SEED_KEYS)
    assert post.body.startswith(item.body) and post.body.endswith("\n")
    assert parse_post_date(post.meta["date"]) == (published, True)
    assert post.name_date == published.strftime("%Y-%m-%d")
    assert article_key(post) == (source, article_id)
    # the file name alone says which article it is (what verify and import fall back on)
    assert article_key(parse_post(rendered.relpath, "no front matter")) == (source, article_id)
    # and writing the read-back front matter again gives the same text
    assert dump_post(post.meta, post.body) == rendered.text


def test_inert_text_fast_path_looks_for_exactly_the_characters_it_escapes():
    """inert_text skips text without specials; the look-up must know every character escaped."""
    from crawler import postformat

    for table, needs in (
        (postformat._INERT, postformat._NEEDS_INERT),
        (postformat._INERT_IN_MARKDOWN, postformat._NEEDS_INERT_IN_MARKDOWN),
    ):
        escaped = {chr(code) for code in table}
        assert escaped == {chr(c) for c in range(0x10000) if needs.match(chr(c))}

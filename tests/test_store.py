"""PostStore: atomic, only-when-changed writes that never leave the output folder."""

from __future__ import annotations

import os
import sys

import pytest

from pipelines.store import PostStore, UnsafePathError


def test_write_is_skipped_when_bytes_are_equal(tmp_path):
    store = PostStore(tmp_path)
    assert store.write("_posts/a.md", "one\n") is True
    path = tmp_path / "_posts" / "a.md"
    os.utime(path, (1, 1))
    assert store.write("_posts/a.md", "one\n") is False
    assert path.stat().st_mtime == 1  # untouched
    assert store.write("_posts/a.md", "two\n") is True
    assert path.read_text() == "two\n"
    assert not list((tmp_path / "_posts").glob(".wm-*"))  # no temporary left behind


@pytest.mark.parametrize("rel", ["../x.md", "/etc/x.md", "_posts/../../x.md", "a\0b.md", ""])
def test_paths_outside_the_root_are_refused(tmp_path, rel):
    store = PostStore(tmp_path / "site")
    with pytest.raises(UnsafePathError):
        store.write(rel, "x")
    assert list(tmp_path.rglob("*.md")) == []


def test_symlink_escape_is_refused(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "site" / "_posts").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError):
        PostStore(tmp_path / "site").write("_posts/a.md", "x")


def test_sweep_removes_leftover_temporaries(tmp_path):
    (tmp_path / "_posts").mkdir()
    (tmp_path / "_posts" / ".wm-abc.tmp").write_text("half")
    assert PostStore(tmp_path).sweep_temporaries() == 1


_LISTED: list[str] | None = None  # while a test collects them, the folders os.scandir/listdir list


def _audit(event: str, args: tuple) -> None:
    if _LISTED is not None and event in ("os.scandir", "os.listdir") and args and args[0] is not None:
        _LISTED.append(os.path.relpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only inside a test


def test_sweep_lists_only_the_writers_folders_not_the_built_site_or_git(tmp_path, monkeypatch):
    """The crawl sweeps at every start: it must not walk Jekyll's output or a publishing repository,
    each of which holds more files than the posts themselves."""
    global _LISTED
    for folder in ("_posts", "old_post", "category", "_site/2024/05", ".git/objects/ab", ".wiremirror-build"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / ".wm-dead-1.tmp").write_text("half")
    monkeypatch.chdir(tmp_path)
    _LISTED = []
    try:
        swept = PostStore(tmp_path).sweep_temporaries()
        listed = sorted(_LISTED)
    finally:
        _LISTED = None
    assert listed == [".", "_posts", "category", "old_post"]
    assert swept == 3
    assert (tmp_path / "_site/2024/05/.wm-dead-1.tmp").exists()  # not ours: left alone


def test_posts_are_readable_by_the_web_server(tmp_path):
    PostStore(tmp_path).write("_posts/a.md", "x")
    mode = (tmp_path / "_posts" / "a.md").stat().st_mode & 0o777
    assert mode & 0o044 == 0o044  # group and others may read (umask permitting)


def test_write_many_writes_changed_posts_and_skips_equal_ones(tmp_path):
    store = PostStore(tmp_path)
    store.write("_posts/a.md", "same\n")
    changed = store.write_many(
        [("_posts/a.md", "same\n"), ("_posts/b.md", "new\n"), ("old_post/c.md", "c\n")]
    )
    assert changed == [False, True, True]
    assert (tmp_path / "_posts" / "b.md").read_text() == "new\n"
    assert (tmp_path / "old_post" / "c.md").read_text() == "c\n"
    assert not list(tmp_path.rglob(".wm-*"))
    with pytest.raises(UnsafePathError):
        store.write_many([("../escape.md", "x")])


def test_a_batch_that_fails_midway_renames_nothing_and_leaves_no_temporary(tmp_path):
    store = PostStore(tmp_path)
    with pytest.raises(UnsafePathError):
        store.write_many([("_posts/a.md", "a\n"), ("_posts/b.md", "b\n"), ("../escape.md", "x")])
    assert not (tmp_path / "_posts" / "a.md").exists()
    assert not (tmp_path / "_posts" / "b.md").exists()
    assert not list(tmp_path.rglob(".wm-*"))

"""PostStore: atomic, only-when-changed writes that never leave the output folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.store import RECORDS, PostStore, UnsafePathError
from tests.conftest import child_pythonpath


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


def _killed_writer(root: Path, *relpaths: str) -> None:
    """A writer process that staged a temporary for each of ``relpaths`` and was killed (no exit
    handlers run) before renaming them."""
    code = (
        "import os, sys; from pathlib import Path; from pipelines.store import PostStore; "
        "store = PostStore(Path(sys.argv[1])); "
        "[store._stage(rel, 'half', flush=True) for rel in sys.argv[2:]]; os._exit(9)"
    )
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    done = subprocess.run([sys.executable, "-c", code, str(root), *relpaths], env=env, check=False)
    assert done.returncode == 9


def test_sweep_removes_a_killed_writers_temporaries(tmp_path):
    _killed_writer(tmp_path, "_posts/a.md", "old_post/b.md")
    assert len(list(tmp_path.glob("*/.wm-*.tmp"))) == 2
    assert PostStore(tmp_path).sweep_temporaries() == 2
    assert not list(tmp_path.rglob(".wm-*")) and not list((tmp_path / RECORDS).iterdir())
    # a leftover without a writer record (an older wiremirror's): only the whole walk finds it
    (tmp_path / "_posts" / ".wm-abc.tmp").write_text("half")
    assert PostStore(tmp_path).sweep_temporaries() == 0
    assert PostStore(tmp_path).sweep_temporaries(everywhere=True) == 1


def test_a_writer_that_exits_normally_leaves_no_record(tmp_path):
    code = "import sys; from pathlib import Path; from pipelines.store import PostStore; PostStore(Path(sys.argv[1])).write('_posts/a.md', 'x')"
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True)
    assert (tmp_path / "_posts" / "a.md").read_text() == "x"
    assert list((tmp_path / RECORDS).iterdir()) == []


_LISTED: list[str] | None = None  # while a test collects them, the folders os.scandir/listdir list


def _audit(event: str, args: tuple) -> None:
    if _LISTED is not None and event in ("os.scandir", "os.listdir") and args and args[0] is not None:
        _LISTED.append(os.path.relpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only inside a test


def _listed_by(call) -> tuple[list[str], int]:
    global _LISTED
    _LISTED = []
    try:
        result = call()
        return sorted(_LISTED), result
    finally:
        _LISTED = None


def test_the_crawls_sweep_lists_only_where_dead_writers_wrote(tmp_path, monkeypatch):
    """The crawl sweeps at every start, so what it lists must not grow with the archive: not the
    posts, the built site or a publishing repository — only the writer records and the folders a
    dead writer named (then those are gone too)."""
    for folder in ("_posts", "old_post", "category", "_site/2024/05", ".git/objects/ab"):
        (tmp_path / folder).mkdir(parents=True)
        for n in range(3):
            (tmp_path / folder / f"{n}.md").write_text("post")
    (tmp_path / "_site/2024/05/.wm-dead-1.tmp").write_text("not ours")
    monkeypatch.chdir(tmp_path)
    store = PostStore(tmp_path)
    assert _listed_by(store.sweep_temporaries) == ([RECORDS], 0)  # nothing to do: one small listing
    _killed_writer(tmp_path, "_posts/a.md", "old_post/b.md")
    assert _listed_by(store.sweep_temporaries) == ([RECORDS, "_posts", "old_post"], 2)
    assert _listed_by(store.sweep_temporaries) == ([RECORDS], 0)
    # verify's whole walk: every folder of ours, still neither the built site nor .git
    listed, _ = _listed_by(lambda: store.sweep_temporaries(everywhere=True))
    assert listed == [".", RECORDS, "_posts", "category", "old_post"]
    assert (tmp_path / "_site/2024/05/.wm-dead-1.tmp").exists()


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

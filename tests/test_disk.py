"""Disk trouble: a full disk or a read-only output folder is a clear error, nothing is marked known
that was not written, the run exits non-zero, and the next run recovers.

The tests run as root, and root ignores permission bits, so ``chmod`` cannot make a folder
unwritable here. What really produces the errors: the crawl runs inside a private mount namespace
(``unshare -m``, so nothing leaks to the host) where ``_posts`` is
  * a tiny ``tmpfs`` (``mount -t tmpfs -o size=…``): writes fail with ENOSPC once it is full;
  * a read-only bind mount of itself (``mount --bind`` + ``remount,ro``): every write is EROFS.
What was written to the tiny disk is copied back to the real folder before the namespace ends,
so the next run sees the disk as it was left. Without CAP_SYS_ADMIN (not root, or a container
without it) the namespace is made inside a new user namespace (``unshare -r -m``), where an
unprivileged user may mount tmpfs and bind mounts too. Only where neither works (user namespaces
disabled, or blocked by a container's seccomp profile) do those tests skip, and under CI=true
they fail instead, so CI never silently loses them. The fourth test (``_posts`` replaced by a
plain file: ENOTDIR) runs everywhere.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.upstream_support import articles, assert_complete_posts, crawl, serve, state_at

ITEMS = articles(12)


def crawl_on(namespace: list[str], posts: Path, config: Path, setup: str) -> subprocess.CompletedProcess[str]:
    """Run one crawl in a private mount namespace where ``setup`` has re-mounted ``posts``."""
    saved = posts.parent.parent / "disk-copy"
    saved.mkdir(exist_ok=True)
    crawl_cmd = shlex.join([sys.executable, "-m", "crawler", "crawl", "eastmoney", "--config", str(config)])
    script = f"""
set -e
P={shlex.quote(str(posts))}; S={shlex.quote(str(saved))}
{setup}
set +e
{crawl_cmd}
rc=$?
set -e
cp -a "$P/." "$S/"      # what the small or read-only disk holds now …
umount "$P"
cp -a "$S/." "$P/"      # … is what the real folder holds after the run
rm -f "$P/.filler"
exit $rc
"""
    env = {**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*namespace, "sh", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def check_nothing_known_unwritten(root: Path) -> set[str]:
    posts = assert_complete_posts(root / "output")
    with state_at(root) as state:
        assert state.integrity_check() == "ok"
        known = {r.article_id for r in state.iter_articles()}
        for record in state.iter_articles():
            assert (root / "output" / record.post_path).is_file(), record
    assert known == set(posts)
    return known


def check_recovery(root: Path, config: Path) -> None:
    again = crawl(config)
    assert again.returncode == 0, again.stderr
    posts = assert_complete_posts(root / "output")
    assert sorted(posts) == sorted(a.article_id for a in ITEMS)
    with state_at(root) as state:
        assert state.count_articles() == len(ITEMS)


def check_failed_run(result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "eastmoney: failed" in result.stdout
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: cannot write")]
    assert errors and all(reason in line for line in errors), result.stderr


def test_full_disk(loopback, make_config, tmp_path, namespace):
    serve(loopback, ITEMS)
    config = make_config(crawl={"concurrent_per_domain": 1})
    posts = tmp_path / "output" / "_posts"
    posts.mkdir(parents=True)
    # 16 KiB: room for a few posts (one 4 KiB page each), then ENOSPC
    result = crawl_on(namespace, posts, config, 'mount -t tmpfs -o size=16k tmpfs "$P"')
    check_failed_run(result, "No space left on device")
    known = check_nothing_known_unwritten(tmp_path)
    assert 0 < len(known) < len(ITEMS)  # it really filled up part-way through the run
    check_recovery(tmp_path, config)


def test_disk_already_full(loopback, make_config, tmp_path, namespace):
    serve(loopback, ITEMS)
    config = make_config()
    posts = tmp_path / "output" / "_posts"
    posts.mkdir(parents=True)
    fill = 'mount -t tmpfs -o size=16k tmpfs "$P"; dd if=/dev/zero of="$P/.filler" bs=4k count=16 2>/dev/null || true'
    result = crawl_on(namespace, posts, config, fill)
    check_failed_run(result, "No space left on device")
    assert check_nothing_known_unwritten(tmp_path) == set()
    check_recovery(tmp_path, config)


def test_read_only_output_folder(loopback, make_config, tmp_path, namespace):
    serve(loopback, ITEMS)
    config = make_config()
    posts = tmp_path / "output" / "_posts"
    posts.mkdir(parents=True)
    result = crawl_on(namespace, posts, config, 'mount --bind "$P" "$P"; mount -o remount,bind,ro "$P"')
    check_failed_run(result, "Read-only file system")
    assert check_nothing_known_unwritten(tmp_path) == set()
    check_recovery(tmp_path, config)


def test_posts_folder_replaced_by_a_file(loopback, make_config, tmp_path):
    serve(loopback, ITEMS)
    config = make_config()
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "_posts").write_text("not a folder")  # ENOTDIR / EEXIST for every write
    result = crawl(config)
    check_failed_run(result, "cannot write")
    with state_at(tmp_path) as state:
        assert state.count_articles() == 0
    (tmp_path / "output" / "_posts").unlink()
    check_recovery(tmp_path, config)

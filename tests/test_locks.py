"""Per-source locks: real processes contending for real flock()s, and two real ``wiremirror crawl``s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.locks import EXIT_LOCKED, LockTimeout, holder_info, is_locked, lock_path, source_lock
from crawler.state import StateStore
from tests.conftest import DEMO_DATA, REPO, loopback_config, posts_in, write_config

HOLDER = """
import sys, time
from pathlib import Path
from crawler.locks import source_lock
with source_lock(Path(sys.argv[1]), sys.argv[2], 30):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def hold(state: Path, name: str, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the lock; returns once it has it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state), name, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_records_its_holder_and_is_reusable(tmp_path: Path) -> None:
    with source_lock(tmp_path, "crawl-eastmoney", 1) as path:
        assert path == lock_path(tmp_path, "crawl-eastmoney") == tmp_path / "locks" / "crawl-eastmoney.lock"
        assert f"pid={os.getpid()}" in holder_info(path)
        assert is_locked(tmp_path, "crawl-eastmoney")
    assert not is_locked(tmp_path, "crawl-eastmoney")
    assert path.exists()  # never deleted: deleting a flock file lets two processes lock two inodes
    with source_lock(tmp_path, "crawl-eastmoney", 1):
        pass


def test_second_process_gives_up_after_the_timeout_naming_the_holder(tmp_path: Path) -> None:
    holder = hold(tmp_path, "crawl-eastmoney", 30)
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeout) as caught, source_lock(tmp_path, "crawl-eastmoney", 0.5):
            pytest.fail("the lock was taken twice")
        assert time.monotonic() - started >= 0.5  # it did wait
        assert f"pid={holder.pid}" in caught.value.holder_info
        message = str(caught.value)
        assert message.startswith("crawl-eastmoney is locked by another process (pid=")
        assert "gave up after" in message
        # other names are independent
        with source_lock(tmp_path, "crawl-chinanews", 0.1):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_waiter_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    holder = hold(tmp_path, "publish", 0.5)
    with source_lock(tmp_path, "publish", 30):
        assert holder.poll() is not None  # we only got it after the holder had ended
    holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = hold(tmp_path, "crawl-eastmoney", 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with source_lock(tmp_path, "crawl-eastmoney", 5):
        pass


def test_exit_code_is_ex_tempfail() -> None:
    assert EXIT_LOCKED == 75


def _slow_demo(loopback, delay: float) -> None:
    """The Eastmoney demo upstream, with article bodies that take ``delay`` seconds to arrive."""
    folder = DEMO_DATA / "eastmoney"
    loopback.load_manifest(folder)
    for text in folder.glob("text-*.json"):
        info_code = text.stem.removeprefix("text-")
        loopback.add(
            f"/NewsData/GetNewsText.do?id={info_code}",
            text.read_bytes(),
            content_type="application/json; charset=utf-8",
            delay=delay,
        )


def _crawl(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crawler", "--config", str(config), "crawl", "eastmoney"],
        cwd=REPO,
        env={**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_cron_crawls_of_one_source_never_run_together(loopback, tmp_path: Path) -> None:
    _slow_demo(loopback, delay=5.0)
    shared = {"output": {"dir": str(tmp_path / "output")}, "state": {"dir": str(tmp_path / "state")}}
    impatient = write_config(tmp_path, loopback_config(loopback, **shared, crawl={"lock_timeout": 1.0}))
    (tmp_path / "patient").mkdir()
    patient = write_config(
        tmp_path / "patient", loopback_config(loopback, **shared, crawl={"lock_timeout": 120.0})
    )

    first = _crawl(impatient)
    deadline = time.monotonic() + 60
    while not is_locked(tmp_path / "state", "crawl-eastmoney"):
        assert first.poll() is None and time.monotonic() < deadline, "the first crawl never took its lock"
        time.sleep(0.05)
    second = _crawl(impatient)  # cron fires again while the first is still crawling
    third = _crawl(patient)  # a manual run that is willing to wait

    _, err = second.communicate(timeout=120)
    assert second.returncode == EXIT_LOCKED, err
    assert f"crawl-eastmoney is locked by another process (pid={first.pid}" in err
    out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert "new=3" in out1
    out3, err3 = third.communicate(timeout=120)
    assert third.returncode == 0, err3
    assert "new=0" in out3  # it ran after the first, and found everything already mirrored

    assert len(posts_in(tmp_path / "output")) == 3
    with StateStore(tmp_path / "state" / "wiremirror.sqlite3") as state:
        runs = sorted(state.recent_runs("eastmoney"), key=lambda r: r.id)
    assert [r.outcome for r in runs] == ["ok", "ok"]  # the locked-out crawl did not start a run
    assert runs[1].started >= runs[0].finished  # and the two never overlapped

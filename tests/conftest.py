"""Shared test harness: a loopback upstream, a config pointing at it, and the real CLI in a subprocess.

Every crawl in the tests is a real ``python -m crawler`` process with ``WIREMIRROR_LOOPBACK_ONLY=1``,
so a URL left at its default fails instead of reaching a real site.

``WIREMIRROR_TEST_CLOCK=2026-12-31T23:59:00+08:00`` starts every test's wall clock at that instant
(``make clock-tests`` runs the date-sensitive files under a few such clocks); crawls started
through :func:`run_cli` share it through tests/clock/sitecustomize.py.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import frontmatter
import pytest
import time_machine
import tomli_w

from crawler.loopback import LoopbackServer

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO_DATA = REPO / "crawler" / "demo_data"
CLOCK_ENV = "WIREMIRROR_TEST_CLOCK"  # the fake "now" each test starts at (ISO 8601 with offset)
CLOCK_OFFSET_ENV = "WIREMIRROR_TEST_CLOCK_OFFSET"  # real → fake seconds, for child processes
CLOCK_DIR = Path(__file__).resolve().parent / "clock"

os.environ["WIREMIRROR_LOOPBACK_ONLY"] = "1"


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Under ``WIREMIRROR_TEST_CLOCK``, run the test (and its crawls) from that instant on."""
    when = os.environ.get(CLOCK_ENV)
    if not when:
        yield
        return
    start = datetime.fromisoformat(when)
    if start.tzinfo is None:
        raise pytest.UsageError(f"{CLOCK_ENV}={when!r} needs a UTC offset, e.g. +08:00")
    monkeypatch.setenv(CLOCK_OFFSET_ENV, repr(start.timestamp() - time.time()))
    with time_machine.travel(start, tick=True):
        yield


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (and return that), or fail after ``timeout``
    seconds: the tests wait on conditions, never for fixed times."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def child_pythonpath() -> str:
    """PYTHONPATH for a child ``python``: the repository, plus the fake clock when one is set."""
    if os.environ.get(CLOCK_OFFSET_ENV):
        return os.pathsep.join([str(REPO), str(CLOCK_DIR)])
    return str(REPO)


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def loopback_config(server: LoopbackServer, **overrides: Any) -> dict[str, Any]:
    """A config dict whose every upstream URL points at ``server``; politeness off for speed."""
    b = server.base_url
    data: dict[str, Any] = {
        "output": {"dir": "output"},
        "state": {"dir": "state"},
        "site": {"url": "//finews.withounder.com"},
        "crawl": {
            "download_delay": 0.0,
            "autothrottle": False,
            "concurrent_per_domain": 8,
            "loopback_only": True,
            "retry_times": 1,
            "timeout": 10.0,
            "lock_timeout": 5.0,
        },
        "sources": {
            "eastmoney": {
                "list_url": f"{b}/comm/web/getNewsByColumns",
                "fast_list_url": f"{b}/comm/web/getFastNewsList",
                "text_url": f"{b}/NewsData/GetNewsText.do?id={{id}}",
                "share_url": "http://finews.zning.xyz/html_News/NewsShare.html?infoCode={id}",
                "article_url": f"{b}/a/{{id}}.html",
            },
            "chinanews": {"base_url": b},
        },
    }
    return _merge(data, overrides)


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "wiremirror.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def make_config(tmp_path: Path, loopback: LoopbackServer):
    """``make_config(**overrides) -> Path`` of a wiremirror.toml in tmp_path aimed at the loopback server."""

    def make(**overrides: Any) -> Path:
        return write_config(tmp_path, loopback_config(loopback, **overrides))

    return make


def run_cli(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m crawler ARGS`` as a real subprocess."""
    full_env = {
        **os.environ,
        "WIREMIRROR_LOOPBACK_ONLY": "1",
        "PYTHONPATH": child_pythonpath(),
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "crawler", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"wiremirror {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def tracked_files() -> list[str]:
    """Paths git tracks in this checkout: what a fresh clone holds."""
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [name for name in listing.decode().split("\0") if name]


def read_post(path: Path) -> frontmatter.Post:
    return frontmatter.loads(path.read_text(encoding="utf-8"))


def posts_in(folder: Path) -> list[str]:
    posts = folder / "_posts"
    return sorted(p.name for p in posts.glob("*.md")) if posts.is_dir() else []


@pytest.fixture
def eastmoney_demo(loopback: LoopbackServer) -> LoopbackServer:
    """The bundled Eastmoney demo pages (three articles, one needing the article-page fallback)."""
    loopback.load_manifest(DEMO_DATA / "eastmoney")
    return loopback


def jekyll_available() -> bool:
    return shutil.which("jekyll") is not None


# -- a private mount namespace, for the disk-full / read-only tests -------------------------------

# A private mount namespace as root, else one inside a new user namespace (no privileges needed).
NAMESPACES = (["unshare", "-m"], ["unshare", "-r", "-m"])
PROBE = (
    'd=$(mktemp -d) && mount -t tmpfs -o size=4k tmpfs "$d" && mount --bind "$d" "$d"'
    ' && mount -o remount,bind,ro "$d" && umount "$d" && umount "$d" && rmdir "$d"'
)


@functools.cache
def mount_namespace() -> tuple[list[str], str]:
    """The ``unshare`` command that gives a namespace where tmpfs and read-only binds work, or why none does."""
    reasons = []
    for command in NAMESPACES:
        try:
            done = subprocess.run(
                [*command, "sh", "-c", PROBE], capture_output=True, text=True, timeout=20, check=False
            )
        except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{shlex.join(command)}: {exc}")
            continue
        if done.returncode == 0:
            return command, ""
        reasons.append(f"{shlex.join(command)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return [], "; ".join(reasons)


@pytest.fixture
def namespace() -> list[str]:
    command, why = mount_namespace()
    if not command:
        message = f"cannot mount a tmpfs or a read-only bind in a private namespace ({why})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI must run these, not skip them
        pytest.skip(message)
    return command


def run_stage(stage, item):
    """One item pipeline's ``process_item`` as Scrapy runs it: awaited when it is a coroutine."""
    result = stage.process_item(item)
    if inspect.isawaitable(result):

        async def wait():
            return await result

        result = asyncio.run(wait())
    return result

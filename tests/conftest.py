"""Shared test harness: a loopback upstream, a config pointing at it, and the real CLI in a subprocess.

Every crawl in the tests is a real ``python -m crawler`` process with ``WIREMIRROR_LOOPBACK_ONLY=1``,
so a URL left at its default fails instead of reaching a real site.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import frontmatter
import pytest
import tomli_w

from crawler.loopback import LoopbackServer

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO_DATA = REPO / "crawler" / "demo_data"

os.environ["WIREMIRROR_LOOPBACK_ONLY"] = "1"


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
    full_env = {**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO), **(env or {})}
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

"""The daemon's ``categories`` housekeeping job never loses its turn to a long crawl.

It used to take every source's crawl lock, so a crawl holding one for longer than
``[crawl] lock_timeout`` made the daily job exit 75 and skip the day. Category pages are written
atomically through PostStore from the registry alone, so the job needs no crawl lock at all.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from crawler import daemon
from crawler.config import load_config
from crawler.locks import source_lock
from crawler.state import StateStore
from tests.conftest import read_post, run_cli, write_config


def _site_with_one_category(tmp_path: Path) -> Path:
    config = write_config(tmp_path, {"state": {"dir": "state"}, "crawl": {"lock_timeout": 1.0}})
    with StateStore(tmp_path / "state" / "wiremirror.sqlite3") as state:
        state.assign_category("新华社", "xinhuashe", "新华社新闻")
    return config


def test_archive_categories_writes_pages_while_a_crawl_holds_its_lock(tmp_path: Path) -> None:
    config = _site_with_one_category(tmp_path)
    with source_lock(tmp_path / "state", "crawl-eastmoney", 0.0):
        result = run_cli("archive", "categories", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    page = read_post(tmp_path / "output" / "category" / "xinhuashe.html")
    assert page.metadata == {"layout": "category", "title": "新华社新闻", "category": "xinhuashe"}


def test_daemon_categories_job_runs_while_a_crawl_holds_its_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = load_config(str(_site_with_one_category(tmp_path)))
    (spec,) = [s for s in daemon.job_specs(cfg) if s.id == "housekeeping:categories"]
    runner = daemon.JobRunner(cfg)
    with source_lock(cfg.state_dir, "crawl-chinanews", 0.0), caplog.at_level(logging.INFO, "crawler.daemon"):
        code = runner.run(spec, timeout=120)
    assert code == 0, caplog.text
    assert "housekeeping:categories: finished, exit 0" in caplog.text
    assert (tmp_path / "output" / "category" / "xinhuashe.html").is_file()

"""The publish step: a real shell command, its own lock, failures reported and posts untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crawler.config import Config, parse_config
from crawler.locks import EXIT_LOCKED, source_lock
from crawler.publish import EXIT_TIMEOUT, META_KEY, PUBLISH_LOCK, maybe_publish
from crawler.state import StateStore
from tests.conftest import REPO


def config(tmp_path: Path, command: str, timeout: float = 30.0) -> Config:
    cfg = parse_config(
        {
            "output": {"dir": "site"},
            "state": {"dir": "state"},
            "publish": {"command": command, "timeout": timeout},
        },
        base_dir=str(tmp_path),
    )
    (cfg.posts_dir).mkdir(parents=True)
    (cfg.posts_dir / "2024-05-01-a.md").write_text("---\ntitle: a\n---\nbody\n", encoding="utf-8")
    return cfg


def last_publish(cfg: Config) -> dict[str, object]:
    with StateStore(cfg.db_path) as store:
        return dict(json.loads(store.get_meta(META_KEY) or "{}"))


def test_runs_in_the_site_folder_with_what_was_written(tmp_path: Path) -> None:
    cfg = config(tmp_path, 'ls _posts > published.txt; echo "$WIREMIRROR_PUBLISH_WROTE" > count.txt')
    assert maybe_publish(cfg, 2) == 0
    assert (cfg.output_dir / "published.txt").read_text() == "2024-05-01-a.md\n"
    assert (cfg.output_dir / "count.txt").read_text() == "2\n"
    assert last_publish(cfg)["exit"] == 0


def test_nothing_written_or_no_command_means_no_publish(tmp_path: Path) -> None:
    cfg = config(tmp_path, "touch ran.txt")
    assert maybe_publish(cfg, 0) == 0
    assert not (cfg.output_dir / "ran.txt").exists()
    off = config(tmp_path / "off", "")
    assert maybe_publish(off, 5) == 0


def test_a_failing_command_is_reported_and_posts_are_kept(tmp_path: Path, caplog) -> None:
    cfg = config(tmp_path, "echo 'fatal: could not read from remote repository' >&2; exit 128")
    before = sorted(p.read_bytes() for p in cfg.posts_dir.iterdir())
    assert maybe_publish(cfg, 1) == 128
    assert sorted(p.read_bytes() for p in cfg.posts_dir.iterdir()) == before
    assert "publish failed (exit 128" in caplog.text
    assert "could not read from remote repository" in caplog.text
    record = last_publish(cfg)
    assert record["exit"] == 128 and "could not read" in str(record["output"])


def test_a_hanging_command_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    cfg = config(tmp_path, "sleep 60", timeout=0.5)
    assert maybe_publish(cfg, 1) == EXIT_TIMEOUT
    assert last_publish(cfg)["exit"] == EXIT_TIMEOUT


def test_a_held_publish_lock_is_waited_for_then_reported(tmp_path: Path) -> None:
    cfg = config(tmp_path, "touch ran.txt", timeout=0.3)
    with source_lock(cfg.state_dir, PUBLISH_LOCK, 1):
        assert maybe_publish(cfg, 1) == EXIT_LOCKED
    assert not (cfg.output_dir / "ran.txt").exists()
    assert maybe_publish(cfg, 1) == 0


def test_two_publishes_never_overlap(tmp_path: Path) -> None:
    # each publish appends "start" and "end" around a pause; two crawls finish at the same moment
    cfg = config(tmp_path, "echo start >> ../journal.txt; sleep 0.5; echo end >> ../journal.txt")
    (tmp_path / "wiremirror.toml").write_text(
        f'[output]\ndir = "site"\n[state]\ndir = "state"\n[publish]\ncommand = "{cfg.publish.command}"\n'
    )
    script = "import sys; from crawler.config import load_config; from crawler.publish import maybe_publish; "
    script += "sys.exit(maybe_publish(load_config(sys.argv[1]), 1))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "wiremirror.toml")], env=env)
        for _ in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert (tmp_path / "journal.txt").read_text().split() == ["start", "end"] * 3

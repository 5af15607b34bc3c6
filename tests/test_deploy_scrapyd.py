"""deploy/scrapyd/README.md, run as written against a real scrapyd on 127.0.0.1.

Only the port and the folders are substituted: scrapyd gets its own temporary folder (eggs, logs,
dbs) and a free port; the upload runs from a copy of the tracked files, so the checkout is not
touched. Both spiders crawl the bundled demo pages on the loopback server, and the test checks
what an operator would: posts on disk and run rows in the state store.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.loopback import LoopbackServer
from crawler.state import StateStore
from tests.conftest import DEMO_DATA, REPO, loopback_config, posts_in, tracked_files, wait_for, write_config

SCRAPYD_DIR = REPO / "deploy" / "scrapyd"
BIN = Path(sys.executable).parent
DEADLINE = 180.0  # seconds for scrapyd to start, or for both jobs to finish on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readme_commands() -> list[str]:
    """The shell commands of the README's steps (indented blocks), in order."""
    text = (SCRAPYD_DIR / "README.md").read_text(encoding="utf-8")
    steps = text.split("## Steps", 1)[1]
    return [line.strip() for line in steps.splitlines() if line.startswith("       ") and line.strip()]


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def eventually(check: Any, what: str) -> Any:
    """``check()`` once it is truthy; a scrapyd not yet listening (OSError) is "not yet"."""

    def attempt() -> Any:
        try:
            return check()
        except OSError:
            return None

    return wait_for(attempt, DEADLINE, what)


def tracked_copy(dest: Path) -> Path:
    """The files git tracks, copied to ``dest`` (what a fresh checkout holds)."""
    for name in tracked_files():
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture
def site(tmp_path: Path, loopback: LoopbackServer) -> Path:
    """A wiremirror.toml aimed at the demo pages of both sources on the loopback server."""
    for manifest in sorted(DEMO_DATA.glob("*/routes.json")):
        loopback.load_manifest(manifest.parent)
    data = loopback_config(
        loopback, output={"dir": str(tmp_path / "site")}, state={"dir": str(tmp_path / "state")}
    )
    return write_config(tmp_path, data)


@pytest.fixture
def scrapyd(tmp_path: Path, site: Path) -> Iterator[str]:
    """A scrapyd on a free loopback port with the project's scrapyd.conf, its folders in tmp_path."""
    if not (BIN / "scrapyd").is_file():
        pytest.fail("scrapyd is not installed in the test environment (a dev dependency)")
    port = free_port()
    home = tmp_path / "scrapyd"
    home.mkdir()
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(SCRAPYD_DIR / "scrapyd.conf")
    conf["scrapyd"]["http_port"] = str(port)
    for key in ("eggs_dir", "logs_dir", "dbs_dir"):
        conf["scrapyd"][key] = str(home / key.removesuffix("_dir"))
    conf["scrapyd"]["poll_interval"] = "0.5"
    with (home / "scrapyd.conf").open("w") as handle:  # step 2: "the folder scrapyd is started from"
        conf.write(handle)
    env = {**os.environ, "WIREMIRROR_CONFIG": str(site), "WIREMIRROR_LOOPBACK_ONLY": "1"}  # step 2
    url = f"http://127.0.0.1:{port}"
    with (home / "scrapyd.out").open("w") as log:
        proc = subprocess.Popen(
            [str(BIN / "scrapyd")], cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            eventually(
                lambda: proc.poll() is not None or get_json(f"{url}/daemonstatus.json"), "scrapyd to start"
            )
            assert proc.poll() is None, (home / "scrapyd.out").read_text()
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_step(command: str, cwd: Path, port: int) -> str:
    """One README command with only the port changed; ``pip install`` lines are the dev extra's job."""
    command = command.replace("6800", str(port))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_scrapyd_readme_steps_deploy_and_run_both_spiders(scrapyd: str, site: Path, tmp_path: Path) -> None:
    port = int(scrapyd.rsplit(":", 1)[1])
    checkout = tracked_copy(tmp_path / "checkout")
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(checkout / "scrapy.cfg")
    assert cfg["deploy"]["url"] == "http://127.0.0.1:6800/"  # step 3 needs a target
    (checkout / "scrapy.cfg").write_text(
        (checkout / "scrapy.cfg").read_text(encoding="utf-8").replace("6800", str(port)), encoding="utf-8"
    )
    commands = readme_commands()
    deploy = [c for c in commands if c.startswith("scrapyd-deploy")]
    assert deploy == ["scrapyd-deploy"]
    out = run_step(deploy[0], checkout, port)
    assert '"status": "ok"' in out, out
    listed = json.loads(run_step(next(c for c in commands if "listspiders.json" in c), checkout, port))
    assert sorted(listed["spiders"]) == ["chinanews", "eastmoney"]

    schedule = next(c for c in commands if "schedule.json" in c and not c.startswith("*"))
    jobs = {}
    for spider in ("eastmoney", "chinanews"):
        reply = json.loads(run_step(re.sub(r"spider=\w+", f"spider={spider}", schedule), checkout, port))
        assert reply["status"] == "ok", reply
        jobs[reply["jobid"]] = spider

    def finished() -> list[dict[str, Any]] | None:
        state = get_json(f"{scrapyd}/listjobs.json?project=wiremirror")
        done = [job for job in state["finished"] if job["id"] in jobs]
        return done if len(done) == len(jobs) else None

    done = eventually(finished, "both scrapyd jobs to finish")
    logs = {
        job["id"]: next((tmp_path / "scrapyd" / "logs").rglob(f"{job['id']}.log")).read_text(encoding="utf-8")
        for job in done
    }
    for log in logs.values():
        assert "Traceback" not in log, log
        assert "'finish_reason': 'finished'" in log, log

    posts = posts_in(tmp_path / "site")
    assert any(name.endswith(".md") and "-NW" in name for name in posts), posts  # eastmoney
    assert any("-NW" not in name for name in posts), posts  # chinanews
    with StateStore(tmp_path / "state" / "wiremirror.sqlite3") as state:
        for spider in jobs.values():
            (run,) = state.recent_runs(spider)
            assert run.finished and run.outcome == "ok", run

    # the upload leaves setup.py and build/ behind; a real checkout ignores them
    leftovers = [name for name in ("setup.py", "build/") if (checkout / name).exists()]
    assert leftovers
    ignored = subprocess.run(
        ["git", "check-ignore", *leftovers], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.split()
    assert sorted(ignored) == sorted(leftovers)

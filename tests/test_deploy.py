"""deploy/: what can be checked here is checked — units verified by systemd, the crontab line run as
written, the Dockerfile's commands parsed by the real CLI and found in the docs, paths consistent."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from crawler import sources
from crawler.cli import build_parser
from crawler.config import ScheduleJob, load_config
from crawler.daemon import make_trigger, plan_jobs
from crawler.locks import EXIT_LOCKED
from crawler.logsetup import daemon_log_path
from crawler.timeutil import BEIJING
from tests.conftest import REPO, loopback_config, posts_in, tracked_files, write_config

DEPLOY = REPO / "deploy"
EXAMPLE = DEPLOY / "wiremirror.toml.example"


def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def leading_comment(path: Path) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def test_every_deploy_file_says_how_to_install_it() -> None:
    files = [p for p in deploy_files() if p.suffix != ".md"]
    assert {p.relative_to(DEPLOY).as_posix() for p in files} >= {
        "systemd/wiremirror.service",
        "systemd/wiremirror-crawl.service",
        "systemd/wiremirror-crawl.timer",
        "cron/crontab.example",
        "docker/Dockerfile",
        "docker/compose.yaml",
        "scrapyd/scrapyd.conf",
        "logrotate/wiremirror",
        "env.example",
        "wiremirror.toml.example",
    }
    for path in files:
        comment = leading_comment(path)
        assert re.search(r"\binstall|\bbuild", comment, re.IGNORECASE), f"{path} has no install comment"


def test_example_config_loads_and_plans_the_documented_jobs() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.state_dir == Path("/var/lib/wiremirror/state")
    assert {job.spec.id for job in plan_jobs(cfg)} == {
        "crawl:eastmoney",
        "crawl:chinanews",
        "housekeeping:catchup",
        "housekeeping:categories",
    }


# --------------------------------------------------------------------------------------------
# systemd
# --------------------------------------------------------------------------------------------


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text(encoding="utf-8"))
    return parser


SERVICES = ["wiremirror.service", "wiremirror-crawl.service"]


def require_systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing: .ci/run installs the systemd package")
        pytest.skip("systemd-analyze is not installed here")


def units_here(folder: Path, names: list[str]) -> None:
    """Copy the units into ``folder``, pointed at this checkout (where .venv/bin/wiremirror exists)."""
    for name in names:
        text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8").replace("/opt/wiremirror", str(REPO))
        (folder / name).write_text(text, encoding="utf-8")


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    require_systemd_analyze()
    names = [*SERVICES, "wiremirror-crawl.timer"]
    units_here(tmp_path, names)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{n}" for n in names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warnings: none allowed


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_sandboxed(tmp_path: Path, name: str) -> None:
    """Exposure below 4.0 ("OK") by systemd's own scoring, which works on a unit file offline."""
    require_systemd_analyze()
    units_here(tmp_path, [name])
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", f"./{name}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert score is not None, result.stdout + result.stderr
    assert float(score.group(1)) < 4.0, result.stdout
    service = unit(name)["Service"]
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        assert service[key] == "", key  # present and empty: no capabilities at all
    assert service["RestrictAddressFamilies"].split() == ["AF_UNIX", "AF_INET", "AF_INET6"]


@pytest.mark.parametrize("name", SERVICES)
def test_services_may_write_every_folder_the_example_config_uses(name: str) -> None:
    cfg = load_config(EXAMPLE)
    service = unit(name)["Service"]
    assert service["ProtectSystem"] == "strict"
    writable = [Path(p) for p in service["ReadWritePaths"].split()]
    for folder in (cfg.output_dir, cfg.state_dir, cfg.log_dir):
        assert any(folder.is_relative_to(root) for root in writable), folder
    assert "ReadWritePaths" in (DEPLOY / "README.md").read_text(encoding="utf-8")


def test_units_encode_the_shutdown_and_lock_rules() -> None:
    cfg = load_config(EXAMPLE)
    daemon = unit("wiremirror.service")["Service"]
    assert daemon["ExecStart"].endswith("/wiremirror schedule")
    assert daemon["KillMode"] == "mixed"  # the daemon forwards SIGTERM itself, exactly once
    assert float(daemon["TimeoutStopSec"]) > cfg.schedule.shutdown_grace
    assert daemon["RestartPreventExitStatus"] == str(EXIT_LOCKED)
    crawl = unit("wiremirror-crawl.service")["Service"]
    assert crawl["Type"] == "oneshot"
    assert crawl["KillMode"] == "mixed"  # `wiremirror crawl` forwards SIGTERM to its children itself
    assert crawl["ExecStart"].endswith("/wiremirror crawl")
    assert crawl["SuccessExitStatus"] == str(EXIT_LOCKED)
    timer = unit("wiremirror-crawl.timer")["Timer"]
    assert timer["Persistent"] == "true" and timer["Unit"] == "wiremirror-crawl.service"
    for parsed in (daemon, crawl):
        argv = shlex.split(parsed["ExecStart"])
        build_parser().parse_args(argv[1:])  # a real subcommand with real options


# --------------------------------------------------------------------------------------------
# cron
# --------------------------------------------------------------------------------------------


def crontab() -> tuple[dict[str, str], list[tuple[str, str]]]:
    env: dict[str, str] = {}
    jobs = []
    for line in (DEPLOY / "cron" / "crontab.example").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            name, value = line.split("=", 1)
            env[name] = value
            continue
        fields = line.split(None, 5)
        jobs.append((" ".join(fields[:5]), fields[5]))
    return env, jobs


def test_crontab_line_runs_as_written(eastmoney_demo, tmp_path: Path) -> None:
    env, jobs = crontab()
    ((when, command),) = jobs
    trigger = make_trigger(ScheduleJob(cron=when), BEIJING)  # five valid crontab fields
    assert trigger.get_next_fire_time(None, datetime(2024, 5, 1, 12, 1, tzinfo=BEIJING)).minute == 15
    config = write_config(
        tmp_path,
        loopback_config(
            eastmoney_demo,
            output={"dir": str(tmp_path / "site")},
            state={"dir": str(tmp_path / "state")},
            sources={"chinanews": {"enabled": False}},
        ),
    )
    logs = tmp_path / "log"
    logs.mkdir()

    def here(text: str) -> str:
        return (
            text.replace("/opt/wiremirror", str(REPO))
            .replace("/etc/wiremirror/wiremirror.toml", str(config))
            .replace("/var/log/wiremirror", str(logs))
        )

    cron_env = {name: here(value) for name, value in env.items()}
    cron_env.update(HOME=str(tmp_path), LOGNAME="wiremirror", WIREMIRROR_LOOPBACK_ONLY="1")
    result = subprocess.run(
        [env["SHELL"], "-c", here(command)],
        cwd=tmp_path,
        env=cron_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    cron_log = (logs / "cron.log").read_text(encoding="utf-8")
    assert result.returncode == 0, cron_log
    assert result.stdout == result.stderr == ""  # cron would mail any output: it all went to the log
    assert "eastmoney: ok new=3" in cron_log
    assert len(posts_in(tmp_path / "site")) == 3


# --------------------------------------------------------------------------------------------
# Docker
# --------------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_commands_are_real_and_documented() -> None:
    steps = dockerfile()
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    shown = {line.split(" #")[0].strip() for line in readme.splitlines() if line.startswith("    ")}
    (cmd,) = [json.loads(rest) for word, rest in steps if word == "CMD"]
    (health,) = [rest for word, rest in steps if word == "HEALTHCHECK"]
    health_cmd = json.loads(health.split(" CMD ", 1)[1])
    for argv in (cmd, health_cmd):
        assert argv[0] == "wiremirror"
        build_parser().parse_args(argv[1:])
        assert " ".join(argv) in shown, f"deploy/README.md does not show `{' '.join(argv)}`"
    for word, rest in steps:
        if word == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
    env_names = {m for word, rest in steps if word == "ENV" for m in re.findall(r"([A-Z_]+)=", rest)}
    documented = (DEPLOY / "env.example").read_text(encoding="utf-8")
    assert all(name in documented for name in env_names - {"PYTHONUNBUFFERED"})
    assert ("STOPSIGNAL", "SIGTERM") in steps


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (exclude?, regex), with Docker's syntax: ``*``/``?`` stop at ``/``,
    ``**`` crosses folders, ``!`` re-includes, the last matching line wins."""
    rules = []
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex = "".join(
            ".*" if part == "**" else "[^/]*" if part == "*" else "[^/]" if part == "?" else re.escape(part)
            for part in re.split(r"(\*\*|\*|\?)", pattern)
        )
        rules.append((exclude, re.compile(regex.replace(".*/", "(.*/)?"))))
    return rules


def in_build_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker sends ``path`` (relative to the context): a rule matching the path or any
    parent folder applies, and the last rule that applies decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for exclude, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = not exclude
    return included


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    rules = dockerignore_rules()
    for local in (
        ".git/HEAD",
        ".venv/bin/python",
        "state/wiremirror.sqlite3",
        "posts/2024-01-01-NW1.md",
        "output/_posts/2024-01-01-NW1.md",
        "output/_site/index.html",
        "bench-results/bench.json",
        "demo-output/_posts/2024-01-01-NW1.md",
        "wiremirror.toml",
        "setup.py",
        "build/lib/crawler/cli.py",
        "crawler/__pycache__/cli.cpython-311.pyc",
        "tests/test_deploy.py",
    ):
        assert not in_build_context(local, rules), f"{local} would be sent to the Docker daemon"
    tracked = tracked_files()
    copied = [source for word, rest in dockerfile() if word == "COPY" for source in rest.split()[:-1]]
    needed = [name for name in tracked if any(name == s or name.startswith(s + "/") for s in copied)]
    assert needed and all(in_build_context(name, rules) for name in needed)
    # and nothing that is not tracked: the context is what a fresh clone would send
    on_disk = [p.relative_to(REPO).as_posix() for p in REPO.rglob("*") if p.is_file()]
    assert {name for name in on_disk if in_build_context(name, rules)} <= set(tracked)


def test_compose_runs_the_image_with_output_and_state_volumes() -> None:
    cfg = load_config(EXAMPLE)
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["wiremirror"]
    context = (DEPLOY / "docker" / service["build"]["context"]).resolve()
    assert context == REPO and (context / service["build"]["dockerfile"]).is_file()
    targets = {volume.split(":")[1] for volume in service["volumes"]}
    assert {str(cfg.output_dir), str(cfg.state_dir), str(cfg.log_dir)} <= targets
    (volumes,) = [json.loads(rest) for word, rest in dockerfile() if word == "VOLUME"]
    assert set(volumes) == targets
    assert service["init"] is True
    assert float(service["stop_grace_period"].rstrip("s")) > cfg.schedule.shutdown_grace


# --------------------------------------------------------------------------------------------
# scrapyd, logrotate, environment
# --------------------------------------------------------------------------------------------


def test_scrapyd_config_and_steps_name_the_real_project_and_spiders() -> None:
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(DEPLOY / "scrapyd" / "scrapyd.conf")
    assert conf["scrapyd"]["bind_address"] == "127.0.0.1"
    assert int(conf["scrapyd"]["max_proc"]) >= 1
    project = configparser.ConfigParser(interpolation=None)
    project.read(REPO / "scrapy.cfg")
    assert project["settings"]["default"] == "crawler.settings"
    name = project["deploy"]["project"]
    steps = (DEPLOY / "scrapyd" / "README.md").read_text(encoding="utf-8")
    spiders = set(re.findall(r"spider=(\w+)", steps))
    assert spiders == set(sources.names())
    assert set(re.findall(r"project=(\w+)", steps)) == {name}


def test_logrotate_covers_the_daemon_log_and_the_cron_log() -> None:
    text = (DEPLOY / "logrotate" / "wiremirror").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    paths = set(body.split("{", 1)[0].split())
    _, ((_, command),) = crontab()
    cron_log = re.search(r">>\s*(\S+)", command)
    assert cron_log is not None
    assert paths == {str(daemon_log_path(load_config(EXAMPLE))), cron_log.group(1)}
    assert "copytruncate" not in body  # the daemon reopens its log after a rename


def test_env_example_lists_every_variable_the_code_reads() -> None:
    text = (DEPLOY / "env.example").read_text(encoding="utf-8")
    for line in text.splitlines():  # systemd EnvironmentFile / compose env_file format
        assert not line or line.startswith("#") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=\S", line), line
    read: set[str] = set()
    for source in [*REPO.glob("crawler/**/*.py"), *REPO.glob("pipelines/**/*.py")]:
        code = source.read_text(encoding="utf-8")
        read |= set(re.findall(r"\bWIREMIRROR_[A-Z_]+\b", code))
        read |= set(re.findall(r"(?:environ\.get|getenv|environ\[)\(?\s*[\"']([A-Za-z_]+)[\"']", code))
    assert "WIREMIRROR_CONFIG" in read
    missing = sorted(name for name in read if not re.search(rf"\b{name}\b", text))
    assert not missing, f"deploy/env.example does not mention {missing}"
    assert os.environ.get("WIREMIRROR_LOOPBACK_ONLY") == "1"  # set by conftest for every test

"""wiremirror.toml.example is the reference configuration: every key the loader knows is in it, with its
default, it loads, and deploy/wiremirror.toml.example is the same file with server paths."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, get_type_hints

from crawler import sources
from crawler.config import Config, ScheduleConfig, ScheduleJob, load_config, parse_config
from crawler.daemon import HOUSEKEEPING, plan_jobs
from tests.conftest import REPO

ROOT_EXAMPLE = REPO / "wiremirror.toml.example"
DEPLOY_EXAMPLE = REPO / "deploy" / "wiremirror.toml.example"
SERVER_PATHS = {"output.dir", "state.dir", "logging.dir"}  # the only keys the two files may differ in
INTERNAL = {"base_dir", "path"}


def loader_keys(cls: type[Any] = Config, prefix: str = "") -> set[str]:
    """Dotted names of every key the config loader accepts (``[schedule.<job>]`` tables aside)."""
    hints = get_type_hints(cls)
    keys: set[str] = set()
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal") or (cls is ScheduleConfig and f.name == "jobs"):
            continue
        name = f"{prefix}{f.name}"
        if cls is Config and f.name == "sources":  # one table per registered source
            for source in sources.registry().values():
                keys |= loader_keys(source.config, f"sources.{source.name}.")
        elif dataclasses.is_dataclass(hints[f.name]):
            keys |= loader_keys(hints[f.name], f"{name}.")
        else:
            keys.add(name)
    return keys


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        # an empty table is a key shown with its default ({}), like any other value
        out |= flatten(value, f"{name}.") if isinstance(value, dict) and value else {name: value}
    return out


def example(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def settings(cfg: Config) -> dict[str, Any]:
    """Every configured value, dotted; schedule jobs as ``schedule.jobs.<job>.<key>``."""
    return flatten({k: v for k, v in dataclasses.asdict(cfg).items() if k not in INTERNAL})


def test_the_example_has_every_key_the_loader_knows() -> None:
    data = example(ROOT_EXAMPLE)
    jobs = {k: v for k, v in data["schedule"].items() if isinstance(v, dict)}
    keys = set(flatten({**data, "schedule": {k: v for k, v in data["schedule"].items() if k not in jobs}}))
    missing = sorted(loader_keys() - keys)
    assert not missing, f"wiremirror.toml.example lacks {missing}"
    assert set(jobs) == {*sources.names(), *(h.name for h in HOUSEKEEPING)}  # every job the daemon knows
    job_keys = {f.name for f in dataclasses.fields(ScheduleJob)}
    assert set().union(*jobs.values()) == job_keys  # each [schedule.<job>] key shown at least once


def test_the_example_loads_with_the_defaults_and_plans_jobs() -> None:
    cfg = load_config(ROOT_EXAMPLE)
    defaults = settings(parse_config({}))
    shown = settings(cfg)
    differ = {k: (shown[k], defaults.get(k)) for k in shown if not k.startswith("schedule.jobs.")}
    assert {k: v for k, v in differ.items() if v[0] != v[1]} == {}  # "with its default"
    for hk in HOUSEKEEPING:  # housekeeping tables show the daemon's own defaults
        assert cfg.schedule.jobs[hk.name] == hk.default, hk.name
    assert {job.spec.id for job in plan_jobs(cfg)} == {
        "crawl:eastmoney",
        "crawl:chinanews",
        "housekeeping:catchup",
        "housekeeping:categories",
    }


def test_the_deploy_example_is_the_same_configuration_with_server_paths() -> None:
    root, deploy = settings(load_config(ROOT_EXAMPLE)), settings(load_config(DEPLOY_EXAMPLE))
    assert {k for k in root if root[k] != deploy[k]} == SERVER_PATHS
    assert set(flatten(example(ROOT_EXAMPLE))) == set(flatten(example(DEPLOY_EXAMPLE)))
    for key in SERVER_PATHS:
        assert Path(deploy[key]).is_absolute(), key

"""Start-up: ``wiremirror status`` and ``wiremirror crawl --help`` on a large archive vs an empty one,
and proof (audit hooks) that neither lists or opens anything in ``_posts``."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.common import BenchResult, Check, alternate, best, cli, run_child, write_config
from bench.loopdata import config_for
from bench.sizes import Sizes

NOWHERE = "http://127.0.0.1:9"
MAX_RATIO = 1.25
COMMANDS = {"status": ("status",), "crawl --help": ("crawl", "--help")}


def _archive(folder: Path, posts: int) -> Path:
    """A site folder with ``posts`` post files (unless ``folder`` already is one); its config."""
    config = folder / "wiremirror.toml"
    if not config.exists():
        write_config(folder, config_for(NOWHERE, folder / "output", folder / "state"))
    target = folder / "output" / "_posts"
    target.mkdir(parents=True, exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)  # status refuses a missing state folder (wrong --config?)
    for n in range(posts):
        (target / f"2024-05-01-NW2018{n:014d}.md").write_text(f'---\nlayout: post\ntitle: "{n}"\n---\nx\n')
    return config


def _best_walls(commands: dict[str, list[str]], repeats: int) -> dict[str, float]:
    """Best wall time of each command, the commands interleaved run by run."""
    return {name: best(runs, "wall") for name, runs in alternate(commands, repeats).items()}


def run(sizes: Sizes, workdir: Path, large: Path | None = None) -> BenchResult:
    """``large``: an existing benchmark folder (the large-state one) to use as the big archive."""
    result = BenchResult(
        "start-up",
        "`wiremirror status` and `wiremirror crawl --help` wall time, large archive vs empty",
        "nothing scanned in _posts at start-up; independent of archive size",
    )
    folders = {
        "empty": _archive(workdir / "empty", 0),
        "large": _archive(large or workdir / "large", sizes.startup_posts),
    }
    posts_on_disk = sum(1 for _ in (folders["large"].parent / "output" / "_posts").iterdir())
    repeats = max(3, sizes.repeats * 2)
    for label, command in COMMANDS.items():
        walls = _best_walls(
            {name: cli("--config", str(config), *command) for name, config in folders.items()}, repeats
        )
        probe = run_child(
            [
                sys.executable,
                "-m",
                "bench.startup_probe",
                str(folders["large"].parent / "output" / "_posts"),
                "--config",
                str(folders["large"]),
                *command,
            ]
        )
        touched = int(probe.stdout.splitlines()[0]) if probe.stdout.strip() else -1
        ratio = walls["large"] / walls["empty"]
        result.checks.append(Check(f"{label}: files in _posts listed or opened", touched, "<=", 0, "files"))
        result.checks.append(Check(f"{label}: large ÷ empty archive", round(ratio, 2), "<=", MAX_RATIO))
        result.ratios[f"{label} large ÷ empty"] = round(ratio, 2)
        result.context[label] = {
            "empty_s": round(walls["empty"], 3),
            "large_s": round(walls["large"], 3),
            "probe": probe.stdout.splitlines()[1:6],
        }
    result.context["large_archive_posts"] = posts_on_disk
    return result

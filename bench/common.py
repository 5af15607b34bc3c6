"""What every benchmark shares: results, the machine description, and real CLI subprocesses."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import tomli_w

REPO = Path(__file__).resolve().parent.parent


@dataclass(slots=True)
class Check:
    """One target: ``value`` compared with ``target`` (``op`` is "<=" or ">=")."""

    measure: str
    value: float
    op: str
    target: float
    unit: str = ""

    @property
    def passed(self) -> bool:
        return self.value <= self.target if self.op == "<=" else self.value >= self.target

    @property
    def shortfall(self) -> float:
        """How far a miss is from its target, as a fraction of the target (0 when it passes)."""
        if self.passed:
            return 0.0
        if self.target == 0:
            return float("inf")
        return abs(self.value - self.target) / abs(self.target)


@dataclass(slots=True)
class BenchResult:
    name: str
    measure: str  # what is measured, in words
    target: str  # the target, in words
    checks: list[Check] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)  # side-by-side comparisons in this run
    context: dict[str, Any] = field(default_factory=dict)  # absolute numbers, for context only
    skipped: str = ""  # why the benchmark could not run ("" when it ran)

    @property
    def passed(self) -> bool | None:
        if self.skipped:
            return None
        return all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [{**asdict(c), "passed": c.passed} for c in self.checks]
        data["passed"] = self.passed
        return data


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, Python and the versions that matter for the numbers."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "ram_gb": round(_ram_bytes() / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "scrapy": _version("scrapy"),
        "twisted": _version("twisted"),
        "lxml": _version("lxml"),
        "pyyaml": _version("pyyaml"),
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wiremirror.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@dataclass(slots=True)
class ChildRun:
    args: list[str]
    returncode: int
    wall: float  # seconds, start to exit
    peak_rss_mb: float  # the child's own peak resident set (VmHWM)
    stdout: str
    stderr: str
    cpu_s: float = 0.0  # user + system seconds of the child and the children it waited for


def child_env() -> dict[str, str]:
    return {**os.environ, "WIREMIRROR_LOOPBACK_ONLY": "1", "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0"}


def _hwm_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def run_child(args: list[str], *, cwd: Path | None = None, timeout: float = 900.0) -> ChildRun:
    """Run ``args`` as a real subprocess; measure its wall time, CPU time and its own peak RSS.

    The peak is the child's VmHWM, polled every 20 ms until it exits. (``getrusage`` and ``wait4``
    would report at least the harness's own size: Linux carries the pre-exec resident set of the
    forked child into ``ru_maxrss``.)
    """
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as out,
        tempfile.TemporaryFile("w+", encoding="utf-8") as err,
    ):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd or REPO, env=child_env(), stdout=out, stderr=err)
        peak = [0.0]
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], _hwm_mb(proc.pid))

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            done.set()
            watcher.join()
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # one child at a time: the delta is its own
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out.seek(0)
        err.seek(0)
        return ChildRun(args, proc.returncode, wall, peak[0], out.read(), err.read(), cpu)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "crawler", *args]


def alternate(
    commands: dict[str, list[str]], repeats: int, *, timeout: float = 900.0
) -> dict[str, list[ChildRun]]:
    """Every command ``repeats`` times, interleaved run by run, so that a slow patch of this shared
    machine (another job, background writeback) hits each alike; a failed run raises."""
    runs: dict[str, list[ChildRun]] = {name: [] for name in commands}
    for _ in range(max(1, repeats)):
        for name, args in commands.items():
            run = run_child(args, timeout=timeout)
            if run.returncode != 0:
                raise RuntimeError(f"{' '.join(args)} exited {run.returncode}: {run.stderr[-1500:]}")
            runs[name].append(run)
    return runs


def best(runs: list[ChildRun], measure: str) -> float:
    """The lowest ``measure`` ("wall", "cpu_s", "peak_rss_mb") of ``runs``: noise only ever adds."""
    return min(float(getattr(run, measure)) for run in runs)

"""``python -m bench [--only NAME …] [--quick] [--out DIR]``: run the benchmarks, print one table and
the rows that miss their targets (by how much), write ``bench-results/bench.json``. Every verdict
is a ratio of two things measured side by side in the same run (ours vs a bare Scrapy spider, vs
the disk's own ceiling, a large archive vs an empty one, 1,000,000 posts vs 100,000), so a busy
or slow machine slows both sides alike. Exit 0 whatever the numbers: a benchmark is not a test;
``--quick`` (tiny sizes, for CI) checks the harness, never the speed."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import archive_bench, largestate, nochange, render, revisions, site, startup, throughput
from bench.common import REPO, BenchResult, machine
from bench.report import print_misses, print_table, to_json, write_json
from bench.sizes import FULL, MILLION, QUICK, Sizes

Runner = Callable[[Sizes, Path], BenchResult]
BENCHMARKS: dict[str, Runner] = {
    "no-change": nochange.run,
    "rechecks": revisions.run,
    "throughput": throughput.run,
    "render": render.run,
    "rebuild": archive_bench.rebuild,
    "verify": archive_bench.verify,
    "large-state": largestate.run,
    "startup": startup.run,
    "site": site.run,
}


def run_all(names: list[str], sizes: Sizes, workroot: Path, *, keep: bool = False) -> list[BenchResult]:
    """Run ``names`` in order, each in its own folder under ``workroot``; a crash becomes a skipped row."""
    results: list[BenchResult] = []
    for name in names:
        folder = workroot / name
        folder.mkdir(parents=True, exist_ok=True)
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            if name == "startup" and (workroot / "large-state" / "large").is_dir():
                result = startup.run(sizes, folder, large=workroot / "large-state" / "large")
            else:
                result = BENCHMARKS[name](sizes, folder)
        except Exception as err:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            result = BenchResult(name, "", "", skipped=f"failed: {type(err).__name__}: {err}"[:300])
        result.context["bench_seconds"] = round(time.perf_counter() - started, 1)
        results.append(result)
        if not keep and name != "large-state":
            shutil.rmtree(folder, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument(
        "--quick", "--smoke", action="store_true", help="tiny sizes (CI): checks the harness, not the speed"
    )
    parser.add_argument(
        "--million", action="store_true", help="the memory rows at 1,000,000 posts and captures (slow)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench-results", help="where bench.json goes")
    parser.add_argument("--keep", action="store_true", help="keep the work folders (for profiling)")
    args = parser.parse_args(argv)
    os.environ["WIREMIRROR_LOOPBACK_ONLY"] = "1"
    sizes = QUICK if args.quick else MILLION if args.million else FULL
    names = args.only or list(BENCHMARKS)
    started = time.perf_counter()
    workroot = Path(tempfile.mkdtemp(prefix="wiremirror-bench-"))
    try:
        results = run_all(names, sizes, workroot, keep=args.keep)
    finally:
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
        else:
            print(f"bench: work folders kept in {workroot}", file=sys.stderr)
    info = machine()
    data = to_json(results, info, dataclasses.asdict(sizes), time.perf_counter() - started)
    path = write_json(data, args.out)
    print_table(results, info)
    print_misses(results)
    print(f"results: {path} ({data['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

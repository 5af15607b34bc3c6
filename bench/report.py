"""The results table (rich) and ``bench-results/bench.json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import BenchResult


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def to_json(
    results: list[BenchResult], machine: dict[str, Any], sizes: dict[str, Any], seconds: float
) -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "sizes": sizes,
        "total_seconds": round(seconds, 1),
        "passed": all(r.passed is not False for r in results),
        "misses": misses(results),
        "benchmarks": [r.to_json() for r in results],
    }


def write_json(data: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def print_table(results: list[BenchResult], machine: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="wiremirror benchmarks", title_justify="left", show_lines=True)
    table.add_column("benchmark", style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    table.add_column("side-by-side ratios (same run)")
    for result in results:
        ratios = "\n".join(f"{k}: {v}" for k, v in result.ratios.items())
        if result.skipped:
            table.add_row(
                result.name, result.measure, "-", result.target, "[yellow]skipped[/]", result.skipped
            )
            continue
        for n, check in enumerate(result.checks):
            mark = "[green]pass[/]" if check.passed else "[red]MISS[/]"
            unit = f" {check.unit}" if check.unit else ""
            table.add_row(
                result.name if n == 0 else "",
                check.measure,
                _fmt(check.value) + unit,
                f"{check.op} {_fmt(check.target)}{unit}",
                mark,
                ratios if n == 0 else "",
            )
    console = Console()
    if console.width < 150:  # a pipe or a narrow terminal: don't fold the numbers into slivers
        console = Console(width=150)
    console.print(table)
    console.print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, {machine['os']}, "
        f"Python {machine['python']}, Scrapy {machine['scrapy']}"
    )


def misses(results: list[BenchResult]) -> list[str]:
    """One line per check that missed its target, with by how much; skipped benchmarks too."""
    lines = []
    for result in results:
        if result.skipped:
            lines.append(f"{result.name}: skipped ({result.skipped})")
        for check in result.checks:
            if check.passed:
                continue
            unit = f" {check.unit}" if check.unit else ""
            lines.append(
                f"{result.name}: {check.measure} = {_fmt(check.value)}{unit}, target {check.op} "
                f"{_fmt(check.target)}{unit} (off by {check.shortfall:.0%})"
            )
    return lines


def print_misses(results: list[BenchResult]) -> None:
    missed = misses(results)
    if not missed:
        print("every row meets its target")
        return
    print(f"{len(missed)} row(s) miss their target:")
    for line in missed:
        print(f"  MISS {line}")

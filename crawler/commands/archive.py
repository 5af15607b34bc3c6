"""``wiremirror archive …``: rotate, verify, import, rebuild, stats, categories and captures of the site.

Commands that change posts hold every source's crawl lock, so no crawl writes posts meanwhile.
``categories`` does not: it only writes category pages, atomically and from the registry alone,
which is what a crawl writes too, so it never waits for (or loses its turn to) a long crawl.
Long ones show a progress bar on the terminal and end with a summary table.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.commands.common import add_config_option, config_from_args

if TYPE_CHECKING:
    from rich.console import Console

    from crawler.config import Config
    from crawler.state import StateStore

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "archive", help="maintain the archive: rotate, verify, import, rebuild, stats", description=__doc__
    )
    add_config_option(parser)
    actions = parser.add_subparsers(dest="archive_command", metavar="ACTION")
    actions.required = True

    rotate = actions.add_parser("rotate", help="move posts older than N Beijing days into the archive folder")
    rotate.add_argument(
        "--keep-days", type=int, required=True, metavar="N", help="Beijing calendar days kept"
    )
    rotate.add_argument(
        "--exempt", action="append", default=[], metavar="FILE", help="a _posts file never moved"
    )
    rotate.add_argument("--dry-run", action="store_true", help="report what would move, move nothing")
    rotate.set_defaults(func=run_rotate)

    verify = actions.add_parser("verify", help="check every post, the category pages and the state store")
    verify.add_argument("--fix", action="store_true", help="repair what can be repaired safely")
    verify.set_defaults(func=run_verify)

    importer = actions.add_parser("import", help="adopt an archive in the predecessor's format")
    importer.add_argument(
        "directory", type=Path, metavar="DIR", help="site folder with _posts/ and old_post/"
    )
    importer.add_argument(
        "--fix", action="store_true", help="repair known defects instead of leaving files out"
    )
    importer.set_defaults(func=run_import)

    rebuild = actions.add_parser("rebuild", help="re-render posts from the saved captures, without network")
    rebuild.add_argument(
        "--since", type=date.fromisoformat, metavar="YYYY-MM-DD", help="captures from this day"
    )
    rebuild.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    rebuild.set_defaults(func=run_rebuild)

    stats = actions.add_parser("stats", help="posts per source, category and day; gaps; failures")
    stats.add_argument(
        "--since", type=date.fromisoformat, metavar="YYYY-MM-DD", help="only posts from this day"
    )
    stats.add_argument("--top", type=int, default=20, metavar="N", help="categories listed (default 20)")
    stats.set_defaults(func=run_stats)

    categories = actions.add_parser("categories", help="list the category registry and write its pages")
    categories.set_defaults(func=run_categories)

    captures = actions.add_parser("captures", help="maintain the WARC captures")
    captures_actions = captures.add_subparsers(dest="captures_command", metavar="ACTION")
    captures_actions.required = True
    prune = captures_actions.add_parser("prune", help="delete capture files older than N Beijing days")
    prune.add_argument(
        "--keep-days",
        type=int,
        metavar="N",
        help="Beijing calendar days kept, today included (default: [captures] keep_days)",
    )
    prune.add_argument("--dry-run", action="store_true", help="report what would be deleted, delete nothing")
    prune.set_defaults(func=run_captures_prune)

    history = actions.add_parser(
        "history", help="an article's versions, with a diff of the text between them"
    )
    history.add_argument("article", metavar="ID", help="a key (chinanews:10500001), an article id or its URL")
    history.set_defaults(func=run_history)
    for sub in (rotate, verify, importer, rebuild, stats, categories, captures, prune, history):
        add_config_option(sub)


# -- shared ------------------------------------------------------------------------------------


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr when it is a terminal; a no-op callback otherwise."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = _console(stderr=True)
    if not console.is_terminal:
        yield lambda _name: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda _name: bar.advance(task)


def _summary(title: str, rows: list[tuple[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in rows:
        table.add_row(name, str(value))
    _console().print(table)


@contextmanager
def _locked(config: Config) -> Iterator[None]:
    from crawler.archive.common import archive_lock

    with archive_lock(config):
        yield


def _count(folder: Path) -> int:
    """Files in ``folder`` for a progress bar, one directory entry at a time: ``Path.iterdir`` lists
    the whole folder first (a 1,000,000-post folder: ~90 MB of names, verify's largest cost)."""
    if not folder.is_dir():
        return 0
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.is_file())


def _open_state(args: argparse.Namespace, config: Config) -> StateStore:
    from crawler.state import StateStore

    return StateStore(config.db_path)


def _open_checked(args: argparse.Namespace, config: Config) -> StateStore:
    """verify scans the whole store first; ``--fix`` sets a damaged one aside (into the quarantine
    folder: nothing is deleted) and starts a new one, which verify then fills from the posts."""
    from crawler.archive.common import quarantine_dir
    from crawler.state import StateCorrupt, StateStore, set_aside

    try:
        state = StateStore(config.db_path)
        try:
            state.check()
        except BaseException:
            state.close()
            raise
        return state
    except StateCorrupt as err:
        if not args.fix:
            raise
        detail = err.detail
    with _locked(config):  # no crawl may hold the store open while it is set aside
        moved = set_aside(config.db_path, quarantine_dir(config))
    print(
        f"wiremirror archive verify: the state store was damaged ({detail}); moved it to {moved}"
        " and rebuilding it from the posts",
        file=sys.stderr,
    )
    return StateStore(config.db_path)


def _with_lock(
    run: Callable[[argparse.Namespace, Config, StateStore], int],
    *,
    locked: bool = True,
    open_state: Callable[[argparse.Namespace, Config], StateStore] = _open_state,
) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        from crawler.locks import EXIT_LOCKED, LockTimeout

        config = config_from_args(args)
        try:
            with _locked(config) if locked else nullcontext():
                state = open_state(args, config)
                try:
                    return run(args, config, state)
                finally:
                    state.close()
        except LockTimeout as err:
            print(f"wiremirror archive: {err}", file=sys.stderr)
            return EXIT_LOCKED

    return wrapper


# -- actions -----------------------------------------------------------------------------------


def _rotate(args: argparse.Namespace, config: Config, state: StateStore) -> int:
    from crawler.archive.rotate import rotate
    from pipelines.store import PostStore

    if args.keep_days < 1:
        print("wiremirror archive rotate: --keep-days must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    archive = config.output.archive_dir
    with _progress("rotate", _count(config.posts_dir)) as tick:
        result = rotate(
            PostStore(config.output_dir),
            state,
            keep_days=args.keep_days,
            archive_dir=archive,
            exempt=args.exempt,
            dry_run=args.dry_run,
            progress=tick,
        )
    out = _console()
    verb = "would move" if args.dry_run else "moved"
    for rel in result.moved:
        out.print(f"{verb} {rel}")
    for rel in result.conflicts:
        out.print(f"[red]conflict[/]: {rel} differs from the archived file of that name; left in place")
    for rel in result.skipped:
        out.print(f"[yellow]skipped[/]: {rel} has no date in its name (see archive verify)")
    _summary(
        f"archive rotate (kept from {result.cutoff}, Beijing)",
        [
            (verb, len(result.moved)),
            ("kept in _posts", result.kept),
            ("already archived", len(result.already_archived)),
            ("not in the state store", len(result.untracked)),
            ("conflicts", len(result.conflicts)),
            ("skipped (no date)", len(result.skipped)),
        ],
    )
    return EXIT_PROBLEMS if result.conflicts else EXIT_OK


def _verify(args: argparse.Namespace, config: Config, state: StateStore) -> int:
    from crawler.archive.verify import verify

    total = _count(config.posts_dir) + _count(config.archive_dir)
    with _progress("verify", total) as tick:
        report = verify(config, state, fix=args.fix, progress=tick)
    out = _console()
    for change in report.changes:
        out.print(f"[green]fixed[/]: {change}")
    for problem in report.remaining:
        hint = " (fixable: run with --fix)" if problem.fixable and not args.fix else ""
        out.print(f"[red]problem[/]: {problem}{hint}", markup=True)
    by_code: dict[str, int] = {}
    for problem in report.remaining:
        by_code[problem.code] = by_code.get(problem.code, 0) + 1
    rows: list[tuple[str, Any]] = [
        ("posts checked", report.checked),
        ("problems found", len(report.problems)),
        ("fixed", len(report.problems) - len(report.remaining)),
        ("remaining", len(report.remaining)),
    ]
    rows += [(f"  {code}", n) for code, n in sorted(by_code.items())]
    _summary("archive verify", rows)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _import(args: argparse.Namespace, config: Config, state: StateStore) -> int:
    from crawler.archive.importer import import_archive

    source: Path = args.directory
    if not source.is_dir():
        print(f"wiremirror archive import: not a folder: {source}", file=sys.stderr)
        return EXIT_USAGE
    total = sum(_count(source / name) for name in ("_posts", "old_post", config.output.archive_dir))
    with _progress("import", total) as tick:
        report = import_archive(source, config, state, fix=args.fix, progress=tick)
    out = _console()
    for line in report.repaired:
        out.print(f"[green]repaired[/]: {line}")
    for line in report.duplicates:
        out.print(f"duplicate, not imported: {line}")
    for line in report.conflicts:
        out.print(f"[red]conflict[/]: {line} (a different file is already in the site)")
    for problem in report.rejected:
        hint = " (run with --fix)" if problem.fixable and not args.fix else ""
        out.print(f"[red]not imported[/]: {problem}{hint}")
    _summary(
        f"archive import {source}",
        [
            ("post files found", report.found),
            ("imported", len(report.imported)),
            ("already in the site", len(report.adopted)),
            ("already known", len(report.known)),
            ("repaired", len({r.split(":", 1)[0] for r in report.repaired})),
            ("duplicates left out", len(report.duplicates)),
            ("not imported (defects)", len({p.relpath for p in report.rejected})),
            ("conflicts", len(report.conflicts)),
            ("category pages written", len(report.categories)),
        ],
    )
    return EXIT_OK if report.ok else EXIT_PROBLEMS


LIST_AT_MOST = 50  # paths listed one per line; the summary table counts them all


def _rebuild(args: argparse.Namespace, config: Config, state: StateStore) -> int:
    from crawler.archive.rebuild import rebuild
    from crawler.archive.replay import capture_files

    files = capture_files(config, since=args.since)
    with _progress("rebuild", len(files)) as tick:
        report = rebuild(config, state, since=args.since, dry_run=args.dry_run, progress=tick)
    out = _console()
    verb = "would rewrite" if args.dry_run else "rewrote"
    for rel in report.written[:LIST_AT_MOST]:
        out.print(f"{verb} {rel}")
    if len(report.written) > LIST_AT_MOST:
        out.print(f"… and {len(report.written) - LIST_AT_MOST} more")
    for line in report.errors:
        out.print(f"[red]error[/]: {line}")
    _summary(
        "archive rebuild",
        [
            ("capture files", report.files),
            ("article responses", report.responses),
            ("articles", report.articles),
            (verb, len(report.written)),
            ("unchanged", report.unchanged),
            ("not posts (unknown, superseded)", report.skipped),
            ("errors", len(report.errors)),
        ],
    )
    return EXIT_PROBLEMS if report.errors else EXIT_OK


def _categories(args: argparse.Namespace, config: Config, state: StateStore) -> int:
    from rich.table import Table

    from crawler.site import write_category_pages

    result = write_category_pages(state, config.output_dir)
    table = Table(title="category registry")
    for name in ("slug", "media", "title"):
        table.add_column(name)
    for slug, media, title in state.categories():
        table.add_row(slug, media, title)
    out = _console()
    out.print(table)
    for slug in result.skipped:
        out.print(f"[yellow]no page[/] for {slug!r}: not safe as a file name")
    _summary(
        "archive categories",
        [
            ("categories", len(state.categories())),
            ("pages written", len(result.written)),
            ("pages unchanged", len(result.unchanged)),
        ],
    )
    return EXIT_OK


def run_stats(args: argparse.Namespace) -> int:
    from rich.table import Table

    from crawler.archive.captures import usage as capture_usage
    from crawler.archive.stats import collect_stats

    config = config_from_args(args)
    state = _open_state(args, config)
    try:
        stats = collect_stats(
            state,
            archive_dir=config.output.archive_dir,
            since=args.since,
            max_attempts=config.crawl.retry_max_attempts,
        )
    finally:
        state.close()
    out = _console()
    sources = Table(title="posts per source")
    for name in (
        "source",
        "posts",
        "revised",
        "retracted",
        "days without posts",
        "failures outstanding",
        "given up",
    ):
        sources.add_column(name, justify="left" if name == "source" else "right")
    for source in sorted(set(stats.per_source) | set(stats.failures) | set(stats.failures_given_up)):
        missing = sum(n for _, _, n in stats.source_gaps.get(source, []))
        sources.add_row(
            source,
            str(stats.per_source[source]),
            str(stats.revised[source]),
            str(stats.retracted[source]),
            str(missing),
            str(stats.failures[source]),
            str(stats.failures_given_up[source]),
        )
    out.print(sources)
    categories = Table(title=f"posts per category (top {args.top})")
    categories.add_column("category")
    categories.add_column("posts", justify="right")
    for slug, count in stats.per_category.most_common(args.top):
        categories.add_row(slug, str(count))
    out.print(categories)
    days = Table(title="posts per day (last 14 days with posts)")
    days.add_column("day (Beijing)")
    for source in sorted(stats.per_source):
        days.add_column(source, justify="right")
    days.add_column("total", justify="right")
    for day in sorted(stats.per_day)[-14:]:
        days.add_row(
            day,
            *(str(stats.per_source_day[s][day]) for s in sorted(stats.per_source)),
            str(stats.per_day[day]),
        )
    out.print(days)
    captures = capture_usage(config)
    if captures:
        table = Table(title="captures per source")
        for name in ("source", "files", "bytes", "first day", "last written"):
            table.add_column(name, justify="left" if name == "source" else "right")
        for source, use in sorted(captures.items()):
            table.add_row(source, str(use.files), f"{use.bytes:,}", use.first_day, use.last_day)
        out.print(table)
    if stats.gaps:
        gaps = Table(title="gaps (days without any post)")
        gaps.add_column("from")
        gaps.add_column("to")
        gaps.add_column("days", justify="right")
        for first, last, n in stats.gaps[-20:]:
            gaps.add_row(first, last, str(n))
        out.print(gaps)
    _summary(
        "archive stats",
        [
            ("posts", stats.total),
            ("in _posts", stats.live),
            ("archived", stats.archived),
            ("first day", stats.first_day or "-"),
            ("last day", stats.last_day or "-"),
            ("days without posts", sum(n for _, _, n in stats.gaps)),
            ("failures outstanding", sum(stats.failures.values())),
            ("failures given up", sum(stats.failures_given_up.values())),
            ("revised upstream", sum(stats.revised.values())),
            ("retracted upstream", sum(stats.retracted.values())),
            ("capture files", sum(use.files for use in captures.values())),
            ("capture bytes", f"{sum(use.bytes for use in captures.values()):,}"),
        ],
    )
    return EXIT_OK


def run_captures_prune(args: argparse.Namespace) -> int:
    """Whole files go, by the day of their newest record; under the crawl locks like the other
    commands that change the archive, so a rebuild never loses a file it is about to read."""
    from crawler.archive.captures import prune
    from crawler.locks import EXIT_LOCKED, LockTimeout

    config = config_from_args(args)
    keep_days = config.captures.keep_days if args.keep_days is None else args.keep_days
    if keep_days < 1:
        why = (
            "--keep-days must be at least 1"
            if args.keep_days is not None
            else ("[captures] keep_days is 0 (keep forever); give --keep-days N")
        )
        print(f"wiremirror archive captures prune: {why}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with nullcontext() if args.dry_run else _locked(config):
            result = prune(config, keep_days, dry_run=args.dry_run)
    except LockTimeout as err:
        print(f"wiremirror archive: {err}", file=sys.stderr)
        return EXIT_LOCKED
    out = _console()
    verb = "would remove" if args.dry_run else "removed"
    for found in result.removed:
        out.print(
            f"{verb} {found.source}/{found.path.name} ({found.size:,} bytes, last written {found.newest})"
        )
    for path in result.busy:
        out.print(
            f"[yellow]in use[/]: {path.parent.name}/{path.name} is being written to; left for next time"
        )
    _summary(
        f"archive captures prune (kept from {result.cutoff}, Beijing)",
        [
            (f"files {verb}", len(result.removed)),
            (f"bytes {'to free' if args.dry_run else 'freed'}", f"{result.freed:,}"),
            ("files kept", result.kept),
            ("in use, left", len(result.busy)),
        ],
    )
    return EXIT_OK


def run_history(args: argparse.Namespace) -> int:
    from crawler.archive.history import history_lines, resolve_article
    from crawler.postformat import parse_post
    from crawler.state import Revision

    config = config_from_args(args)
    state = _open_state(args, config)
    try:
        key = resolve_article(state, args.article)
        record = state.get_article(key) if key else None
        if record is None:
            print(f"error: no mirrored article {args.article!r}", file=sys.stderr)
            return EXIT_USAGE
        versions = state.revisions(record.key)
        if not versions:  # never revised: its post is its one version
            path = config.output_dir / record.post_path
            post = parse_post(record.post_path, path.read_text(encoding="utf-8")) if path.is_file() else None
            meta = post.meta if post and post.meta else {}
            body = post.body if post else ""
            versions = [
                Revision(
                    record.key, 1, record.content_hash, str(meta.get("fetched_at", "")), record.title, body
                )
            ]
    finally:
        state.close()
    print(
        f"{record.key}  {record.post_path}" + (f"  retracted {record.retracted}" if record.retracted else "")
    )
    for line in history_lines(versions):
        print(line)
    return EXIT_OK


run_rotate = _with_lock(_rotate)
# verify takes the crawl locks itself, per batch of suspects: a crawl runs while it reads
run_verify = _with_lock(_verify, locked=False, open_state=_open_checked)
run_import = _with_lock(_import)
run_rebuild = _with_lock(_rebuild)
run_categories = _with_lock(_categories, locked=False)  # see the module docstring

"""Rechecks: a run with 1,000 known articles of which 50 are due, against a no-change run.

Upstream lists articles all mirrored already. Before each recheck run 50 of them are made due (their
next recheck moved into the past in the state store, as the clock would); before each no-change run
none is. Runs alternate. A recheck run makes the no-change run's list requests plus one body request
per due article and no more, and costs about what those 50 fetches cost.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import BenchResult, Check, best, cli, run_child, write_config
from bench.loopdata import TEXT_PATH, IndexedLoopbackServer, config_for, eastmoney_articles, serve_eastmoney
from bench.nochange import NO_CHANGE_CRAWL
from bench.sizes import Sizes
from crawler.state import StateStore

DUE = 50
MAX_TIME_RATIO = 2.0  # 50 small fetches next to a run's fixed start-up and list requests


def _schedule(db: Path, due: int) -> None:
    """``due`` articles due for a recheck now, the others not for a day (SQL on a bench copy only)."""
    with StateStore(db) as state, state.write() as conn:
        conn.execute("UPDATE articles SET next_recheck = '2999-01-01T00:00:00+08:00', rechecks = 0")
        conn.execute(
            "UPDATE articles SET next_recheck = '2000-01-01T00:00:00+08:00'"
            " WHERE key IN (SELECT key FROM articles ORDER BY key LIMIT ?)",
            (due,),
        )


def run(sizes: Sizes, workdir: Path) -> BenchResult:
    n, due = sizes.revisions_known, min(DUE, sizes.revisions_known)
    result = BenchResult(
        "rechecks",
        f"a run with {n:,} known articles, {due} due for a recheck, against a no-change run",
        f"{due} body requests; ≤ {MAX_TIME_RATIO} × the no-change run's time",
    )
    with IndexedLoopbackServer() as server:
        serve_eastmoney(server, eastmoney_articles(n), page_size=sizes.page_size)
        data = config_for(server, workdir / "output", workdir / "state", **NO_CHANGE_CRAWL)
        data["sources"]["eastmoney"].update(
            {"page_size": sizes.page_size, "max_pages": n // sizes.page_size + 2}
        )
        data["sources"]["chinanews"] = {"enabled": False}
        data["revisions"] = {"recheck_after": [600], "max_rechecks_per_run": due}
        config = write_config(workdir, data)
        db = workdir / "state" / "wiremirror.sqlite3"
        first = run_child(cli("crawl", "eastmoney", "--config", str(config)))
        if first.returncode != 0:
            raise RuntimeError(f"first crawl exited {first.returncode}: {first.stderr[-2000:]}")
        runs: dict[str, list] = {"no-change": [], "recheck": []}
        bodies: dict[str, list[int]] = {"no-change": [], "recheck": []}
        requests: dict[str, list[int]] = {"no-change": [], "recheck": []}
        for _ in range(max(1, sizes.repeats)):
            for name, wanted in (("no-change", 0), ("recheck", due)):
                _schedule(db, wanted)
                served = len(server.requests)
                child = run_child(cli("crawl", "eastmoney", "--config", str(config)))
                if child.returncode != 0:
                    raise RuntimeError(f"{name} crawl exited {child.returncode}: {child.stderr[-2000:]}")
                seen = [r.path for r in server.requests[served:] if r.path != "/robots.txt"]
                runs[name].append(child)
                requests[name].append(len(seen))
                bodies[name].append(sum(p.startswith(TEXT_PATH) for p in seen))
    quiet, busy = best(runs["no-change"], "wall"), best(runs["recheck"], "wall")
    result.checks.append(Check("body requests, recheck run", max(bodies["recheck"]), "<=", due, "requests"))
    result.checks.append(
        Check("body requests, recheck run (at least)", min(bodies["recheck"]), ">=", due, "requests")
    )
    result.checks.append(Check("body requests, no-change run", max(bodies["no-change"]), "<=", 0, "requests"))
    result.checks.append(
        Check("wall time, recheck ÷ no-change run (best)", round(busy / quiet, 2), "<=", MAX_TIME_RATIO)
    )
    result.ratios["recheck run ÷ no-change run, wall time (best)"] = round(busy / quiet, 2)
    result.ratios["recheck run ÷ no-change run, requests"] = round(
        max(requests["recheck"]) / max(requests["no-change"]), 2
    )
    result.context = {
        "requests": requests,
        "bodies": bodies,
        "wall_s": {k: [round(r.wall, 2) for r in v] for k, v in runs.items()},
    }
    return result

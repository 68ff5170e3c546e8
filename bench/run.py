"""Benchmark hrllo against the cheapest Flask pages, in one run, on 127.0.0.1.

    .venv/bin/python -m bench.run [--rounds 3] [--seconds 3]

Serves hrllo (1,000 and 1,000,000 users), a bare Flask page (floor) and the same plus
one indexed SQLite SELECT (floor+db), all under gunicorn with 2 sync workers, and drives
them with wrk (50 keep-alive connections), interleaving targets round by round. Prints a
table of medians (min-max across rounds) and writes bench/results/latest.json.
"""

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

import requests

from tests.support import csrf_token, serve

BENCH = Path(__file__).resolve().parent
CONNECTIONS = 50
QUERY = "SELECT users.id FROM users WHERE users.username = ?"  # what the view runs


def bulk_load(database, count):
    """users: user0 .. user{count-1}, in one transaction."""
    with sqlite3.connect(database) as conn:
        conn.executemany(
            "INSERT INTO users (username) VALUES (?)", ((f"user{i}",) for i in range(count))
        )
    with sqlite3.connect(database) as conn:
        return conn.execute("EXPLAIN QUERY PLAN " + QUERY, ("user1",)).fetchone()[-1]


def form_session(url):
    """A real visitor's session cookie and the CSRF token its page carries."""
    page = requests.get(url + "/", timeout=10)
    return page.headers["Set-Cookie"].split(";")[0], csrf_token(page.text)


def wrk(url, seconds, post=None):
    """One wrk run; post = (cookie, token, mode, users) for the form cycle."""
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    if post:
        cookie, token, mode, users = post
        args = [cookie, token, mode, str(users), uuid.uuid4().hex[:8]]
        command += ["-s", "post.lua", url + "/", "--", *args]
    else:
        command += ["-s", "counting.lua", url + "/"]
    out = subprocess.run(command, cwd=BENCH, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if not match:
        raise RuntimeError("wrk failed:\n" + out.stdout + out.stderr)
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def errors_in(result):
    bad = {code: n for code, n in result["statuses"].items() if code == "400" or code >= "500"}
    return bad, result["socket_errors"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--large", type=int, default=1_000_000, help="users in the large table")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (apt-get install wrk)")

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        small_db, large_db = Path(tmp, "small.sqlite"), Path(tmp, "large.sqlite")
        hrllo = stack.enter_context(serve(f"sqlite:///{small_db}")).url
        hrllo_large = stack.enter_context(serve(f"sqlite:///{large_db}")).url
        bulk_load(small_db, 1000)
        plan = bulk_load(large_db, args.large)
        floor_db_file = Path(tmp, "floor.sqlite")
        with sqlite3.connect(small_db) as source, sqlite3.connect(floor_db_file) as copy:
            source.backup(copy)  # the same 1,000 users for floor+db
        os.environ["BENCH_DATABASE"] = str(floor_db_file)  # read by bench.floor

        def serve_floor(app):
            return stack.enter_context(serve("", app=app, migrate=False, health_path="/")).url

        floor, floor_db = serve_floor("bench.floor:floor"), serve_floor("bench.floor:floor_db")

        runs = {  # (path, target): how to drive it
            ("GET /", "floor"): (floor, None),
            ("GET /", "hrllo"): (hrllo, None),
            ("POST lookup", "floor+db"): (floor_db, ("", "", "known", 1000)),
            ("POST lookup", "hrllo"): (hrllo, (*form_session(hrllo), "known", 1000)),
            ("POST lookup 1M", "hrllo"): (
                hrllo_large,
                (*form_session(hrllo_large), "known", args.large),
            ),
            ("POST insert", "floor+db"): (floor_db, ("", "", "new", 0)),
            ("POST insert", "hrllo"): (hrllo, (*form_session(hrllo), "new", 0)),
        }
        results = {key: [] for key in runs}
        failed = False
        for round_number in range(1, args.rounds + 1):
            for key, (url, post) in runs.items():
                result = wrk(url, args.seconds, post)
                results[key].append(result)
                bad, socket_errors = errors_in(result)
                if bad or socket_errors:
                    failed = True
                    print(f"!!! ERROR round {round_number} {key}: statuses {bad}, "
                          f"socket errors {socket_errors}", file=sys.stderr)  # fmt: skip

        # Every insert the server confirmed (302) must be a row; a few more rows are
        # requests still in flight when wrk stopped counting.
        with sqlite3.connect(small_db) as conn:
            inserted = conn.execute("SELECT count(*) FROM users WHERE username LIKE 'new-%'")
            inserted = inserted.fetchone()[0]
        confirmed = sum(r["statuses"].get("302", 0) for r in results[("POST insert", "hrllo")])
        if inserted < confirmed:
            failed = True
            print(f"!!! ERROR: {confirmed} inserts confirmed, {inserted} rows", file=sys.stderr)

    summary = summarize(results)
    ratios = {
        "GET / hrllo ÷ floor": ratio(summary, ("GET /", "hrllo"), ("GET /", "floor")),
        "POST lookup hrllo ÷ floor+db": ratio(
            summary, ("POST lookup", "hrllo"), ("POST lookup", "floor+db")
        ),
        "POST insert hrllo ÷ floor+db": ratio(
            summary, ("POST insert", "hrllo"), ("POST insert", "floor+db")
        ),
        "lookup 1M ÷ 1k users": ratio(
            summary, ("POST lookup 1M", "hrllo"), ("POST lookup", "hrllo")
        ),
    }
    print_table(summary, ratios, plan, args)
    print(f"inserts confirmed by a 302: {confirmed}; rows found: {inserted}")
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    report = {
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": CONNECTIONS,
        "query_plan": plan,
        "results": {f"{p} | {t}": v for (p, t), v in summary.items()},
        "ratios": ratios,
        "inserts_confirmed": confirmed,
        "insert_rows_found": inserted,
        "errors": failed,
    }
    (out / "latest.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {out / 'latest.json'}")
    sys.exit(1 if failed else 0)


def summarize(results):
    summary = {}
    for key, runs in results.items():
        rps = [r["rps"] for r in runs]
        statuses = {}
        for r in runs:
            for code, n in r["statuses"].items():
                statuses[code] = statuses.get(code, 0) + n
        summary[key] = {
            "rps_median": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "statuses": statuses,
        }
    return summary


def ratio(summary, a, b):
    return round(summary[a]["rps_median"] / summary[b]["rps_median"], 3)


def print_table(summary, ratios, plan, args):
    print(f"\n{args.rounds} rounds x {args.seconds} s, {CONNECTIONS} connections, 2 workers each")
    print(f"{'path':<16} {'target':<9} {'req/s median (min-max)':>26} {'p50 ms':>8} "
          f"{'p99 ms':>8}  statuses")  # fmt: skip
    for (path, target), s in summary.items():
        spread = f"{s['rps_median']:.0f} ({s['rps_min']:.0f}-{s['rps_max']:.0f})"
        print(f"{path:<16} {target:<9} {spread:>26} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f}  "
              f"{s['statuses']}")  # fmt: skip
    print("\nratios (medians):")
    for name, value in ratios.items():
        print(f"  {name:<30} {value:.2f}")
    print(f"\nquery plan at {args.large:,} users: {plan}")


if __name__ == "__main__":
    main()

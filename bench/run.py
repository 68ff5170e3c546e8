"""Benchmark hrllo against the cheapest Flask pages, in one run, on 127.0.0.1.

    .venv/bin/python -m bench.run [--rounds 5] [--seconds 3] [--large 1000000]

Serves hrllo (1,000 and 1,000,000 users), a bare Flask page (floor) and the same plus
one indexed SQLite SELECT (floor+db), all under gunicorn with hrllo's gunicorn.conf.py and
2 sync workers, and drives them with wrk (50 keep-alive connections), interleaving targets
round by round. Then reports the resident memory of one worker of each, and the in-process
cost of each kind of request (bench.inprocess: no server, CPU µs per request). Prints
medians (min-max across rounds) and writes bench/results/latest.json; exits 1 on any error.
"""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import data, inprocess
from deploy.hosts import serve
from scripts.visitor import csrf_token

BENCH = Path(__file__).resolve().parent
CONNECTIONS = 50
SMALL = 1000  # users in hrllo's everyday database (and floor+db's copy)


@dataclass
class Targets:
    """What one run serves: a gunicorn server per target, and hrllo's databases."""

    servers: dict  # target name -> deploy.hosts.AppHost
    database: Path  # hrllo's 1,000-user database, where the inserts land
    floor_database: Path
    query_plan: str  # how SQLite finds a name among the large table's users

    def url(self, target):
        return self.servers[target].url


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3, help="per wrk run")
    parser.add_argument("--large", type=int, default=1_000_000, help="users in the large table")
    parser.add_argument("--inprocess-rounds", type=int, default=7)
    parser.add_argument("--inprocess-requests", type=int, default=300)
    return parser.parse_args()


def start_targets(stack, folder, large):
    """Serve hrllo on two databases and the two floors; each stops when stack closes."""
    database, large_database = Path(folder, "small.sqlite"), Path(folder, "large.sqlite")
    floor_database = Path(folder, "floor.sqlite")
    servers = {
        "hrllo": stack.enter_context(serve(data.url(database))),
        "hrllo 1M": stack.enter_context(serve(data.url(large_database))),
    }
    data.bulk_load(database, SMALL)
    query_plan = data.bulk_load(large_database, large)
    data.copy(database, floor_database)
    for target, app in (("floor", "bench.floor:floor"), ("floor+db", "bench.floor:floor_db")):
        floor = serve(
            "", app=app, migrate=False, health_path="/", env={"BENCH_DATABASE": floor_database}
        )
        servers[target] = stack.enter_context(floor)
    return Targets(servers, database, floor_database, query_plan)


def form_session(url):
    """A real visitor's session cookie and the CSRF token its page carries."""
    page = requests.get(url + "/", timeout=10)
    return page.headers["Set-Cookie"].split(";")[0], csrf_token(page.text)


def planned_runs(targets, large):
    """(path, target) -> (url, post): post is None for a GET, else what post.lua sends."""
    hrllo, hrllo_large = targets.url("hrllo"), targets.url("hrllo 1M")
    return {
        ("GET /", "floor"): (targets.url("floor"), None),
        ("GET /", "hrllo"): (hrllo, None),
        ("POST lookup", "floor+db"): (targets.url("floor+db"), ("", "", "known", SMALL)),
        ("POST lookup", "hrllo"): (hrllo, (*form_session(hrllo), "known", SMALL)),
        ("POST lookup 1M", "hrllo"): (hrllo_large, (*form_session(hrllo_large), "known", large)),
        ("POST insert", "floor+db"): (targets.url("floor+db"), ("", "", "new", 0)),
        ("POST insert", "hrllo"): (hrllo, (*form_session(hrllo), "new", 0)),
    }


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


def run_rounds(runs, rounds, seconds):
    """Every run once per round, in the same order: (path, target) -> one result per round."""
    results = {key: [] for key in runs}
    for _ in range(rounds):
        for key, (url, post) in runs.items():
            results[key].append(wrk(url, seconds, post))
    return results


def request_errors(results):
    """A line for every run that got a 400, a 5xx or a socket error."""
    errors = []
    for (path, target), runs in results.items():
        for round_number, result in enumerate(runs, 1):
            bad = {
                code: n for code, n in result["statuses"].items() if code == "400" or code >= "500"
            }
            if bad or result["socket_errors"]:
                errors.append(
                    f"round {round_number} {path} {target}: statuses {bad}, "
                    f"socket errors {result['socket_errors']}"
                )
    return errors


def count_inserts(database, results):
    """Inserts hrllo confirmed by a greeting, and the rows they left in its database."""
    with data.connect(database) as conn:
        rows = conn.execute("SELECT count(*) FROM users WHERE username LIKE 'new-%'").fetchone()[0]
    confirmed = sum(r["statuses"].get("greeted", 0) for r in results[("POST insert", "hrllo")])
    return {"confirmed": confirmed, "rows": rows}


def insert_errors(inserts):
    # A few more rows than confirmations are requests still in flight when wrk stopped.
    if inserts["rows"] < inserts["confirmed"]:
        return [f"{inserts['confirmed']} inserts confirmed, {inserts['rows']} rows"]
    return []


def worker_memory(servers):
    """Target -> resident memory of its largest gunicorn worker, in MiB."""
    return {target: max(map(resident_mib, s.worker_pids())) for target, s in servers.items()}


def resident_mib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024


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


def ratios(results):
    """Each ratio's median over rounds: a pair measured side by side shares the machine's load."""

    def ratio(a, b):
        per_round = [x["rps"] / y["rps"] for x, y in zip(results[a], results[b], strict=True)]
        return round(statistics.median(per_round), 3)

    return {
        "GET / hrllo ÷ floor": ratio(("GET /", "hrllo"), ("GET /", "floor")),
        "POST lookup hrllo ÷ floor+db": ratio(
            ("POST lookup", "hrllo"), ("POST lookup", "floor+db")
        ),
        "POST insert hrllo ÷ floor+db": ratio(
            ("POST insert", "hrllo"), ("POST insert", "floor+db")
        ),
        "lookup 1M ÷ 1k users": ratio(("POST lookup 1M", "hrllo"), ("POST lookup", "hrllo")),
    }


def print_wrk_table(summary, args):
    print(f"\n{args.rounds} rounds x {args.seconds} s, {CONNECTIONS} connections, 2 workers each")
    print(f"{'path':<16} {'target':<9} {'req/s median (min-max)':>26} {'p50 ms':>8} "
          f"{'p99 ms':>8}  statuses")  # fmt: skip
    for (path, target), s in summary.items():
        spread = f"{s['rps_median']:.0f} ({s['rps_min']:.0f}-{s['rps_max']:.0f})"
        print(f"{path:<16} {target:<9} {spread:>26} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f}  "
              f"{s['statuses']}")  # fmt: skip


def print_report(report, args):
    print_wrk_table(report["results"], args)
    print("\nratios (median of the rounds' ratios):")
    for name, value in report["ratios"].items():
        print(f"  {name:<30} {value:.2f}")
    print(f"\nquery plan at {args.large:,} users: {report['query_plan']}")
    inserts = report["inserts"]
    print(f"inserts confirmed by a greeting: {inserts['confirmed']}; rows found: {inserts['rows']}")
    print("\nresident memory of one worker (the larger of 2), after the runs:")
    for target, mib in report["worker_rss_mib"].items():
        print(f"  {target:<9} {mib:6.1f} MiB")
    inprocess.print_table(report["inprocess"], args.inprocess_rounds, args.inprocess_requests)


def write_report(report):
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    serializable = {
        **report,
        "results": {f"{p} | {t}": v for (p, t), v in report["results"].items()},
    }
    (out / "latest.json").write_text(json.dumps(serializable, indent=2))
    print(f"\nwritten: {out / 'latest.json'}")


def main():
    args = parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        targets = start_targets(stack, tmp, args.large)
        results = run_rounds(planned_runs(targets, args.large), args.rounds, args.seconds)
        inserts = count_inserts(targets.database, results)
        memory = worker_memory(targets.servers)
        stack.close()  # the servers are idle from here on: stop them before measuring in-process
        database, floor_database = inprocess.prepare(Path(tmp, "inprocess"))
        costs = inprocess.measure(
            database, floor_database, args.inprocess_rounds, args.inprocess_requests
        )
    summary = summarize(results)
    report = {
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": CONNECTIONS,
        "query_plan": targets.query_plan,
        "results": summary,
        "ratios": ratios(results),
        "inserts": inserts,
        "worker_rss_mib": memory,
        "inprocess": inprocess.summarize(costs),
    }
    errors = request_errors(results) + insert_errors(inserts)
    report["errors"] = errors
    print_report(report, args)
    write_report(report)
    for error in errors:
        print(f"!!! ERROR {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

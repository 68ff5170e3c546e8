"""Benchmark hrllo against the book's chapter-5 app, side by side, on 127.0.0.1.

    .venv/bin/python -m bench.run [--rounds 5] [--seconds 3] [--large 1000000]

Serves hrllo (1,000 and 1,000,000 users), the book's chapter-5 app (bench/book: its own
tables from db.create_all, the same 1,000 users) and, as information, the cheapest Flask
pages: a bare page (floor) and the same plus one indexed SQLite SELECT (floor+db). All run
under gunicorn with hrllo's gunicorn.conf.py and 2 sync workers, driven by wrk (50
connections) in rounds: every run once per round, the order reversed every other round, so
that hrllo and the book's app share the machine's load. Each run gives req/s and the CPU
time (user + system) the server's processes spent per request. Then the resident memory of
one worker of each, and the in-process cost of each kind of request (bench.inprocess: no
server, CPU µs per request). Prints medians (min-max across rounds) and the ratios hrllo ÷
book (each the median of the rounds' ratios) against the targets, writes
bench/results/latest.json, and exits 1 on any unexpected answer.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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
SMALL = 1000  # users in hrllo's everyday database (and the book's, and floor+db's copy)
PATHS = ("GET /", "POST lookup", "POST insert")
# The targets: hrllo's CPU per request ÷ the book's app's, at most. Level on a page and a
# lookup (within this machine's noise), 1.3 times cheaper on an insert.
TARGETS = {"GET /": 1.0, "POST lookup": 1.0, "POST insert": round(1 / 1.3, 2)}
# What each app answers a form it accepted: the book's redirect() is Flask's default 302,
# hrllo's an explicit 303; a refused form gets the page again (200).
REDIRECT = {"hrllo": 303, "book": 302}


@dataclass
class Targets:
    """What one run serves: a gunicorn server per target, and the databases inserts land in."""

    servers: dict  # target name -> deploy.hosts.AppHost
    databases: dict  # "hrllo", "book" -> its 1,000-user database
    query_plan: str  # how SQLite finds a name among the large table's users

    def url(self, target):
        return self.servers[target].url


@dataclass
class Run:
    """One wrk run of a round: which server, what wrk sends, what the server must answer."""

    server: str  # a key of Targets.servers
    url: str
    post: tuple | None  # None for a GET, else (cookie, token, mode, users) for post.lua
    expected: int  # the status of every request served as intended


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3, help="per wrk run")
    parser.add_argument("--large", type=int, default=1_000_000, help="users in the large table")
    parser.add_argument("--inprocess-rounds", type=int, default=7, help="0 skips it")
    parser.add_argument("--inprocess-requests", type=int, default=300)
    return parser.parse_args()


def start_targets(stack, folder, large):
    """Serve hrllo on two databases, the book's app and the two floors; each stops when
    stack closes."""
    database, large_database = Path(folder, "small.sqlite"), Path(folder, "large.sqlite")
    book_database, floor_database = Path(folder, "book.sqlite"), Path(folder, "floor.sqlite")
    servers = {
        "hrllo": stack.enter_context(serve(data.url(database))),
        "hrllo 1M": stack.enter_context(serve(data.url(large_database))),
    }
    data.bulk_load(database, SMALL)
    query_plan = data.bulk_load(large_database, large)
    data.create_book_tables(book_database)
    data.bulk_load(book_database, SMALL)
    book = serve(data.url(book_database), "bench.book.hello:app", migrate=False, health_path="/")
    servers["book"] = stack.enter_context(book)
    data.copy(database, floor_database)
    for target, app in (("floor", "bench.floor:floor"), ("floor+db", "bench.floor:floor_db")):
        floor = serve(
            "", app=app, migrate=False, health_path="/", env={"BENCH_DATABASE": floor_database}
        )
        servers[target] = stack.enter_context(floor)
    return Targets(servers, {"hrllo": database, "book": book_database}, query_plan)


def form_session(url):
    """A real visitor's session cookie and the CSRF token its page carries."""
    page = requests.get(url + "/", timeout=10)
    return page.headers["Set-Cookie"].split(";")[0], csrf_token(page.text)


def planned_runs(targets, large):
    """(path, target) -> Run. Each POST carries a session cookie and the CSRF token of the
    page that set it, from its own app, as a browser sends them."""

    def page(server):
        return Run(server, targets.url(server), None, 200)

    def form(server, mode, users):
        url = targets.url(server)
        app = server.split()[0]  # "hrllo 1M" is hrllo
        return Run(server, url, (*form_session(url), mode, users), REDIRECT[app])

    def floor_db(mode):
        return Run("floor+db", targets.url("floor+db"), ("", "", mode, SMALL), 200)

    return {
        ("GET /", "floor"): page("floor"),
        ("GET /", "book"): page("book"),
        ("GET /", "hrllo"): page("hrllo"),
        ("POST lookup", "floor+db"): floor_db("known"),
        ("POST lookup", "book"): form("book", "known", SMALL),
        ("POST lookup", "hrllo"): form("hrllo", "known", SMALL),
        ("POST lookup 1M", "hrllo"): form("hrllo 1M", "known", large),
        ("POST insert", "floor+db"): floor_db("new"),
        ("POST insert", "book"): form("book", "new", 0),
        ("POST insert", "hrllo"): form("hrllo", "new", 0),
    }


def cpu_seconds(pids):
    """pid -> the CPU time (user + system) the process has used so far, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue  # it has exited
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def server_pids(host):
    """The gunicorn master and its workers."""
    return [host.process.pid, *host.worker_pids()]


def wrk(run, host, seconds):
    """One wrk run, and the CPU time host's processes spent during it."""
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    if run.post:
        cookie, token, mode, users = run.post
        args = [cookie, token, mode, str(users), uuid.uuid4().hex[:8]]
        command += ["-s", "post.lua", run.url + "/", "--", *args]
    else:
        command += ["-s", "counting.lua", run.url + "/"]
    before = cpu_seconds(server_pids(host))
    out = subprocess.run(command, cwd=BENCH, capture_output=True, text=True, timeout=seconds + 60)
    after = cpu_seconds(server_pids(host))
    match = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if not match:
        raise RuntimeError("wrk failed:\n" + out.stdout + out.stderr)
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    # A worker that exited took its CPU time with it: such a run's CPU is not counted right.
    result["workers_replaced"] = set(before) != set(after)
    cpu = sum(after[pid] - before.get(pid, 0) for pid in after)
    result["cpu_ms_per_request"] = 1000 * cpu / max(result["requests"], 1)
    return result


def run_rounds(targets, runs, rounds, seconds):
    """Every run once per round, the order reversed every other round so that neither of a
    pair always goes first: (path, target) -> one result per round."""
    results = {key: [] for key in runs}
    for round_number in range(rounds):
        order = list(runs) if round_number % 2 == 0 else list(reversed(runs))
        for key in order:
            run = runs[key]
            results[key].append(wrk(run, targets.servers[run.server], seconds))
            time.sleep(0.3)  # the requests wrk left queued are served before the next run
    return results


def request_errors(runs, results):
    """A line for every run that got another status than expected or a socket error, or
    whose server replaced a worker."""
    errors = []
    for (path, target), per_round in results.items():
        expected = str(runs[path, target].expected)
        for round_number, result in enumerate(per_round, 1):
            bad = {code: n for code, n in result["statuses"].items() if code != expected}
            if bad or result["socket_errors"] or result["workers_replaced"]:
                errors.append(
                    f"round {round_number} {path} {target}: expected {expected}, got {bad}, "
                    f"socket errors {result['socket_errors']}, "
                    f"a worker replaced: {result['workers_replaced']}"
                )
    return errors


def count_inserts(databases, results):
    """For hrllo and the book's app: the inserts a redirect confirmed, and the rows found."""
    inserts = {}
    for target, database in databases.items():
        with data.connect(database) as conn:
            query = "SELECT count(*) FROM users WHERE username LIKE 'new-%'"
            rows = conn.execute(query).fetchone()[0]
        status = str(REDIRECT[target])
        confirmed = sum(r["statuses"].get(status, 0) for r in results["POST insert", target])
        inserts[target] = {"confirmed": confirmed, "rows": rows}
    return inserts


def insert_errors(inserts):
    # A few more rows than confirmations are requests still in flight when wrk stopped.
    return [
        f"{target}: {n['confirmed']} inserts confirmed, {n['rows']} rows"
        for target, n in inserts.items()
        if n["rows"] < n["confirmed"]
    ]


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
        cpu = [r["cpu_ms_per_request"] for r in runs]
        statuses = {}
        for r in runs:
            for code, n in r["statuses"].items():
                statuses[code] = statuses.get(code, 0) + n
        summary[key] = {
            "rps_median": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "cpu_ms_per_request_median": statistics.median(cpu),
            "cpu_ms_per_request_min": min(cpu),
            "cpu_ms_per_request_max": max(cpu),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "statuses": statuses,
        }
    return summary


def ratio(results, a, b, measure="rps"):
    """The median over rounds of a's measure ÷ b's: a pair measured in the same round shares
    the machine's load."""
    per_round = [x[measure] / y[measure] for x, y in zip(results[a], results[b], strict=True)]
    return round(statistics.median(per_round), 3)


def ratios(results):
    """hrllo ÷ the book's app, against the targets; the floors' ratios as information."""
    versus_book = {}
    for path in PATHS:
        # below 1: hrllo's server spends less CPU on a request than the book's
        cpu = ratio(results, (path, "hrllo"), (path, "book"), "cpu_ms_per_request")
        versus_book[path] = {
            "rps": ratio(results, (path, "hrllo"), (path, "book")),
            "cpu_per_request": cpu,
            "cpu_target": TARGETS[path],
            "met": cpu <= TARGETS[path],
        }
    floors = {}
    for path in PATHS:
        floor = "floor" if path == "GET /" else "floor+db"
        for target in ("hrllo", "book"):
            floors[f"{path} {target} ÷ {floor}"] = ratio(results, (path, target), (path, floor))
    floors["POST lookup hrllo 1M ÷ 1k users"] = ratio(
        results, ("POST lookup 1M", "hrllo"), ("POST lookup", "hrllo")
    )
    return {"hrllo ÷ book": versus_book, "floors (information)": floors}


def print_wrk_table(summary, args):
    print(f"\n{args.rounds} rounds x {args.seconds} s, {CONNECTIONS} connections, 2 workers each")
    print(f"{'path':<15} {'target':<9} {'req/s median (min-max)':>23} "
          f"{'CPU ms/request (min-max)':>25} {'p50 ms':>7} {'p99 ms':>7}  statuses")  # fmt: skip
    for (path, target), s in summary.items():
        rps = f"{s['rps_median']:.0f} ({s['rps_min']:.0f}-{s['rps_max']:.0f})"
        cpu = (f"{s['cpu_ms_per_request_median']:.2f} ({s['cpu_ms_per_request_min']:.2f}-"
               f"{s['cpu_ms_per_request_max']:.2f})")  # fmt: skip
        print(f"{path:<15} {target:<9} {rps:>23} {cpu:>25} {s['p50_ms']:>7.1f} "
              f"{s['p99_ms']:>7.1f}  {s['statuses']}")  # fmt: skip


def print_report(report, args):
    print_wrk_table(report["results"], args)
    print("\nhrllo ÷ book (median of the rounds' ratios):")
    print(f"  {'path':<12} {'CPU/request':>11} {'target':>7} {'':<7} {'req/s':>6}")
    for path, r in report["ratios"]["hrllo ÷ book"].items():
        met = "met" if r["met"] else "MISSED"
        print(f"  {path:<12} {r['cpu_per_request']:>11.2f} {'≤ ' + str(r['cpu_target']):>7} "
              f"{met:<7} {r['rps']:>6.2f}")  # fmt: skip
    print("  (CPU/request below 1: hrllo's server spends less on a request)")
    print("\nfloors, req/s ratios (information):")
    for name, value in report["ratios"]["floors (information)"].items():
        print(f"  {name:<34} {value:.2f}")
    print(f"\nquery plan at {args.large:,} users: {report['query_plan']}")
    for target, n in report["inserts"].items():
        print(f"{target}: inserts confirmed by a redirect: {n['confirmed']}; rows: {n['rows']}")
    print("\nresident memory of one worker (the larger of 2), after the runs:")
    for target, mib in report["worker_rss_mib"].items():
        print(f"  {target:<9} {mib:6.1f} MiB")
    if report["inprocess"]:
        inprocess.print_table(report["inprocess"], args.inprocess_rounds, args.inprocess_requests)


def write_report(report):
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    serializable = {
        **report,
        "results": {f"{p} | {t}": v for (p, t), v in report["results"].items()},
    }
    (out / "latest.json").write_text(json.dumps(serializable, indent=2, ensure_ascii=False))
    print(f"\nwritten: {out / 'latest.json'}")


def main():
    args = parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (apt-get install wrk)")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        targets = start_targets(stack, tmp, args.large)
        runs = planned_runs(targets, args.large)
        results = run_rounds(targets, runs, args.rounds, args.seconds)
        inserts = count_inserts(targets.databases, results)
        memory = worker_memory(targets.servers)
        stack.close()  # the servers are idle from here on: stop them before measuring in-process
        costs = None
        if args.inprocess_rounds:
            databases = inprocess.prepare(Path(tmp, "inprocess"))
            costs = inprocess.measure(databases, args.inprocess_rounds, args.inprocess_requests)
    report = {
        "command": " ".join([".venv/bin/python -m bench.run", *sys.argv[1:]]),
        "started": started,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": CONNECTIONS,
        "query_plan": targets.query_plan,
        "results": summarize(results),
        "ratios": ratios(results),
        "inserts": inserts,
        "worker_rss_mib": memory,
        "inprocess": inprocess.summarize(costs) if costs else None,
    }
    errors = request_errors(runs, results) + insert_errors(inserts)
    report["errors"] = errors
    print_report(report, args)
    write_report(report)
    for error in errors:
        print(f"!!! ERROR {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

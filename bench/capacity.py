"""Capacity through the stack: hosts x workers x server connections, against req/s and p99.

    .venv/bin/python -m bench.capacity [--seconds 5] [--connections 32] [--max-connections 20]
        [--points 2x2x4,2x2x-,4x8x10,4x8x4,4x8x-] [--greetings 400]

Each point is HOSTSxWORKERSxSERVER_CONNECTIONS: `make stack`'s code (deploy.stack) with
that many gunicorn hosts and workers each, through PgBouncer holding that many connections
to PostgreSQL, or `-` for no PgBouncer (every worker its own connection). All on one
throwaway PostgreSQL server of --max-connections. wrk (Debian's package) sends GET
/readyz, one query on a pooled connection each, through nginx over HTTPS, from
--connections connections for --seconds. Prints a Markdown table: req/s, p50 and p99,
the CPU time PostgreSQL's processes spent per request, and the answers that were not 200
(a worker without a connection answers 503). Then, at the last point through PgBouncer,
visitors sending new names straight to the hosts (nginx would hold one address to 30 forms
a second): greetings a second, and PostgreSQL's CPU time per greeting.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.run import cpu_seconds
from deploy.hosts import worker_pids
from deploy.pgbouncer import pgbouncer_installed
from deploy.postgres import postgres_bin, postgres_server
from deploy.stack import stack
from scripts.load import run_clients

BENCH = Path(__file__).resolve().parent


def parse_point(text):
    hosts, workers, server = text.split("x")
    return int(hosts), int(workers), None if server == "-" else int(server)


def wrk(url, connections, seconds):
    """One wrk run against url: requests, seconds, p50_ms, p99_ms, statuses, socket_errors."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", "counting.lua", url]
    out = subprocess.run(command, cwd=BENCH, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if not match:
        raise RuntimeError("wrk failed:\n" + out.stdout + out.stderr)
    return json.loads(match.group(1))


class CPU:
    """The CPU time (user + system) the children of these processes spend, from /proc:
    PostgreSQL's backends, gunicorn's workers."""

    def __init__(self, parents):
        self.parents = parents

    def pids(self):
        return [pid for parent in self.parents for pid in worker_pids(parent)]

    def __enter__(self):
        self.before = cpu_seconds(self.pids())
        return self

    def __exit__(self, *exc):
        after = cpu_seconds(self.pids())
        self.seconds = sum(used - self.before.get(pid, 0) for pid, used in after.items())


def postgres_cpu(server):
    return CPU([int((server.data / "postmaster.pid").read_text().split()[0])])


def measure(server, point, connections, seconds, greetings=0):
    hosts, workers, server_connections = point
    with stack(
        server.url,
        hosts=hosts,
        workers=workers,
        pgbouncer=server_connections is not None,
        server_connections=server_connections or 0,
    ) as running:
        url = running.https_url + "/readyz"  # wrk does not check the certificate
        wrk(url, connections, 1)  # not counted: each worker opens its connection
        with postgres_cpu(server) as postgres:
            result = wrk(url, connections, seconds)
        result["rps"] = result["requests"] / result["seconds"]
        result["postgres_ms"] = 1000 * postgres.seconds / max(result["requests"], 1)
        if greetings:
            result["greetings"] = greet(server, running, greetings, seconds)
    return result


def greet(server, running, count, seconds):
    """count new names sent straight to the hosts, 4 visitors per host at once: greetings
    a second, and the CPU ms per greeting of PostgreSQL and of the gunicorn workers."""

    def visitors(host):
        return run_clients(
            host.url, clients=4, seconds=seconds * 4, max_requests=count // len(running.hosts)
        )

    workers = CPU([host.process.pid for host in running.hosts])
    with postgres_cpu(server) as postgres, workers, ThreadPoolExecutor(len(running.hosts)) as pool:
        started = time.monotonic()
        outcomes = list(pool.map(visitors, running.hosts))
        elapsed = time.monotonic() - started
    greeted = sum(statuses["greeted"] for statuses, _ in outcomes)
    failed = sum(sum(statuses.values()) for statuses, _ in outcomes) - greeted
    return {
        "greeted": greeted,
        "failed": failed,
        "per_second": greeted / elapsed,
        "postgres_ms": 1000 * postgres.seconds / max(greeted, 1),
        "workers_ms": 1000 * workers.seconds / max(greeted, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32, help="wrk's, through nginx")
    parser.add_argument("--max-connections", type=int, default=20, help="PostgreSQL's")
    parser.add_argument("--points", default="2x2x4,2x2x-,4x8x10,4x8x4,4x8x-")
    parser.add_argument("--greetings", type=int, default=400, help="new names sent, in all")
    args = parser.parse_args(argv)
    if not (shutil.which("wrk") and postgres_bin() and pgbouncer_installed()):
        parser.error(
            "needs wrk, PostgreSQL and PgBouncer: apt-get install wrk postgresql pgbouncer"
        )

    points = [parse_point(text) for text in args.points.split(",")]
    command = " ".join(["python -m bench.capacity", *(argv or sys.argv[1:])])
    print(f"`{command}`: GET /readyz through nginx, wrk -c{args.connections} -d{args.seconds}s,")
    print(f"PostgreSQL max_connections={args.max_connections}")
    print()
    columns = ["hosts x workers", "to PostgreSQL", "req/s", "p50 ms", "p99 ms"]
    columns += ["PostgreSQL CPU ms per request", "not 200"]
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    last_pooled = max(i for i, point in enumerate(points) if point[2] is not None)
    with postgres_server(max_connections=args.max_connections) as server:
        for i, point in enumerate(points):
            hosts, workers, server_connections = point
            greetings = args.greetings if i == last_pooled else 0
            result = measure(server, point, args.connections, args.seconds, greetings)
            failed = {code: n for code, n in result["statuses"].items() if code != "200"}
            failed = ", ".join(f"{n} x {code}" for code, n in failed.items()) or "0"
            if result["socket_errors"]:
                failed += f", {result['socket_errors']} socket errors"
            route = (
                f"PgBouncer, {server_connections} connections"
                if server_connections
                else f"direct, {hosts * workers} connections"
            )
            print(
                f"| {hosts} x {workers} | {route} | {result['rps']:,.0f} |"
                f" {result['p50_ms']:.1f} | {result['p99_ms']:.1f} |"
                f" {result['postgres_ms']:.2f} | {failed} |",
                flush=True,
            )
            if greetings:
                greeted = result["greetings"]
    hosts, workers, server_connections = points[last_pooled]
    print()
    print(
        f"Greetings (new names, straight to the {hosts} x {workers} hosts through PgBouncer"
        f" with {server_connections} connections):"
        f" {greeted['greeted']} in all, {greeted['failed']} failed,"
        f" {greeted['per_second']:.0f} a second,"
        f" CPU per greeting: PostgreSQL {greeted['postgres_ms']:.2f} ms,"
        f" gunicorn's workers {greeted['workers_ms']:.1f} ms (a greeting is 3 requests:"
        " the page, the form, the page again)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

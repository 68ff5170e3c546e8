"""Capacity through the stack: hosts x workers x server connections, against req/s and p99.

    .venv/bin/python -m bench.capacity [--seconds 5] [--connections 32] [--max-connections 20]
        [--points 2x2x4,2x2x-,4x8x10,4x8x4,4x8x-]

Each point is HOSTSxWORKERSxSERVER_CONNECTIONS: `make stack`'s code (deploy.stack) with
that many gunicorn hosts and workers each, through PgBouncer holding that many connections
to PostgreSQL, or `-` for no PgBouncer (every worker its own connection). All on one
throwaway PostgreSQL server of --max-connections. wrk (Debian's package) sends GET
/healthz, one query on a pooled connection each, through nginx over HTTPS, from
--connections connections for --seconds. Prints a Markdown table: req/s, p50 and p99, and
the answers that were not 200 (a worker without a connection answers 503).
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from deploy.pgbouncer import pgbouncer_installed
from deploy.postgres import postgres_bin, postgres_server
from deploy.stack import stack

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


def measure(server_url, point, connections, seconds):
    hosts, workers, server_connections = point
    with stack(
        server_url,
        hosts=hosts,
        workers=workers,
        pgbouncer=server_connections is not None,
        server_connections=server_connections or 0,
    ) as running:
        url = running.https_url + "/healthz"  # wrk does not check the certificate
        wrk(url, connections, 1)  # not counted: each worker opens its connection
        result = wrk(url, connections, seconds)
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32, help="wrk's, through nginx")
    parser.add_argument("--max-connections", type=int, default=20, help="PostgreSQL's")
    parser.add_argument("--points", default="2x2x4,2x2x-,4x8x10,4x8x4,4x8x-")
    args = parser.parse_args(argv)
    if not (shutil.which("wrk") and postgres_bin() and pgbouncer_installed()):
        parser.error(
            "needs wrk, PostgreSQL and PgBouncer: apt-get install wrk postgresql pgbouncer"
        )

    points = [parse_point(text) for text in args.points.split(",")]
    command = " ".join(["python -m bench.capacity", *(argv or sys.argv[1:])])
    print(f"`{command}`: GET /healthz through nginx, wrk -c{args.connections} -d{args.seconds}s,")
    print(f"PostgreSQL max_connections={args.max_connections}")
    print()
    print("| hosts x workers | to PostgreSQL | req/s | p50 ms | p99 ms | not 200 |")
    print("| --- | --- | --- | --- | --- | --- |")
    with postgres_server(max_connections=args.max_connections) as server:
        for point in points:
            hosts, workers, server_connections = point
            result = measure(server.url, point, args.connections, args.seconds)
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
                f" {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | {failed} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

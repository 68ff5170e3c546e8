"""Load and fault test: visitors sending new names, many at once, and nothing lost.

    .venv/bin/python -m scripts.load --clients 50 --seconds 10 [--kill-worker] [--database-url URL]
    .venv/bin/python -m scripts.load --url URL --certificate CERT --database-url DATABASE_URL

By default it starts gunicorn (2 workers) on 127.0.0.1 (a free port) on a fresh database,
optionally kills one worker with SIGKILL half-way, and stops it by PID at the end. With
--url it sends the visitors to a server that is already running (for example `make stack`,
whose database URL and certificate it prints). Either way it reports requests, statuses,
and the names the server acknowledged (302) against the rows found, and exits 1 if a 5xx
was answered or an acknowledged name is missing or stored twice.
"""

import argparse
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time

from tests.support import load_report, run_clients, serve


def integrity_check(database_url):
    if not database_url.startswith("sqlite:///"):
        return "n/a"
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def wait_for_replacement(server, killed, workers, timeout=15):
    """True once the master has replaced the killed worker and is back to full strength."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if killed not in pids and len(pids) == workers:
            return True
        time.sleep(0.1)
    return False


def load_own_server(database_url, clients, seconds, max_requests, kill_worker=False):
    """gunicorn with 2 workers on database_url, under load; optionally a worker killed."""
    workers = 2
    killed = []
    with serve(database_url, workers=workers) as server:

        def kill_one_worker_half_way():
            time.sleep(seconds / 2)
            pid = server.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        statuses, saved = run_clients(
            server.url,
            clients,
            seconds,
            max_requests,
            during=kill_one_worker_half_way if kill_worker else None,
        )
        replaced = wait_for_replacement(server, killed[0], workers) if killed else None
    return {
        **load_report(statuses, saved, database_url),
        "killed_worker": killed[0] if killed else None,
        "worker_replaced": replaced,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--kill-worker", action="store_true", help="without --url only")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--url", help="a running server to send the visitors to")
    parser.add_argument("--certificate", help="with an https --url: the certificate to trust")
    args = parser.parse_args()
    if args.url and not args.database_url:
        parser.error("--url needs the server's --database-url, to check what was stored")
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or "sqlite:///" + os.path.join(tmp, "load.sqlite")
        if args.url:
            statuses, saved = run_clients(
                args.url.rstrip("/"),
                args.clients,
                args.seconds,
                args.max_requests,
                certificate=args.certificate,
            )
            result = load_report(statuses, saved, database_url)
        else:
            result = load_own_server(
                database_url, args.clients, args.seconds, args.max_requests, args.kill_worker
            )
        result["integrity_check"] = integrity_check(database_url)
    print(json.dumps(result, indent=2))
    ok = not (result["server_errors"] or result["rows_missing"] or result["rows_duplicated"])
    sys.exit(0 if ok and result["integrity_check"] in ("ok", "n/a") else 1)


if __name__ == "__main__":
    main()

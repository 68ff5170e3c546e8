"""Load and fault test: visitors sending new names, many at once, and nothing lost.

    .venv/bin/python -m scripts.load --clients 50 --seconds 10 [--kill-worker] [--database-url URL]
    .venv/bin/python -m scripts.load --url URL --certificate CERT --database-url DATABASE_URL \
        --rate 20

By default it starts gunicorn (2 workers) on 127.0.0.1 (a free port) on a fresh database,
optionally kills one worker with SIGKILL half-way, and stops it by PID at the end. With
--url it sends the visitors to a server that is already running (for example `make stack`,
whose database URL and certificate it prints; nginx answers one address 429 past 30 forms a
second, so pace the visitors with --rate). Either way it reports requests, statuses,
and the names the server acknowledged (greeted) against the rows found, and exits 1 if a 5xx
was answered or an acknowledged name is missing or stored twice.
"""

import argparse
import json
import os
import secrets
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter

import requests
from sqlalchemy import create_engine, text

import settings
from deploy.hosts import serve
from scripts.visitor import GREETED, submit, visitor


def stored_usernames(database_url):
    """Every username in the database, through a connection of its own (committed rows only)."""
    engine = create_engine(settings.database_url(database_url))
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT username FROM users"))]
    finally:
        engine.dispose()


def run_clients(url, clients, seconds, max_requests, during=None, certificate=None, rate=None):
    """Visitors sending new names until the time or the request budget runs out.

    during(), if given, runs while they do. rate, if given, paces the visits: the nth starts
    no sooner than n / rate seconds in (so many a second, in all). Returns the outcome of
    every visit (a status code, or the name of the connection error) and the names the
    server acknowledged (greeted).
    """
    statuses = Counter()
    saved = []
    lock = threading.Lock()
    started = time.monotonic()
    stop_at = started + seconds
    budget = iter(range(max_requests))
    run = secrets.token_hex(3)  # names never seen before, even on a database in use

    def client(number):
        session = visitor(url, certificate)
        while time.monotonic() < stop_at:
            with lock:
                n = next(budget, None)
            if n is None:
                return
            if rate:
                time.sleep(max(0.0, started + n / rate - time.monotonic()))
            name = f"visitor-{run}-{number}-{n}"
            try:
                outcome = submit(session, url, name)
            except requests.RequestException as e:
                outcome = type(e).__name__  # e.g. the connection of a killed worker
            with lock:
                statuses[outcome] += 1
                if outcome == GREETED:
                    saved.append(name)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        if during:
            during()
    finally:
        for t in threads:
            t.join(timeout=seconds + 30)
    return statuses, saved


def load_report(statuses, saved, database_url):
    """What the visitors were told, against what the database holds."""
    stored = Counter(stored_usernames(database_url))
    return {
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in statuses.items()},
        "server_errors": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
        "not_acknowledged": sum(v for k, v in statuses.items() if k != GREETED),
        "rows_expected": len(saved),
        "rows_missing": sorted(set(saved) - set(stored)),
        "rows_duplicated": sorted(n for n, c in stored.items() if c > 1),
        "rows_found": sum(stored.values()),
    }


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
    parser.add_argument("--rate", type=float, help="greetings a second in all (default: no pause)")
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
                rate=args.rate,
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

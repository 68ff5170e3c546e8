"""Load and fault test: hrllo under gunicorn on a fresh database, many clients at once.

    .venv/bin/python -m scripts.load --clients 50 --seconds 10 [--kill-worker] [--database-url URL]

Starts gunicorn on 127.0.0.1 (a free port), runs the clients for a bounded time and
count, optionally kills one worker with SIGKILL half-way, then reports requests,
statuses, and rows expected vs found. Every process it starts is stopped by PID.
"""

import argparse
import json
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter

import requests

from tests.support import serve, stored_usernames, submit


def run_clients(url, clients, seconds, max_requests, name_for, on_half_time=None):
    """Run clients until the time or the request budget runs out; count outcomes."""
    statuses = Counter()
    saved = []  # names whose POST got its 302: the server said they were stored
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    budget = iter(range(max_requests))

    def client(number):
        session = requests.Session()
        while time.monotonic() < stop_at:
            with lock:
                n = next(budget, None)
            if n is None:
                return
            name = name_for(number, n)
            try:
                outcome = submit(session, url, name)
            except requests.RequestException as e:
                outcome = type(e).__name__  # e.g. the connection of a killed worker
            with lock:
                statuses[outcome] += 1
                if outcome == 302:
                    saved.append(name)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    if on_half_time:
        time.sleep(seconds / 2)
        on_half_time()
    for t in threads:
        t.join(timeout=seconds + 30)
    return statuses, saved


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


def report(statuses, saved, database_url):
    """What the clients were told, against what the database holds."""
    stored = Counter(stored_usernames(database_url))
    return {
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in statuses.items()},
        "server_errors": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
        "rows_expected": len(saved),
        "rows_missing": sorted(set(saved) - set(stored)),
        "rows_duplicated": sorted(n for n, c in stored.items() if c > 1),
        "rows_found": sum(stored.values()),
        "integrity_check": integrity_check(database_url),
    }


def load_test(database_url, clients=50, seconds=10, max_requests=5000, kill_worker=False):
    workers = 2
    killed = []
    with serve(database_url, workers=workers) as server:

        def kill_one_worker():
            pid = server.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        statuses, saved = run_clients(
            server.url,
            clients,
            seconds,
            max_requests,
            name_for=lambda client, n: f"user-{client}-{n}",
            on_half_time=kill_one_worker if kill_worker else None,
        )
        replaced = wait_for_replacement(server, killed[0], workers) if killed else None
    return {
        **report(statuses, saved, database_url),
        "killed_worker": killed[0] if killed else None,
        "worker_replaced": replaced,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--kill-worker", action="store_true")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or "sqlite:///" + os.path.join(tmp, "load.sqlite")
        result = load_test(url, args.clients, args.seconds, args.max_requests, args.kill_worker)
    print(json.dumps(result, indent=2))
    ok = not (result["server_errors"] or result["rows_missing"] or result["rows_duplicated"])
    sys.exit(0 if ok and result["integrity_check"] in ("ok", "n/a") else 1)


if __name__ == "__main__":
    main()

"""Load and fault test: hrllo under gunicorn on a fresh database, many clients at once.

    python scripts/load.py --clients 50 --seconds 10 [--kill-worker] [--database-url URL]

Starts gunicorn on 127.0.0.1 (a free port), runs the clients for a bounded time and
count, optionally kills one worker with SIGKILL half-way, then reports requests,
statuses, and rows expected vs found. Every process it starts is stopped by PID.
"""

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import hrllo  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_pids(master_pid):
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(pid) for pid in children.split()]


@contextmanager
def gunicorn(database_url, workers=2, timeout=30, app="hrllo:app", health_path="/healthz"):
    """Serve an app with hrllo's production config; hrllo gets a fresh, migrated database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "load-test",
        "FLASK_APP": "hrllo.py",
        "WEB_CONCURRENCY": str(workers),
        "PYTHONPATH": str(PROJECT),
    }
    if app == "hrllo:app":
        subprocess.run([BIN / "flask", "db", "upgrade"], cwd=PROJECT, env=env, check=True,
                       capture_output=True, timeout=timeout)  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The log goes to a file: a pipe could fill up and stall the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(
            [
                BIN / "gunicorn",
                "--config",
                PROJECT / "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                app,
            ],  # fmt: skip
            cwd=PROJECT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_until_serving(url + health_path, server, log, workers, timeout)
            yield url, server
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_until_serving(url, server, log, workers, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError("gunicorn did not start: " + log.read())
        time.sleep(0.1)
    while len(worker_pids(server.pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)


def submit(session, url, name):
    """One person: load the page, send the name with its CSRF token, follow the redirect."""
    page = session.get(url + "/", timeout=10)
    token = TOKEN.search(page.text).group(1)
    response = session.post(
        url + "/", data={"name": name, "csrf_token": token}, allow_redirects=False, timeout=10
    )
    if response.status_code == 302:
        greeting = session.get(url + "/", timeout=10)
        if f"Hello, {name}!" not in greeting.text:
            return "no greeting"
    return response.status_code


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
            except (requests.RequestException, AttributeError) as e:
                outcome = type(e).__name__  # a connection cut by a killed worker
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


def stored_usernames(database_url):
    engine = create_engine(hrllo.database_url(database_url))
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT username FROM users"))]
    finally:
        engine.dispose()


def integrity_check(database_url):
    if not database_url.startswith("sqlite:///"):
        return "n/a"
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def load_test(database_url, clients=50, seconds=10, max_requests=5000, kill_worker=False):
    killed = []
    workers = 2
    with gunicorn(database_url, workers) as (url, server):

        def kill_one_worker():
            pids = worker_pids(server.pid)
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        statuses, saved = run_clients(
            url,
            clients,
            seconds,
            max_requests,
            name_for=lambda client, n: f"user-{client}-{n}",
            on_half_time=kill_one_worker if kill_worker else None,
        )
        replaced = None
        if killed:  # the master must bring the worker count back up

            def replaced_now():
                pids = worker_pids(server.pid)
                return killed[0] not in pids and len(pids) == workers

            deadline = time.monotonic() + 15
            while not replaced_now() and time.monotonic() < deadline:
                time.sleep(0.1)
            replaced = replaced_now()
    stored = Counter(stored_usernames(database_url))
    return {
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in statuses.items()},
        "server_errors": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
        "killed_worker": killed[0] if killed else None,
        "worker_replaced": replaced,
        "rows_expected": len(saved),
        "rows_missing": sorted(set(saved) - set(stored)),
        "rows_duplicated": sorted(n for n, c in stored.items() if c > 1),
        "rows_found": sum(stored.values()),
        "integrity_check": integrity_check(database_url),
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
        report = load_test(url, args.clients, args.seconds, args.max_requests, args.kill_worker)
    print(json.dumps(report, indent=2))
    ok = not (report["server_errors"] or report["rows_missing"] or report["rows_duplicated"])
    sys.exit(0 if ok and report["integrity_check"] in ("ok", "n/a") else 1)


if __name__ == "__main__":
    main()

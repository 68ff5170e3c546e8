"""The in-process cost of one request, in µs: each app's WSGI callable called directly.

    .venv/bin/python -m bench.inprocess [--rounds 7] [--requests 300] [--profile CASE]

No server, no socket, no HTTP parsing: what is left is what the app itself spends on a
request, which moves far less between runs than req/s on a shared machine. hrllo (SQLite,
1,000 users) against the same floors as bench.run, interleaved round by round, case by case:

  GET first visit   no cookie: hrllo starts a session, makes a CSRF secret, sets a cookie
  GET returning     the visitor's session cookie already holds the CSRF secret
  POST lookup       the form with a known name (floor+db: the same indexed SELECT)
  POST insert       the form with a new name (floor+db: the same SELECT, finding nothing)

With --profile CASE, runs only hrllo's CASE under cProfile and prints where the time goes.
"""

import argparse
import cProfile
import os
import pstats
import random
import statistics
import tempfile
import time
from itertools import count
from pathlib import Path

from werkzeug.test import EnvironBuilder, run_wsgi_app

import hrllo
from bench import data, floor
from scripts.visitor import csrf_token

CASES = ("GET first visit", "GET returning", "POST lookup", "POST insert")
TARGETS = ("floor", "hrllo")  # for the POST cases the floor is floor+db
USERS = 1000


class UnexpectedStatus(RuntimeError):
    """An app answered a benchmark request with another status than a visitor gets."""


def environ(method="GET", cookie=None, form=None):
    """A WSGI environ for a request to /, as a browser sends it."""
    headers = {"Cookie": cookie} if cookie else {}
    builder = EnvironBuilder(path="/", method=method, headers=headers, data=form)
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call(app, request):
    """Send one request through app's WSGI interface; return the whole response."""
    body, status, headers = run_wsgi_app(app, request, buffered=True)
    return int(status.split()[0]), headers, b"".join(body)


class Visitor:
    """The requests of one visitor, for each case: which app gets them and what it answers."""

    def __init__(self, app, floor_app, floor_db_app, cookie, token):
        self.apps = {"hrllo": app, "floor": floor_app}
        self.floor_db_app = floor_db_app
        self.cookie = cookie
        self.token = token
        self.names = count()
        self.random = random.Random(0)

    @classmethod
    def of(cls, app, floor_app, floor_db_app):
        """A visitor who has seen hrllo's page once: its session cookie and CSRF token."""
        status, headers, body = call(app, environ())
        if status != 200:
            raise UnexpectedStatus(f"hrllo's first page answered {status}")
        cookie = headers["Set-Cookie"].split(";")[0]
        return cls(app, floor_app, floor_db_app, cookie, csrf_token(body.decode()))

    def app(self, case, target):
        if target == "floor" and case.startswith("POST"):
            return self.floor_db_app
        return self.apps[target]

    def expected_status(self, case, target):
        return 303 if target == "hrllo" and case.startswith("POST") else 200

    def request(self, case, target):
        """A fresh environ for one request of case to target (a new name for each insert)."""
        if case == "GET first visit":
            return environ()
        if case == "GET returning":
            return environ(cookie=self.cookie)
        if case == "POST lookup":
            name = f"user{self.random.randrange(USERS)}"
        else:
            name = f"new-{os.getpid()}-{next(self.names)}"
        if target == "floor":
            return environ("POST", form={"name": name})
        return environ("POST", cookie=self.cookie, form={"name": name, "csrf_token": self.token})


def time_requests(visitor, case, target, requests):
    """The mean CPU time of one request of case to target over requests calls, in µs."""
    app = visitor.app(case, target)
    expected = visitor.expected_status(case, target)
    environs = [visitor.request(case, target) for _ in range(requests)]
    start = time.process_time_ns()  # CPU time: other processes on the machine do not count
    statuses = [call(app, request)[0] for request in environs]
    elapsed = time.process_time_ns() - start
    wrong = {status for status in statuses if status != expected}
    if wrong:
        raise UnexpectedStatus(f"{case} to {target} answered {wrong}, not {expected}")
    return elapsed / requests / 1000


def prepare(folder):
    """hrllo's database with USERS users, and the floor's copy of it; returns both paths."""
    Path(folder).mkdir(exist_ok=True)
    database, floor_database = Path(folder, "inprocess.sqlite"), Path(folder, "floor.sqlite")
    data.migrate(database)
    data.bulk_load(database, USERS)
    data.copy(database, floor_database)
    return database, floor_database


def visitor_for(database, floor_database):
    """hrllo on database, the floors on floor_database, and one visitor of them."""
    os.environ["BENCH_DATABASE"] = str(floor_database)  # read by bench.floor, as in a worker
    app = hrllo.create_app({"SQLALCHEMY_DATABASE_URI": data.url(database), "SECRET_KEY": "bench"})
    return Visitor.of(app, floor.floor, floor.floor_db)


def measure(database, floor_database, rounds, requests):
    """µs per request for every (case, target), one value per round, rounds interleaved."""
    visitor = visitor_for(database, floor_database)
    for case in CASES:  # warm up: templates compiled, connections opened
        for target in TARGETS:
            time_requests(visitor, case, target, 10)
    results = {(case, target): [] for case in CASES for target in TARGETS}
    for _ in range(rounds):
        for case in CASES:
            for target in TARGETS:
                results[case, target].append(time_requests(visitor, case, target, requests))
    return results


def summarize(results):
    """For each case: the floor's and hrllo's median µs, their spread, and the median ratio."""
    rows = {}
    for case in CASES:
        floor_us, hrllo_us = results[case, "floor"], results[case, "hrllo"]
        rows[case] = {
            "floor_us": statistics.median(floor_us),
            "floor_us_range": [min(floor_us), max(floor_us)],
            "hrllo_us": statistics.median(hrllo_us),
            "hrllo_us_range": [min(hrllo_us), max(hrllo_us)],
            # per round: the two were measured one after the other, under the same load
            "ratio": statistics.median(h / f for f, h in zip(floor_us, hrllo_us, strict=True)),
        }
    return rows


def print_table(rows, rounds, requests):
    print(f"\nin-process, µs per request: medians (min-max) of {rounds} rounds x {requests}")
    print(f"{'case':<16} {'floor':>18} {'hrllo':>20} {'hrllo ÷ floor':>14}")
    for case, row in rows.items():
        floor_us = "{:.0f} ({:.0f}-{:.0f})".format(row["floor_us"], *row["floor_us_range"])
        hrllo_us = "{:.0f} ({:.0f}-{:.0f})".format(row["hrllo_us"], *row["hrllo_us_range"])
        print(f"{case:<16} {floor_us:>18} {hrllo_us:>20} {row['ratio']:>13.2f}x")
    print("(floor: the bare page for GET, floor+db for POST)")


def profile(database, floor_database, case, requests):
    """Run hrllo's case under cProfile; print the functions that cost the most."""
    visitor = visitor_for(database, floor_database)
    time_requests(visitor, case, "hrllo", 10)
    profiler = cProfile.Profile()
    profiler.runcall(time_requests, visitor, case, "hrllo", requests)
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300, help="per case, target and round")
    parser.add_argument("--profile", choices=CASES, metavar="CASE", help="one of: %(choices)s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database, floor_database = prepare(tmp)
        if args.profile:
            profile(database, floor_database, args.profile, args.requests)
        else:
            rows = summarize(measure(database, floor_database, args.rounds, args.requests))
            print_table(rows, args.rounds, args.requests)


if __name__ == "__main__":
    main()

"""The in-process cost of one request, in µs: each app's WSGI callable called directly.

    .venv/bin/python -m bench.inprocess [--rounds 7] [--requests 300] [--profile CASE]

No server, no socket, no HTTP parsing: what is left is what the app itself spends on a
request, which moves far less between runs than req/s on a shared machine. hrllo and the
book's chapter-5 app (bench/book, its own tables from db.create_all), each on SQLite with
1,000 users, and the same floors as bench.run, interleaved round by round, case by case:

  GET first visit   no cookie: the app starts a session, makes a CSRF secret, sets a cookie
  GET returning     the visitor's session cookie already holds the CSRF secret
  POST lookup       the form with a known name (floor+db: the same indexed SELECT)
  POST insert       the form with a new name (floor+db: the same SELECT, finding nothing)

With --profile CASE, runs only hrllo's CASE under cProfile and prints where the time goes
(--target book profiles the book's app).
"""

import argparse
import cProfile
import importlib
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
TARGETS = ("floor", "book", "hrllo")  # for the POST cases the floor is floor+db
USERS = 1000
# What each app answers an accepted form with (the book's redirect() is Flask's default 302).
REDIRECT = {"hrllo": 303, "book": 302}


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

    def __init__(self, apps, floor_db_app, sessions):
        self.apps = apps  # target -> WSGI app
        self.floor_db_app = floor_db_app
        self.sessions = sessions  # target -> (session cookie, CSRF token) from its own page
        self.names = count()
        self.random = random.Random(0)

    @classmethod
    def of(cls, apps, floor_db_app):
        """A visitor who has seen each app's page once: its session cookie and CSRF token."""
        sessions = {}
        for target in REDIRECT:
            status, headers, body = call(apps[target], environ())
            if status != 200:
                raise UnexpectedStatus(f"{target}'s first page answered {status}")
            sessions[target] = headers["Set-Cookie"].split(";")[0], csrf_token(body.decode())
        return cls(apps, floor_db_app, sessions)

    def app(self, case, target):
        if target == "floor" and case.startswith("POST"):
            return self.floor_db_app
        return self.apps[target]

    def expected_status(self, case, target):
        return REDIRECT.get(target, 200) if case.startswith("POST") else 200

    def request(self, case, target):
        """A fresh environ for one request of case to target (a new name for each insert)."""
        if case == "GET first visit":
            return environ()
        if case == "GET returning":
            return environ(cookie=self.sessions.get(target, (None,))[0])
        if case == "POST lookup":
            name = f"user{self.random.randrange(USERS)}"
        else:
            name = f"new-{os.getpid()}-{next(self.names)}"
        if target == "floor":
            return environ("POST", form={"name": name})
        cookie, token = self.sessions[target]
        return environ("POST", cookie=cookie, form={"name": name, "csrf_token": token})


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
    """hrllo's database, the book app's and the floor's, each with USERS users; their paths."""
    Path(folder).mkdir(exist_ok=True)
    database = Path(folder, "inprocess.sqlite")
    book_database = Path(folder, "book.sqlite")
    floor_database = Path(folder, "floor.sqlite")
    data.migrate(database)
    data.bulk_load(database, USERS)
    data.create_book_tables(book_database)
    data.bulk_load(book_database, USERS)
    data.copy(database, floor_database)
    return database, book_database, floor_database


def book_app(database):
    """The book's app on database: its module reads DATABASE_URL once, when imported."""
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = data.url(database)
    try:
        app = importlib.import_module("bench.book.hello").app
    finally:
        if previous is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = previous
    if app.config["SQLALCHEMY_DATABASE_URI"] != data.url(database):
        raise RuntimeError("bench.book.hello was already imported for another database")
    return app


def visitor_for(database, book_database, floor_database):
    """hrllo on database, the book's app on book_database, the floors on floor_database,
    and one visitor of them."""
    os.environ["BENCH_DATABASE"] = str(floor_database)  # read by bench.floor, as in a worker
    app = hrllo.create_app({"SQLALCHEMY_DATABASE_URI": data.url(database), "SECRET_KEY": "bench"})
    apps = {"hrllo": app, "book": book_app(book_database), "floor": floor.floor}
    return Visitor.of(apps, floor.floor_db)


def measure(databases, rounds, requests):
    """µs per request for every (case, target), one value per round, rounds interleaved."""
    visitor = visitor_for(*databases)
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
    """For each case: each target's median µs and spread, and the median ratios of hrllo to
    the book's app and to the floor (per round: measured one after the other, same load)."""

    def ratio(case, a, b):
        pairs = zip(results[case, a], results[case, b], strict=True)
        return statistics.median(x / y for x, y in pairs)

    rows = {}
    for case in CASES:
        row = {}
        for target in TARGETS:
            us = results[case, target]
            row[f"{target}_us"] = statistics.median(us)
            row[f"{target}_us_range"] = [min(us), max(us)]
        row["hrllo_vs_book"] = ratio(case, "hrllo", "book")
        row["hrllo_vs_floor"] = ratio(case, "hrllo", "floor")
        row["book_vs_floor"] = ratio(case, "book", "floor")
        rows[case] = row
    return rows


def print_table(rows, rounds, requests):
    print(f"\nin-process, CPU µs per request: medians (min-max) of {rounds} rounds x {requests}")
    print(f"{'case':<16} {'floor':>16} {'book':>20} {'hrllo':>20} {'hrllo ÷ book':>13} "
          f"{'hrllo ÷ floor':>14}")  # fmt: skip
    for case, row in rows.items():
        cells = [
            "{:.0f} ({:.0f}-{:.0f})".format(row[f"{target}_us"], *row[f"{target}_us_range"])
            for target in TARGETS
        ]
        print(f"{case:<16} {cells[0]:>16} {cells[1]:>20} {cells[2]:>20} "
              f"{row['hrllo_vs_book']:>12.2f}x {row['hrllo_vs_floor']:>13.2f}x")  # fmt: skip
    print("(below 1 ÷ book: hrllo spends less; floor: the bare page for GET, floor+db for POST)")


def profile(databases, case, target, requests):
    """Run target's case under cProfile; print the functions that cost the most."""
    visitor = visitor_for(*databases)
    time_requests(visitor, case, target, 10)
    profiler = cProfile.Profile()
    profiler.runcall(time_requests, visitor, case, target, requests)
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300, help="per case, target and round")
    parser.add_argument("--profile", choices=CASES, metavar="CASE", help="one of: %(choices)s")
    parser.add_argument("--target", choices=("hrllo", "book"), default="hrllo", help="profiled")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        databases = prepare(tmp)
        if args.profile:
            profile(databases, args.profile, args.target, args.requests)
        else:
            rows = summarize(measure(databases, args.rounds, args.requests))
            print_table(rows, args.rounds, args.requests)


if __name__ == "__main__":
    main()

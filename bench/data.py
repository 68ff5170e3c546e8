"""The benchmark's databases: hrllo's schema holding user0 .. userN-1, the floor's copy, and
the book app's own tables (db.create_all) holding the same users."""

import sqlite3
from contextlib import closing

from deploy.hosts import run_project_command, upgrade_database

QUERY = "SELECT users.id FROM users WHERE users.username = ?"  # what hrllo's view runs


def migrate(database):
    """Create hrllo's tables in the SQLite file database, as a deployment does."""
    upgrade_database({"DATABASE_URL": url(database)})


def create_book_tables(database):
    """Create the book app's tables in the SQLite file database, as the book does at chapter 5:
    `db.create_all()` typed into `flask shell`."""
    shell = run_project_command(
        ["flask", "--app", "bench.book.hello", "shell"],
        env={"DATABASE_URL": url(database)},
        input="db.create_all()\n",
    )
    # The shell prints a failed line's traceback and still exits 0: check the tables are there.
    with connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if shell.returncode != 0 or not {"users", "roles"} <= tables:
        raise RuntimeError("the book app's db.create_all() failed:\n" + shell.stderr)


def url(database):
    return f"sqlite:///{database}"


def bulk_load(database, count):
    """Add user0 .. user{count-1} in one transaction; return how SQLite finds a name."""
    with connect(database) as conn:
        with conn:  # one transaction
            names = ((f"user{i}",) for i in range(count))
            conn.executemany("INSERT INTO users (username) VALUES (?)", names)
        # Into the database file, as a long-running server's rows are: lookups would
        # otherwise read a million users' pages through the write-ahead log.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return conn.execute("EXPLAIN QUERY PLAN " + QUERY, ("user1",)).fetchone()[-1]


def copy(source, target):
    """A consistent copy of the SQLite file source (e.g. the same users for floor+db)."""
    with connect(source) as original, connect(target) as duplicate:
        original.backup(duplicate)


def connect(database):
    """A connection to the SQLite file database, closed at the end of a with block."""
    return closing(sqlite3.connect(database))

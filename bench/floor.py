"""The floors hrllo is measured against, served by gunicorn exactly like hrllo.

floor:     the cheapest Flask page: a tiny Jinja template from a file, compiled once per
           process and cached by Flask as every real app's templates are
floor_db:  the same plus one indexed SQLite SELECT per request (BENCH_DATABASE), on one
           connection per worker process, as a connection pool keeps it
"""

import os
import sqlite3

from flask import Flask, render_template, request

floor = Flask(__name__)


@floor.route("/", methods=["GET", "POST"])
def page():
    return render_template("floor.html", name=request.form.get("name", "Stranger"))


floor_db = Flask(__name__)
_connection = None


def connection():
    """This worker's connection, opened on its first request (after gunicorn forked it)."""
    global _connection
    if _connection is None:
        _connection = sqlite3.connect(os.environ["BENCH_DATABASE"])
    return _connection


@floor_db.route("/", methods=["GET", "POST"])
def page_db():
    name = request.form.get("name", "Stranger")
    row = connection().execute("SELECT id FROM users WHERE username = ?", (name,)).fetchone()
    return render_template("floor.html", name=name if row else "Stranger")

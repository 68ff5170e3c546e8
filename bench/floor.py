"""The floors hrllo is measured against, served by gunicorn exactly like hrllo.

floor:app     the cheapest Flask page: a tiny Jinja template
floor_db:app  the same plus one indexed SQLite SELECT per request (BENCH_DATABASE)
"""

import os
import sqlite3

from flask import Flask, render_template_string, request

TEMPLATE = "<!doctype html><title>floor</title><p>Hello, {{ name }}!</p>"

floor = Flask(__name__)


@floor.route("/", methods=["GET", "POST"])
def page():
    return render_template_string(TEMPLATE, name=request.form.get("name", "Stranger"))


floor_db = Flask(__name__)
_connection = None


def connection():
    global _connection  # one connection per worker process, as a pool would keep
    if _connection is None:
        _connection = sqlite3.connect(os.environ["BENCH_DATABASE"])
    return _connection


@floor_db.route("/", methods=["GET", "POST"])
def page_db():
    name = request.form.get("name", "Stranger")
    row = connection().execute("SELECT id FROM users WHERE username = ?", (name,)).fetchone()
    return render_template_string(TEMPLATE, name=name if row else "Stranger")

"""What the tests share: a person at the greeting page of a Flask test client, what a page's
form holds, the stored names, the `flask` command as a user types it, a fresh PostgreSQL
database (or a second one), and skipping a test whose component is missing."""

import os
import secrets
import subprocess
import sys
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from settings import database_url

PROJECT = Path(__file__).resolve().parent.parent
MIGRATIONS = str(PROJECT / "migrations")


class Form(HTMLParser):
    """The first form of a page: its action, and the attributes of each <input> by name."""

    def __init__(self, page):
        super().__init__()
        self.action, self.inputs = None, {}
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "form" and self.action is None:
            self.action = dict(attrs).get("action") or ""
        elif tag == "input":
            self.inputs.setdefault(dict(attrs).get("name"), dict(attrs))


def form_field(page, name):
    """The attributes of the page's <input name=...>."""
    field = Form(page).inputs.get(name)
    assert field is not None, f"the page has no {name!r} field"
    return field


def csrf_token(page):
    """The CSRF token the page gave us, as a browser would send it back."""
    return form_field(page, "csrf_token")["value"]


class Greeter:
    """A person at the greeting page of a Flask test client: loads it, types a name, submits."""

    def __init__(self, client):
        self.client = client

    def visit(self, address="/"):
        return self.client.get(address).get_data(as_text=True)

    def submit(self, name, follow_redirects=False, address="/"):
        """Load the page at address and send its form where a browser would: to its action,
        or back to the page's own address when it has none."""
        page = self.visit(address)
        return self.client.post(
            Form(page).action or address,
            data={"name": name, "csrf_token": csrf_token(page)},
            follow_redirects=follow_redirects,
        )


def stored_usernames(url):
    """Every username in the database, through a connection of its own (committed rows only)."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT username FROM users"))]
    finally:
        engine.dispose()


def run_command(args, cwd=PROJECT, env=None, input=None, timeout=120):
    """A command (`flask ...`, `python ...`) as a user types it in the project folder, with
    the virtualenv active.

    env adds variables; a variable given as None is unset.
    """
    full_env = {**os.environ, **(env or {})}
    full_env = {key: value for key, value in full_env.items() if value is not None}
    full_env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + full_env.get("PATH", "")
    return subprocess.run(
        args,
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def empty_postgres_database(url):
    """Drop everything in the PostgreSQL database at url, for a test that starts afresh."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@contextmanager
def another_postgres_database(url):
    """A new, empty database on the PostgreSQL server of url (its URL), dropped on exit."""
    name = "hrllo_" + secrets.token_hex(4)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")  # CREATE DATABASE needs it
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        engine.dispose()


def require(present, missing, install, variable):
    """Skip the calling test module when a component is missing, with the reason and how to
    install it; fail instead when the variable is 1 (CI sets HRLLO_REQUIRE_*=1)."""
    if present:
        return
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {missing}", pytrace=False)
    pytest.skip(f"{missing}: {install}", allow_module_level=True)

"""What the tests share: a person at the greeting page of a Flask test client, the stored
names, a fresh PostgreSQL database (or a second one), and skipping a test whose component
is missing.

The production topology they start is deployment code (`deploy`); the scripted visitor and
the load they send are tools (`scripts.visitor`, `scripts.load`).
"""

import os
import secrets
import shutil
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text

from deploy.nginx import NGINX
from scripts.load import stored_usernames
from scripts.visitor import csrf_token, form_target

__all__ = [
    "Greeter",
    "another_postgres_database",
    "empty_postgres_database",
    "require",
    "require_nginx",
    "stored_usernames",
]


class Greeter:
    """A person at the greeting page of a Flask test client: loads it, types a name, submits."""

    def __init__(self, client):
        self.client = client

    def visit(self, address="/"):
        return self.client.get(address).get_data(as_text=True)

    def submit(self, name, follow_redirects=False, address="/"):
        """Load the page at address and send its form, where a browser would send it."""
        page = self.visit(address)
        return self.client.post(
            form_target(page, address),
            data={"name": name, "csrf_token": csrf_token(page)},
            follow_redirects=follow_redirects,
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


def require_nginx():
    require(
        bool(shutil.which(NGINX)),
        f"no nginx at {NGINX}",
        "apt-get install nginx to test the production stack",
        "HRLLO_REQUIRE_NGINX",
    )

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from hrllo import create_app, db
from scripts.load import TOKEN

PROJECT = Path(__file__).resolve().parent.parent

# Where PostgreSQL is tested: a server URL, and whether its absence is a failure (CI).
POSTGRES_URL = os.environ.get("HRLLO_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("HRLLO_REQUIRE_POSTGRES") == "1"


def reset_postgres(url):
    """Give the test an empty PostgreSQL database."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database: a SQLite file, and a real PostgreSQL server when one is given."""
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "test.sqlite")
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("HRLLO_REQUIRE_POSTGRES=1 but HRLLO_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server: set HRLLO_TEST_POSTGRES_URL to test against one")
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def app(database_url):
    """The app on a fresh database built by the migrations, as `flask db upgrade` does."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": database_url,
        }
    )
    with app.app_context():
        upgrade(directory=str(PROJECT / "migrations"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(html):
    """The CSRF token the page gave us, as a browser would send it back."""
    match = TOKEN.search(html)
    assert match, "the page has no CSRF token field"
    return match.group(1)


class Greeter:
    """A person at the greeting page: loads it, types a name, presses Submit."""

    def __init__(self, client):
        self.client = client

    def visit(self):
        return self.client.get("/").get_data(as_text=True)

    def submit(self, name, follow_redirects=False):
        token = csrf_token(self.visit())
        return self.client.post(
            "/", data={"name": name, "csrf_token": token}, follow_redirects=follow_redirects
        )


@pytest.fixture
def greeter(client):
    return Greeter(client)


def run_project_command(args, cwd=PROJECT, env=None, input=None, timeout=120):
    """Run a command the way a user types it in the project folder."""
    full_env = {**os.environ, "FLASK_APP": "hrllo.py", **(env or {})}
    bindir = str(Path(sys.executable).parent)
    full_env["PATH"] = bindir + os.pathsep + full_env.get("PATH", "")
    return subprocess.run(
        args,
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

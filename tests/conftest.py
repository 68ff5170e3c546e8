import os

import pytest
from flask_migrate import upgrade

from hrllo import create_app, db
from tests.support import PROJECT, Greeter, empty_postgres_database

# Where PostgreSQL is tested: a server URL, and whether its absence is a failure (CI).
POSTGRES_URL = os.environ.get("HRLLO_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("HRLLO_REQUIRE_POSTGRES") == "1"


@pytest.fixture
def postgres_url():
    """An empty database on the PostgreSQL test server (scripts/with-postgres gives one)."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("HRLLO_REQUIRE_POSTGRES=1 but HRLLO_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server: set HRLLO_TEST_POSTGRES_URL to test against one")
    return empty_postgres_database(POSTGRES_URL)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database: a SQLite file, and a real PostgreSQL server when one is given."""
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "test.sqlite")
    return request.getfixturevalue("postgres_url")


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


@pytest.fixture
def greeter(client):
    return Greeter(client)

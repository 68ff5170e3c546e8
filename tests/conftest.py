import os

import pytest
from flask_migrate import upgrade

from deploy.hosts import PROJECT
from deploy.postgres import postgres_bin, postgres_server
from hrllo import create_app, db
from tests.support import Greeter, empty_postgres_database, require


@pytest.fixture(scope="session")
def postgres_server_url():
    """The PostgreSQL server the tests use: HRLLO_TEST_POSTGRES_URL if given, else a
    throwaway one on 127.0.0.1, started on first use and stopped after the last test."""
    if os.environ.get("HRLLO_TEST_POSTGRES_URL"):
        yield os.environ["HRLLO_TEST_POSTGRES_URL"]
        return
    require(
        postgres_bin() is not None,
        "no PostgreSQL server binaries",
        "apt-get install postgresql, or set HRLLO_TEST_POSTGRES_URL to a server of yours",
        "HRLLO_REQUIRE_POSTGRES",
    )
    with postgres_server() as server:
        yield server.url


@pytest.fixture
def postgres_url(postgres_server_url):
    """An empty database on the PostgreSQL test server."""
    return empty_postgres_database(postgres_server_url)


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

import os

import pytest
from flask_migrate import upgrade

# The one piece of deploy/ the app's tests use: the throwaway PostgreSQL server that `make stack`
# starts too, so that there is one way to start it.
from deploy.postgres import postgres_bin, postgres_server
from hrllo import create_app, db
from tests.support import MIGRATIONS, Greeter, empty_postgres_database, require


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
def postgres_client_programs(monkeypatch):
    """The test server's own pg_dump and pg_restore first on the PATH (a pg_dump older than
    the server refuses to dump it)."""
    if postgres_bin():
        monkeypatch.setenv("PATH", str(postgres_bin()), prepend=os.pathsep)


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
        upgrade(directory=MIGRATIONS)
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

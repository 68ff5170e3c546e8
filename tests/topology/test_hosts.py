"""Many hosts, one database: deploys at once, one shared key, the database restarting."""

import multiprocessing
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from deploy.hosts import BIN, PROJECT, run_project_command, serve
from hrllo import create_app, db
from scripts.load import load_report, run_clients
from scripts.visitor import csrf_token, submit
from settings import MISSING_SECRET_KEY
from tests.support import stored_usernames

MIGRATIONS = PROJECT / "migrations"
HOSTS = 8

# --- Every host runs `flask db upgrade` as it starts, all at the same time ---------------


deploy_barrier = None  # in each host process: where the hosts wait for one another


def join_deploy(barrier):
    global deploy_barrier
    deploy_barrier = barrier


def deploy(database_url, migrations):
    """One host's `flask db upgrade` (the command runs this same Flask-Migrate function),
    begun at the same instant as every other host's."""
    app = create_app({"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        deploy_barrier.wait(timeout=60)
        upgrade(directory=migrations)
        db.engine.dispose()


@pytest.fixture(scope="module")
def hosts():
    """Eight processes standing for eight hosts (started once: Python takes a second each)."""
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as hosts have
    barrier = context.Barrier(HOSTS)
    with context.Pool(HOSTS, initializer=join_deploy, initargs=(barrier,)) as pool:
        yield pool  # leaving the block terminates every worker


def deploy_on_every_host(hosts, database_url, migrations):
    # Raises the first host's error, if any host's upgrade failed.
    hosts.starmap_async(deploy, [(database_url, str(migrations))] * HOSTS).get(timeout=120)


def deploy_on_one_host(database_url, migrations=MIGRATIONS):
    app = create_app({"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade(directory=str(migrations))
        db.engine.dispose()


# A revision written after the deployed ones (never a real one: this test survives them all).
PENDING_REVISION = '''\
"""a revision the hosts have not applied yet: one table more"""
import sqlalchemy as sa
from alembic import op

revision = "deployprobe1"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("deploy_probes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("deploy_probes")
'''


def migrations_with_a_pending_revision(folder):
    shutil.copytree(MIGRATIONS, folder)
    head = ScriptDirectory(str(folder)).get_current_head()
    (folder / "versions" / "deployprobe1_pending.py").write_text(PENDING_REVISION.format(head=head))
    return folder


def schema(database_url):
    """The tables, the unique username index, and the revisions the database says it is at."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = set(inspector.get_table_names()) - {"alembic_version"}
            indexes = {ix["name"]: ix["unique"] for ix in inspector.get_indexes("users")}
            revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return tables, indexes, list(revisions)
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ["empty", "up to date", "one revision behind"])
def test_hosts_upgrading_at_once_all_start_and_the_schema_is_intact(
    hosts, database_url, tmp_path, database
):
    migrations, tables = MIGRATIONS, {"roles", "users"}
    if database != "empty":
        deploy_on_one_host(database_url)
    if database == "one revision behind":
        migrations = migrations_with_a_pending_revision(tmp_path / "migrations")
        tables = tables | {"deploy_probes"}

    deploy_on_every_host(hosts, database_url, migrations)

    head = ScriptDirectory(str(migrations)).get_current_head()
    assert schema(database_url) == (tables, {"ix_users_username": True}, [head])


# --- One key for every host, and a new one without losing a visitor ----------------------

# A server database nobody listens on: the host must refuse before it ever connects.
SERVER_WITHOUT_KEY = {"DATABASE_URL": "postgresql://hrllo@127.0.0.1:1/hrllo", "SECRET_KEY": ""}


@pytest.mark.parametrize("command", [["flask", "db", "upgrade"], ["flask", "run"]])
def test_a_host_on_a_server_database_without_a_key_refuses_in_one_line(command):
    result = run_project_command(command, env=SERVER_WITHOUT_KEY, timeout=30)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [f"Error: {MISSING_SECRET_KEY}"]


def test_gunicorn_without_a_key_on_a_server_database_stops_and_says_why():
    result = run_project_command(
        [BIN / "gunicorn", "--config", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "hrllo:app"],
        env={**SERVER_WITHOUT_KEY, "WEB_CONCURRENCY": "1"},
        timeout=30,
    )
    assert result.returncode != 0
    assert MISSING_SECRET_KEY in result.stderr.splitlines()


def test_sqlite_needs_no_key_one_is_kept_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert len(create_app().config["SECRET_KEY"]) == 64


def test_old_keys_come_from_the_environment_oldest_first(monkeypatch):
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", "oldest, older,")
    assert create_app().config["SECRET_KEY_FALLBACKS"] == ["oldest", "older"]


def open_form_under_the_old_key(app):
    """A visitor greeted by the old host, with the form open again: (cookie, token)."""
    client = app.test_client()
    token = csrf_token(client.get("/").get_data(as_text=True))
    client.post("/", data={"name": "Ada", "csrf_token": token})
    token = csrf_token(client.get("/").get_data(as_text=True))
    return client.get_cookie("session").value, token


@contextmanager
def new_host(monkeypatch, app, fallbacks):
    """A visitor's browser, now talking to a host deployed with a new key."""
    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("SECRET_KEY", "the-new-key")
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", fallbacks)
    new_app = create_app({"TESTING": True})
    yield new_app.test_client()
    with new_app.app_context():
        db.engine.dispose()


def test_after_a_new_key_the_old_one_as_fallback_keeps_open_forms_working(
    app, database_url, monkeypatch
):
    cookie, token = open_form_under_the_old_key(app)  # the old host's key is "test"
    with new_host(monkeypatch, app, fallbacks="test") as client:
        client.set_cookie("session", cookie)
        assert "Hello, Ada!" in client.get("/").get_data(as_text=True)  # the cookie still reads

        response = client.post("/", data={"name": "Grace", "csrf_token": token})
        assert response.status_code == 303
        assert "Hello, Grace!" in client.get("/").get_data(as_text=True)
    assert sorted(stored_usernames(database_url)) == ["Ada", "Grace"]


def test_without_the_fallback_a_form_from_the_old_key_is_refused(app, database_url, monkeypatch):
    cookie, token = open_form_under_the_old_key(app)
    with new_host(monkeypatch, app, fallbacks="") as client:
        client.set_cookie("session", cookie)
        response = client.post("/", data={"name": "Grace", "csrf_token": token})
    assert response.status_code == 400
    assert "nothing was saved" in response.get_data(as_text=True)
    assert stored_usernames(database_url) == ["Ada"]


# --- The database restarting ----------------------------------------------------------


def test_the_pool_is_sized_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://hrllo@127.0.0.1:1/hrllo")
    monkeypatch.setenv("SECRET_KEY", "test")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "3")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "4")
    app = create_app()
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_pre_ping": True,
        "pool_size": 3,
        "max_overflow": 4,
        "connect_args": {"prepare_threshold": None},  # PgBouncer's transaction pooling
    }
    with app.app_context():
        assert db.engine.pool.size() == 3


def many_at_once(url, path, count=12):
    """The statuses of count requests for path, four at a time (so every worker serves some)."""

    def status(_):
        return requests.get(url + path, timeout=10).status_code

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(status, range(count)))


def app_connections(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                    " AND pid <> pg_backend_pid()"
                )
            ).scalar()
    finally:
        engine.dispose()


def test_pages_work_again_after_the_database_restarts_without_restarting_the_app(postgres):
    # One worker: it certainly holds the connection the restart makes stale, and serves
    # every request after it (with two, one worker could answer everything, and either
    # hold no connection before the restart or hold a fresh one after it).
    workers = 1
    with serve(postgres.url, workers=workers) as server:
        session = requests.Session()
        assert submit(session, server.url, "before") == "greeted"
        assert many_at_once(server.url, "/healthz") == [200] * 12
        # The worker holds one connection (the README's arithmetic), soon to be stale.
        assert app_connections(postgres.url) == workers

        # A restart between two requests: the next ones must not trip on a dead connection.
        postgres.restart()
        assert many_at_once(server.url, "/healthz") == [200] * 12
        assert submit(session, server.url, "after a restart") == "greeted"

        # While it is down, load balancers are told so, and a visitor is told nothing was saved.
        postgres.stop()
        assert many_at_once(server.url, "/healthz") == [503] * 12
        assert many_at_once(server.url, "/") == [200] * 12  # the form needs no database
        assert submit(session, server.url, "while down") == 500
        postgres.start()
        assert many_at_once(server.url, "/healthz") == [200] * 12
        assert submit(session, server.url, "after a stop") == "greeted"
        assert sorted(stored_usernames(postgres.url)) == [
            "after a restart",
            "after a stop",
            "before",
        ]

        # Under load: a restart half-way fails only the requests it catches (500, nothing
        # saved); every name acknowledged is stored once, and the pool never grows.
        def restart_half_way():
            time.sleep(2)
            postgres.restart()

        statuses, saved = run_clients(
            server.url, clients=4, seconds=4, max_requests=400, during=restart_half_way
        )
        outcome = load_report(statuses, saved, postgres.url)
        assert set(statuses) <= {"greeted", 500}, outcome
        assert outcome["rows_missing"] == [] and outcome["rows_duplicated"] == [], outcome
        assert many_at_once(server.url, "/healthz") == [200] * 12
        assert app_connections(postgres.url) <= workers

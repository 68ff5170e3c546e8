"""More gunicorn workers than PostgreSQL has connections: PgBouncer in between.

Every worker keeps a connection (DATABASE_POOL_SIZE=1), so hosts x workers can pass
PostgreSQL's max_connections. Through `make stack`'s own code (deploy.stack): without
PgBouncer the workers past the limit fail their visitors; with it (transaction pooling,
deploy/pgbouncer.ini) 4 hosts x 8 workers serve on max_connections=20, PgBouncer can
restart under visitors, and `flask db upgrade`, which goes around it, still takes turns.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, text

from deploy.hosts import (
    BIN,
    PROJECT,
    free_port,
    project_env,
    run_project_command,
    serve,
    stop_process,
    worker_pids,
)
from deploy.pgbouncer import PGBOUNCER, PgBouncer, pgbouncer_installed
from deploy.postgres import postgres_bin, postgres_server
from deploy.stack import stack
from scripts.load import load_report, run_clients
from tests.support import another_postgres_database, require, stored_usernames
from tests.topology.support import make_stack, require_nginx

require_nginx()
require(
    pgbouncer_installed(),
    f"no pgbouncer at {PGBOUNCER}",
    "apt-get install pgbouncer to test the stack with PgBouncer",
    "HRLLO_REQUIRE_PGBOUNCER",
)

MAX_CONNECTIONS = 20  # the PostgreSQL server's, for every test here
HOSTS, WORKERS = 4, 8  # 32 workers, each keeping a connection
SERVER_CONNECTIONS = 10  # PgBouncer's to PostgreSQL
VISITORS = 20
NAMES_EACH = 3  # bounded: 60 names, paced under nginx's 30 forms a second for one address


@pytest.fixture(scope="module")
def small_postgres():
    """A PostgreSQL server of max_connections=20 (superusers may use all 20)."""
    require(
        postgres_bin() is not None,
        "no PostgreSQL server binaries",
        "apt-get install postgresql",
        "HRLLO_REQUIRE_POSTGRES",
    )
    with postgres_server(max_connections=MAX_CONNECTIONS) as server:
        yield server


def visitors_sending_new_names(front, seconds=20):
    """20 visitors, 3 new names each, through nginx over HTTPS: (statuses, names greeted)."""
    return run_clients(
        front.https_url,
        clients=VISITORS,
        seconds=seconds,
        max_requests=VISITORS * NAMES_EACH,
        rate=20,  # greetings a second in all: under nginx's 30 forms a second per address
        certificate=front.certificate,
    )


def health_checks(front, count=256, at_once=32):
    """The statuses of count /readyz requests through nginx, 32 at a time: enough for
    (nearly) every worker of every host to take some, each a query on its database
    connection (which worker takes a request is up to the kernel)."""

    def status(_):
        url = front.https_url + "/readyz"
        return requests.get(url, verify=str(front.certificate), timeout=30).status_code

    with ThreadPoolExecutor(at_once) as pool:
        return list(pool.map(status, range(count)))


def pgbouncer_clients(bouncer):
    """How many client connections PgBouncer holds for the database (its SHOW CLIENTS)."""
    console = make_url(bouncer.url).set(drivername="postgresql", database="pgbouncer")
    # The console speaks the simple query protocol only, outside transactions.
    with psycopg.connect(
        console.render_as_string(hide_password=False),
        autocommit=True,
        cursor_factory=psycopg.ClientCursor,
    ) as conn:
        cursor = conn.execute("SHOW CLIENTS")
        database = [column.name for column in cursor.description].index("database")
        return sum(1 for row in cursor if row[database] != "pgbouncer")


# --- Without PgBouncer: today's failure ------------------------------------------------------


def test_without_pgbouncer_workers_past_max_connections_fail_their_visitors(small_postgres):
    with another_postgres_database(small_postgres.url) as database_url:
        with stack(database_url, hosts=HOSTS, workers=WORKERS, pgbouncer=False) as front:
            checks = health_checks(front)
            statuses, saved = visitors_sending_new_names(front)
        # Once the hosts have let go of their connections, there is one to look with.
        report = load_report(statuses, saved, database_url)

    assert 503 in checks  # a load balancer is told a host is unwell
    assert report["statuses"].get("500", 0) > 0, report  # a visitor's name is refused
    assert report["rows_missing"] == [] and report["rows_duplicated"] == []


# --- With PgBouncer ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def front(small_postgres):
    """4 hosts x 8 workers through PgBouncer (10 server connections) on max_connections=20."""
    with (
        another_postgres_database(small_postgres.url) as database_url,
        stack(
            database_url,
            hosts=HOSTS,
            workers=WORKERS,
            pgbouncer=True,
            server_connections=SERVER_CONNECTIONS,
        ) as running,
    ):
        yield running


def test_with_pgbouncer_32_workers_on_20_connections_fail_no_visitor(front):
    checks = health_checks(front)
    statuses, saved = visitors_sending_new_names(front)
    report = load_report(statuses, saved, front.database_url)

    assert checks == [200] * len(checks)
    assert report["statuses"] == {"greeted": VISITORS * NAMES_EACH}, report
    assert report["rows_missing"] == [] and report["rows_duplicated"] == []
    # More workers were connected than PostgreSQL would have let in.
    assert pgbouncer_clients(front.pgbouncer) > MAX_CONNECTIONS


def test_a_pgbouncer_restart_under_visitors_fails_only_requests_in_flight(front):
    restarted = []

    def restart_half_way():
        time.sleep(1.5)
        old = front.pgbouncer.process.pid
        front.pgbouncer.restart()  # every client connection is closed
        restarted.append(front.pgbouncer.process.pid != old)

    statuses, saved = run_clients(
        front.https_url,
        clients=VISITORS,
        seconds=20,
        max_requests=VISITORS * NAMES_EACH,
        rate=20,
        during=restart_half_way,
        certificate=front.certificate,
    )
    report = load_report(statuses, saved, front.database_url)
    after, saved_after = visitors_sending_new_names(front)

    assert restarted == [True]
    # A visitor whose request was in flight is told nothing was saved (500), once at most.
    assert set(statuses) <= {"greeted", 500}, report
    assert report["not_acknowledged"] <= VISITORS, report
    assert report["rows_missing"] == [] and report["rows_duplicated"] == []
    # Every worker's pool replaced the connection the restart closed (pool_pre_ping).
    assert after == {"greeted": VISITORS * NAMES_EACH}
    assert set(saved_after) <= set(stored_usernames(front.database_url))


@contextmanager
def pgbouncer_in_front_of(database_url, server_connections):
    """PgBouncer (deploy/pgbouncer.ini) in front of database_url, in a folder of its own."""
    with tempfile.TemporaryDirectory(prefix="hrllo-pgbouncer-") as folder:
        Path(folder).chmod(0o755)  # PgBouncer runs unprivileged when the tests run as root
        bouncer = PgBouncer(folder, database_url, free_port(), server_connections, 20)
        bouncer.start()
        try:
            yield bouncer
        finally:
            bouncer.stop()


def test_workers_taking_turns_on_one_server_connection_greet_every_visitor(small_postgres):
    """Two workers, each sending the same queries more than 5 times (after which psycopg
    would prepare them, by default, on whichever server connection it was lent)."""
    with (
        another_postgres_database(small_postgres.url) as database_url,
        pgbouncer_in_front_of(database_url, server_connections=1) as bouncer,
        serve(bouncer.url, workers=2, env={"MIGRATION_DATABASE_URL": database_url}) as host,
    ):
        statuses, saved = run_clients(host.url, clients=4, seconds=20, max_requests=40)
        report = load_report(statuses, saved, database_url)

    assert report["statuses"] == {"greeted": 40}, report
    assert report["rows_missing"] == [] and report["rows_duplicated"] == []


def test_a_backup_through_pgbouncer_is_taken_from_postgresql_itself(small_postgres, tmp_path):
    """pg_dump sets session settings: with the app's DATABASE_URL through PgBouncer, flask
    backup connects to MIGRATION_DATABASE_URL, as flask db upgrade does."""
    with (
        another_postgres_database(small_postgres.url) as database_url,
        pgbouncer_in_front_of(database_url, server_connections=1) as bouncer,
    ):
        env = {"DATABASE_URL": bouncer.url, "MIGRATION_DATABASE_URL": database_url}
        env["SECRET_KEY"] = "test"
        env["PATH"] = f"{postgres_bin()}{os.pathsep}{os.environ['PATH']}"  # the server's pg_dump
        assert run_project_command(["flask", "db", "upgrade"], env=env).returncode == 0
        backup = run_project_command(["flask", "backup", str(tmp_path / "site.backup")], env=env)

    assert backup.returncode == 0, backup.stderr
    assert backup.stdout == f"Backed up the database to {tmp_path / 'site.backup'}\n"
    assert (tmp_path / "site.backup").read_bytes().startswith(b"PGDMP")


def test_make_stack_grows_from_the_environment_and_starts_a_dead_pgbouncer_again():
    env = {"STACK_HOSTS": "3", "WEB_CONCURRENCY": "1", "STACK_PG_MAX_CONNECTIONS": "10"}
    with make_stack({**env, "DATABASE_URL": None}) as (printed, errors):
        assert "pgbouncer" in printed, errors
        hosts = [int(pid) for pid in re.findall(r"gunicorn (\d+) on", printed)]
        workers = [len(worker_pids(pid)) for pid in hosts]
        https_url = re.search(r"hrllo: (https://\S+)/", printed).group(1)
        database = re.search(r"\n  database (\S+)", printed).group(1)
        certificate = re.search(r"certificate (\S+?)\.? ", printed).group(1)
        engine = create_engine(database)
        with engine.connect() as conn:
            max_connections = conn.execute(text("SHOW max_connections")).scalar()
        engine.dispose()

        os.kill(int(re.search(r"pgbouncer (\d+) on", printed).group(1)), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not (back := re.search(r"pgbouncer (\d+) is back", "".join(errors))):
            assert time.monotonic() < deadline, "not started again: " + "".join(errors)
            time.sleep(0.2)
        while (
            requests.get(https_url + "/readyz", verify=certificate, timeout=10).status_code != 200
        ):
            assert time.monotonic() < deadline, "/readyz not 200: " + "".join(errors)
            time.sleep(0.2)

    assert (workers, max_connections) == ([1, 1, 1], "10"), printed
    assert "5 connections to the database at most" in printed  # half of max_connections
    assert not Path(f"/proc/{back.group(1)}").exists()  # stopped with the rest


# --- Migrations go around PgBouncer ------------------------------------------------------------

# A revision after the deployed ones, slow enough that two runs not taking turns would overlap.
PENDING_REVISION = '''\
"""a revision the hosts have not applied yet: one table more, after 3 s"""
import sqlalchemy as sa
from alembic import op

revision = "bouncerprobe1"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SELECT pg_sleep(3)")
    op.create_table("deploy_probes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("deploy_probes")
'''


def migrations_with_a_pending_revision(folder):
    shutil.copytree(PROJECT / "migrations", folder)
    head = ScriptDirectory(str(folder)).get_current_head()
    revision = folder / "versions" / "bouncerprobe1_pending.py"
    revision.write_text(PENDING_REVISION.format(head=head))
    return folder


class Requests:
    """Short transactions through PgBouncer on a few connections, as serving hosts send,
    until stopped: PgBouncer lends its server connections round among them."""

    def __init__(self, url, connections=8):
        self.url = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.send) for _ in range(connections)]

    def send(self):
        with psycopg.connect(self.url, prepare_threshold=None) as conn:
            while not self.stop.is_set():
                with conn.transaction():
                    conn.execute("SELECT count(*) FROM pg_class")

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def test_hosts_deploying_at_once_through_pgbouncer_take_turns(small_postgres, tmp_path):
    """Four hosts configured as the stack's (DATABASE_URL through PgBouncer,
    MIGRATION_DATABASE_URL to PostgreSQL) run `flask db upgrade` at the same time, while
    the hosts already serving send their requests through PgBouncer."""
    migrations = migrations_with_a_pending_revision(tmp_path / "migrations")
    with another_postgres_database(small_postgres.url) as database_url:
        with pgbouncer_in_front_of(database_url, server_connections=4) as bouncer:
            env = project_env(
                {
                    "DATABASE_URL": bouncer.url,
                    "MIGRATION_DATABASE_URL": database_url,
                    "SECRET_KEY": "test",
                }
            )
            command = [BIN / "flask", "db", "upgrade", "--directory", str(migrations)]
            deploys = []
            try:
                with Requests(bouncer.url):
                    deploys = [
                        subprocess.Popen(
                            command, cwd=PROJECT, env=env, stderr=subprocess.PIPE, text=True
                        )
                        for _ in range(4)
                    ]
                    # Taking turns, the first applies the revision and the others find
                    # nothing to do; a lock left behind in PgBouncer's pool would keep
                    # them waiting.
                    try:
                        errors = [deploy.communicate(timeout=30)[1] for deploy in deploys]
                    except subprocess.TimeoutExpired:
                        pytest.fail("a flask db upgrade still waits for the migration lock")
            finally:
                for deploy in deploys:
                    stop_process(deploy)
        tables, version, locks = schema(database_url)

    assert [deploy.returncode for deploy in deploys] == [0] * 4, errors
    assert tables == {"roles", "users", "deploy_probes"}
    assert version == ["bouncerprobe1"]
    assert locks == 0  # the migration lock was let go of, by the session that took it


def schema(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            locks = conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
            return tables, list(version), locks.scalar()
    finally:
        engine.dispose()

"""hrllo in containers: the image (Containerfile) and compose.yaml's production topology.

Every image is built here from Debian's packages (deploy/containers/build --debian), and
the topology (nginx with TLS, two replicas, PgBouncer, PostgreSQL on a volume, the
pgbouncer-config, migrate and front jobs) is brought up with podman-compose, under a
project name of its own, on free ports of 127.0.0.1, in compose.yaml's order
(deploy.containers.compose). The module's teardown removes every container, volume and
network it made, whatever failed; the images stay, as a build cache.
"""

import os
import secrets
import shutil
import socket
import subprocess
import time

import pytest
import requests

from deploy.containers.compose import Compose, run
from deploy.hosts import PROJECT, free_port
from deploy.nginx import self_signed_certificate
from tests.support import csrf_token, require

ENGINE = ("podman", "podman-compose", "mmdebstrap")
require(
    all(shutil.which(program) for program in ENGINE),
    "no container engine (podman, podman-compose and mmdebstrap)",
    "apt-get install podman podman-compose runc containernetworking-plugins"
    " golang-github-containernetworking-plugin-dnsname mmdebstrap (docs/containers.md)",
    "HRLLO_REQUIRE_CONTAINERS",
)

IMAGE = "localhost/hrllo"
# crun, podman's first choice, refuses some sandboxes' cgroups; podman's default limits (a
# million open files) are more than such a sandbox grants. Both are what CI runs with.
RUN_ARGS = ("--runtime=runc", "--ulimit=nofile=16384:16384", "--ulimit=nproc=4096:4096")
REPLICAS = ("hrllo-1", "hrllo-2")


@pytest.fixture(scope="module")
def image():
    """hrllo's image and nginx's, PostgreSQL's and PgBouncer's, from Debian's packages
    (minutes when cold)."""
    build = subprocess.run(
        [PROJECT / "deploy" / "containers" / "build", "--debian"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


class Topology(Compose):
    """compose.yaml up under a project of its own, and what a visitor needs to reach it."""

    def __init__(self, folder):
        self.certificate, key = self_signed_certificate(folder)
        self.http_port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.password = secrets.token_hex(16)
        env = {
            **os.environ,
            "SECRET_KEY": secrets.token_hex(32),
            "POSTGRES_PASSWORD": self.password,
            "HRLLO_TLS_CERTIFICATE": str(self.certificate),
            "HRLLO_TLS_KEY": str(key),
            "HRLLO_HTTP_PORT": str(self.http_port),
            "HRLLO_HTTPS_PORT": str(self.https_port),
            "HRLLO_IMAGE": IMAGE,
            "HRLLO_NGINX_IMAGE": "localhost/hrllo-nginx:bookworm",
            "HRLLO_POSTGRES_IMAGE": "localhost/hrllo-postgres:bookworm",
            "HRLLO_PGBOUNCER_IMAGE": "localhost/hrllo-pgbouncer:bookworm",
        }
        super().__init__("hrllo-test-" + secrets.token_hex(4), RUN_ARGS, env)

    def greet(self, name):
        """A new visitor: loads the page, sends name with the page's token, follows the
        redirect; returns the page it lands on."""
        with requests.Session() as browser:
            page = browser.get(self.url + "/", verify=self.certificate, timeout=10)
            assert page.status_code == 200
            greeting = browser.post(
                self.url + "/",
                data={"name": name, "csrf_token": csrf_token(page.text)},
                headers={"Referer": self.url + "/"},
                verify=self.certificate,
                timeout=10,
            )
            assert greeting.history[0].status_code == 303
            return greeting.text

    def psql(self, sql, connection="dbname=hrllo user=hrllo"):
        """sql's rows (fields split at |), by psql in PostgreSQL's container: on its own
        socket by default, or on connection, with the database's password."""
        query = run(
            ["podman", "exec", f"--env=PGPASSWORD={self.password}", self.container("postgres")]
            + ["psql", connection, "--tuples-only", "--no-align", f"--command={sql}"]
        )
        return [line.split("|") for line in query.stdout.splitlines() if line]

    def stored_usernames(self):
        return [username for (username,) in self.psql("SELECT username FROM users")]

    def pgbouncer_client_addresses(self):
        """The addresses PgBouncer has client connections from (its console's SHOW CLIENTS),
        this query's own left out."""
        console = "host=pgbouncer port=6432 dbname=pgbouncer user=hrllo"
        clients = self.psql("SHOW CLIENTS", console)
        # type|user|database|state|addr|...: the console's own client is on database pgbouncer.
        return {client[4] for client in clients if client[2] != "pgbouncer"}

    def postgres_client_addresses(self):
        """The addresses PostgreSQL has client connections from, this query's own left out."""
        rows = self.psql(
            "SELECT DISTINCT client_addr FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return {address for (address,) in rows}

    def state(self, service):
        """(status, host PID, restart count) of the service's container."""
        inspect = run(
            ["podman", "inspect", self.container(service)]
            + ["--format", "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}"]
        )
        status, pid, restarts = inspect.stdout.split()
        return status, int(pid), int(restarts)

    def address(self, service):
        inspect = run(
            ["podman", "inspect", self.container(service)]
            + ["--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"]
        )
        return inspect.stdout.strip()

    def access_log(self):
        """nginx's access log: its container's output."""
        return run(["podman", "logs", self.container("nginx")]).stdout.splitlines()

    def leftovers(self):
        """What podman still holds of this project: containers, pods, volumes, networks."""
        listings = [
            ["ps", "--all", "--format", "{{.Names}}"],
            ["pod", "ps", "--format", "{{.Name}}"],
            ["volume", "ls", "--format", "{{.Name}}"],
            ["network", "ls", "--format", "{{.Name}}"],
        ]
        names = [run(["podman", *listing]).stdout.split() for listing in listings]
        return [name for listed in names for name in listed if name.startswith(self.project)]


@pytest.fixture(scope="module")
def topology(image, tmp_path_factory):
    topology = Topology(tmp_path_factory.mktemp("containers"))
    try:
        topology.up()
        yield topology
    finally:
        topology.down(volumes=True)


def port_is_free(port):
    with socket.socket() as listener:
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_image_runs_gunicorn_as_an_unprivileged_user_with_a_healthcheck(image):
    config = run(
        ["podman", "image", "inspect", image, "--format"]
        + ["{{.Config.User}}|{{json .Config.Cmd}}|{{json .Config.Healthcheck.Test}}"]
    )
    user, command, healthcheck = config.stdout.strip().split("|")
    assert user == "hrllo"
    assert command == '["gunicorn","hrllo:app"]'
    assert "deploy/containers/healthcheck.py" in healthcheck
    # node built the assets in another stage and stayed there
    node = run(
        ["podman", "run", "--rm", *RUN_ARGS, image, "sh", "-c", "command -v node"], check=False
    )
    assert node.returncode != 0
    uid = run(["podman", "run", "--rm", *RUN_ARGS, image, "id", "-u"])
    assert uid.stdout.strip() == "10001"


def test_the_greeting_over_https_through_nginx_and_the_replicas(topology):
    first = topology.greet("Ada")
    assert "Hello, Ada!" in first
    assert "Pleased to meet you." in first
    again = topology.greet("Ada")
    assert "Hello, Ada!" in again
    assert "Happy to see you again." in again
    assert topology.stored_usernames() == ["Ada"]
    redirect = requests.get(
        f"http://127.0.0.1:{topology.http_port}/", allow_redirects=False, timeout=10
    )
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == topology.url + "/"


def test_the_replicas_reach_postgresql_through_pgbouncer_only(topology):
    replicas = {topology.address(replica) for replica in REPLICAS}
    # nginx takes turns: a few visitors reach both replicas, whose workers then keep their
    # connection to PgBouncer open.
    deadline = time.monotonic() + 60
    while not replicas <= topology.pgbouncer_client_addresses():
        assert time.monotonic() < deadline, "PgBouncer has no client connection from a replica"
        assert "Hello, Linus!" in topology.greet("Linus")
    assert topology.pgbouncer_client_addresses() == replicas
    # PostgreSQL's only clients are PgBouncer's server connections (the migration, which
    # went to it directly, has finished).
    assert topology.postgres_client_addresses() == {topology.address("pgbouncer")}
    assert "Linus" in topology.stored_usernames()


def test_a_replica_that_dies_comes_back_and_gets_visitors_again(topology):
    status, pid, restarts = topology.state("hrllo-1")
    assert status == "running"
    address = topology.address("hrllo-1")
    # Its gunicorn master, killed from outside as a crash would end it.
    subprocess.run(["kill", "-KILL", str(pid)], check=True)
    deadline = time.monotonic() + 60
    while topology.state("hrllo-1")[2] == restarts or topology.state("hrllo-1")[0] != "running":
        assert time.monotonic() < deadline, "the replica was not started again"
        time.sleep(0.5)
    while (
        run(["podman", "healthcheck", "run", topology.container("hrllo-1")], check=False).returncode
        != 0
    ):
        assert time.monotonic() < deadline, "the replica came back but is not healthy"
        time.sleep(0.5)
    # nginx sends it visitors again (it left it out for fail_timeout, 3 s, at most): a
    # request it alone answered, not one it failed and passed on.
    answered_by_it = f"upstream={address}:8000 upstream_time="
    before = sum(answered_by_it in line for line in topology.access_log())
    while sum(answered_by_it in line for line in topology.access_log()) == before:
        assert time.monotonic() < deadline, "nginx sent no visitor to the replica again"
        assert "Hello, Grace!" in topology.greet("Grace")


def test_names_survive_down_and_up(topology):
    topology.greet("Hedy")
    topology.down()
    topology.up()
    assert "Happy to see you again." in topology.greet("Hedy")
    assert "Hedy" in topology.stored_usernames()


def test_down_leaves_no_container_volume_network_or_port(topology):
    topology.down(volumes=True)
    assert topology.leftovers() == []
    assert port_is_free(topology.http_port)
    assert port_is_free(topology.https_port)

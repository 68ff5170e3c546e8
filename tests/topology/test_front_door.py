"""The front door (docs/front-door.md): one hostile address cannot take the site down,
visitors behind one address are not refused, a host that dies is started again, and a
checkout in a private folder serves its assets. Through nginx, over HTTPS."""

import http.client
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import threading
import time
from contextlib import contextmanager, suppress

import pytest
import requests

from deploy.hosts import PROJECT
from deploy.stack import stack
from scripts.load import load_report, run_clients
from scripts.visitor import GREETED, submit, visitor
from tests.support import empty_postgres_database
from tests.topology.support import make_stack, require_nginx

require_nginx()

ATTACKER = "127.0.0.2"  # Linux routes all of 127.0.0.0/8 to loopback
ATTACK_CONNECTIONS = 2600  # more than nginx's 2 x 1,024 connections used to allow
VISIT_SECONDS = 60


@pytest.fixture(scope="module")
def front(request):
    database_url = request.getfixturevalue("postgres_server_url")
    with stack(empty_postgres_database(database_url)) as running:
        yield running


class SlowBodies:
    """HTTPS connections from one address, each announcing a 4,000-byte form (under the
    4 KiB limit) and then sending one byte of it every 5 s; each connection nginx cuts is
    opened again."""

    HEAD = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4000\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nname="
    )

    def __init__(self, port, certificate, count):
        self.port = port
        self.count = count
        self.tls = ssl.create_default_context(cafile=str(certificate))
        self.tls.set_alpn_protocols(["http/1.1"])
        self.sockets = []
        self.opened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def connect(self):
        sock = socket.create_connection(
            ("127.0.0.1", self.port), timeout=10, source_address=(ATTACKER, 0)
        )
        try:
            sock = self.tls.wrap_socket(sock, server_hostname="127.0.0.1")
            sock.sendall(self.HEAD)
        except OSError:
            sock.close()
            raise
        self.opened += 1
        return sock

    def run(self):
        while len(self.sockets) < self.count and not self.stop.is_set():
            try:
                self.sockets.append(self.connect())
            except OSError:
                time.sleep(0.01)
        while not self.stop.wait(5):
            for i, sock in enumerate(self.sockets):
                if self.stop.is_set():
                    return
                try:
                    sock.send(b"x")
                except OSError:  # nginx cut it: open it again
                    sock.close()
                    with suppress(OSError):
                        self.sockets[i] = self.connect()

    def close(self):
        self.stop.set()
        self.thread.join(timeout=60)
        for sock in self.sockets:
            sock.close()


@contextmanager
def more_open_files(count):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count)), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_one_address_holding_thousands_of_slow_forms_does_not_slow_other_visitors(front):
    port = int(front.https_url.rpartition(":")[2])
    session = visitor(front.https_url, front.certificate)
    seconds = []
    session.hooks["response"].append(lambda r, *a, **k: seconds.append(r.elapsed.total_seconds()))
    outcomes = []
    with more_open_files(ATTACK_CONNECTIONS + 1000):
        attack = SlowBodies(port, front.certificate, ATTACK_CONNECTIONS)
        attack.thread.start()
        try:
            deadline = time.monotonic() + 60
            while attack.opened < ATTACK_CONNECTIONS and time.monotonic() < deadline:
                time.sleep(0.5)
            assert attack.opened >= ATTACK_CONNECTIONS  # all of them were let in
            end = time.monotonic() + VISIT_SECONDS
            n = 0
            while time.monotonic() < end:
                n += 1
                time.sleep(0.25)  # a brisk visitor: four names a second, nobody types faster
                try:
                    outcomes.append(submit(session, front.https_url, f"Visitor {n}"))
                except requests.RequestException as error:
                    outcomes.append(type(error).__name__)
        finally:
            attack.close()

    failed = [outcome for outcome in outcomes if outcome != GREETED]
    p99 = statistics.quantiles(seconds, n=100, method="inclusive")[98]
    print(f"{len(outcomes)} visits, {len(seconds)} requests, p99 {p99:.3f} s")
    assert failed == []
    assert p99 < 2.0, f"p99 {p99:.3f} s, slowest {max(seconds):.3f} s"
    refused = [line for line in front.access_log() if line.startswith(ATTACKER + " ")]
    assert any('" 429 ' in line for line in refused)  # the attacker was held to its share
    assert "worker_connections are not enough" not in front.error_log()


def test_twenty_browsers_behind_one_address_are_never_refused(front):
    statuses, saved = run_clients(
        front.https_url,
        clients=20,
        seconds=8,
        max_requests=160,
        rate=20,
        certificate=front.certificate,
    )
    assert statuses == {GREETED: 160}
    assert load_report(statuses, saved, front.database_url)["rows_missing"] == []


def test_an_address_sending_forms_as_fast_as_it_can_is_slowed_down(front):
    port = int(front.https_url.rpartition(":")[2])
    tls = ssl.create_default_context(cafile=str(front.certificate))
    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, context=tls, timeout=10, source_address=("127.0.0.4", 0)
    )
    statuses = []
    try:
        for _ in range(150):
            connection.request("POST", "/", body="name=Flood", headers={"Referer": "x"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()
    assert statuses[:60] == [400] * 60  # the burst reaches the app (no token: 400)
    assert 429 in statuses[60:]  # then nginx holds the address to 30 forms a second


# --- make stack itself ---------------------------------------------------------------------


def test_a_host_that_dies_is_started_again_and_visitors_do_not_notice(postgres_url):
    # DATABASE_URL of a server database, and no SECRET_KEY: the stack makes one for its hosts.
    env = {"DATABASE_URL": postgres_url, "SECRET_KEY": None}
    with make_stack(env) as (printed, errors):
        https_url = re.search(r"hrllo: (https://\S+)/", printed).group(1)
        certificate = re.search(r"certificate (\S+?)\.? ", printed).group(1)
        first_host = int(re.search(r"gunicorn (\d+) on", printed).group(1))
        back_after = []

        def kill_one_host():
            time.sleep(2)
            os.kill(first_host, signal.SIGKILL)
            killed_at = time.monotonic()
            while not any(" is back" in line for line in errors):
                if time.monotonic() - killed_at > 30:
                    return
                time.sleep(0.1)
            back_after.append(time.monotonic() - killed_at)

        statuses, saved = run_clients(
            https_url,
            clients=4,
            seconds=12,
            max_requests=240,
            rate=20,
            during=kill_one_host,
            certificate=certificate,
        )

    report = load_report(statuses, saved, postgres_url)
    print(
        "failed while the host died:",
        report["not_acknowledged"],
        statuses,
        "back after",
        back_after,
    )
    assert report["not_acknowledged"] <= 5  # at most what was in flight on it
    assert report["rows_missing"] == [] and report["rows_duplicated"] == []
    assert back_after and back_after[0] < 10, errors
    assert any("stopped (-9); starting it again" in line for line in errors)


def test_a_checkout_in_a_private_folder_serves_every_asset(tmp_path):
    """nginx's workers run as nobody when the master is root, and may not enter a private
    home folder: the stack publishes the assets where they can read them."""
    home = tmp_path / "home"
    checkout = home / "hrllo"
    shutil.copytree(
        PROJECT,
        checkout,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "instance", "*.sqlite*"),
    )
    for shared in (".venv", "node_modules"):
        (checkout / shared).symlink_to(PROJECT / shared)
    home.chmod(0o700)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/data.sqlite"}
    with make_stack(env, cwd=checkout) as (printed, errors):
        https_url = re.search(r"hrllo: (https://\S+)/", printed).group(1)
        certificate = re.search(r"certificate (\S+?)\.? ", printed).group(1)
        page = requests.get(https_url + "/", verify=certificate, timeout=10).text
        assets = re.findall(r'<(?:link|script)[^>]*(?:href|src)="(/[^"]+)"', page)
        statuses = {
            asset: requests.get(https_url + asset, verify=certificate, timeout=10).status_code
            for asset in assets
        }
    assert len(assets) == 6
    assert statuses == dict.fromkeys(assets, 200)

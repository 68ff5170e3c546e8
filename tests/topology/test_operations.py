"""What on-call sees of the production topology: each request's id from nginx to the host's
log, JSON log lines, metrics that add up over workers and hosts, and a bad minute (a host
dies, the database restarts) read back from the logs and the metrics afterwards.
"""

import json
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from deploy.hosts import serve
from deploy.stack import stack
from scripts.load import run_clients, wait_for_replacement
from scripts.visitor import csrf_token, visitor
from tests.topology.support import make_stack, require_nginx

NEW_ID = re.compile(r"[0-9a-f]{32}")
FAIL_TIMEOUT = 3  # deploy/nginx.conf: a host that refused a connection is skipped this long
# deploy/nginx.conf's log_format hrllo
NGINX_LINE = re.compile(
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) .* upstream=(?P<upstream>.*?) '
    r"upstream_time=.* request_id=(?P<request_id>\S+)$"
)


def metric(host, name, **labels):
    """The sum of a host's samples of name that have these labels (and any others)."""
    page = requests.get(host.url + "/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def nginx_lines(front, since=0):
    return [NGINX_LINE.search(line).groupdict() for line in front.access_log()[since:]]


def json_lines(host):
    """Every line of the host's log, each of which must be a JSON object."""
    return [json.loads(line) for line in host.log_text().splitlines()]


def written(host, text, timeout=5):
    """Whether the host's log has text, waiting for it: gunicorn writes a request's access
    line once the response has gone out."""
    deadline = time.monotonic() + timeout
    while text not in host.log_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def logged(host, request_id, timeout=5):
    """The host's JSON lines about request_id, waiting for its access line: gunicorn writes
    it once the response has gone out."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in json_lines(host) if line.get("request_id") == request_id]
        if any(line["logger"] == "gunicorn.access" for line in lines):
            return lines
        if time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


# --- One host, reached without nginx -----------------------------------------------------


def test_a_host_reached_directly_logs_json_lines_with_ids_of_its_own(tmp_path):
    database = tmp_path / "data.sqlite"
    with serve(f"sqlite:///{database}", env={"HRLLO_LOG_FORMAT": "json"}) as host:
        made = requests.get(host.url + "/", timeout=10).headers["X-Request-ID"]
        kept = requests.get(host.url + "/", headers={"X-Request-ID": "from-a-proxy-1"}, timeout=10)
        forged = requests.get(
            host.url + "/", headers={"X-Request-ID": 'x" status=200 admin=1'}, timeout=10
        ).headers["X-Request-ID"]
        assert NEW_ID.fullmatch(made) and NEW_ID.fullmatch(forged)
        assert kept.headers["X-Request-ID"] == "from-a-proxy-1"

        # The database loses its table: the form fails, and the log says so, with the id.
        with sqlite3.connect(database) as conn:
            conn.execute("DROP TABLE users")
        session = requests.Session()
        page = session.get(host.url + "/", timeout=10).text
        failed = session.post(
            host.url + "/", data={"name": "Ada", "csrf_token": csrf_token(page)}, timeout=10
        )
        assert failed.status_code == 500
        failed_id = failed.headers["X-Request-ID"]
        assert failed_id in failed.text  # the 500 page shows it, to quote

        (access,) = logged(host, made)
        assert access["level"] == "INFO" and access["time"].endswith("+00:00")
        assert (access["method"], access["path"], access["status"]) == ("GET", "/", 200)
        assert access["duration_ms"] > 0
        assert logged(host, forged) and not logged(host, 'x" status=200 admin=1', timeout=0)
        lines = logged(host, failed_id)
        (access,) = [line for line in lines if line["logger"] == "gunicorn.access"]
        (error,) = [line for line in lines if line["logger"] == "hrllo"]
        assert (access["method"], access["path"], access["status"]) == ("POST", "/", 500)
        assert (error["level"], error["method"], error["path"]) == ("ERROR", "POST", "/")
        assert "users" in error["exc_info"]
        # gunicorn's own lines are JSON too (json_lines fails on any line that is not)
        assert any(line["logger"] == "gunicorn.error" for line in json_lines(host))


def test_a_host_started_again_counts_from_zero(tmp_path):
    with serve(f"sqlite:///{tmp_path}/data.sqlite") as host:
        for _ in range(3):
            requests.get(host.url + "/", timeout=10)
        assert metric(host, "hrllo_requests_total", endpoint="main.index") == 3
        host.restart()  # the files of the last run are emptied, not added to
        assert metric(host, "hrllo_requests_total", endpoint="main.index") == 0


# --- The stack: nginx in front of two hosts ----------------------------------------------


@pytest.fixture(scope="module")
def front(postgres_server_url):
    require_nginx()
    with stack(postgres_server_url) as running:
        yield running


def browser(front):
    return visitor(front.https_url, front.certificate)


def test_nginx_makes_each_requests_id_and_the_host_logs_it(front):
    since = len(front.access_log())
    visitor = browser(front)
    # Whatever id a client sends, nginx makes its own, and the visitor is told it.
    page = visitor.get(front.https_url + "/", headers={"X-Request-ID": "chosen-by-me"})
    request_id = page.headers["X-Request-ID"]
    assert NEW_ID.fullmatch(request_id)

    (line,) = [NGINX_LINE.search(line).groupdict() for line in front.logged(since, request_id)]
    assert (line["request"], line["status"]) == ("GET / HTTP/1.1", "200")
    (answered,) = [host for host in front.hosts if host.address == line["upstream"]]
    assert written(answered, f"request_id={request_id}")


def test_metrics_are_served_on_each_hosts_own_port_never_through_nginx(front):
    visitor = browser(front)
    assert visitor.get(front.https_url + "/metrics").status_code == 404
    for host in front.hosts:
        page = requests.get(host.url + "/metrics", timeout=10)
        assert page.headers["Content-Type"].startswith("text/plain")
        assert "hrllo_requests_total" in page.text


def test_counts_add_up_over_workers_and_hosts_and_outlive_a_killed_worker(front):
    def pages_counted():
        return sum(
            metric(host, "hrllo_requests_total", endpoint="main.index", method="GET")
            for host in front.hosts
        )

    def visit(times):
        with browser(front) as visitor:
            for _ in range(times):
                assert visitor.get(front.https_url + "/", timeout=10).ok

    before = pages_counted()
    visit(40)
    host = front.hosts[0]
    killed = host.worker_pids()[0]
    os.kill(killed, signal.SIGKILL)  # between two requests: nothing in flight is lost
    assert wait_for_replacement(host, killed, host.workers)
    visit(40)
    assert pages_counted() == before + 80
    assert Path(host.metrics_dir, f"counter_{killed}.db").exists()  # its counts are kept


def test_make_stack_prints_the_logs_to_follow_and_metrics_to_scrape(tmp_path):
    require_nginx()
    with make_stack({"DATABASE_URL": f"sqlite:///{tmp_path}/data.sqlite"}) as (printed, _):
        logs = [Path(path) for path in re.search(r"tail -F (.*)", printed).group(1).split()]
        metrics = re.search(r"metrics: (.*)", printed).group(1).split()
        site = re.search(r"hrllo: (https://\S+)/", printed).group(1)
        certificate = re.search(r"certificate (\S+)", printed).group(1)
        page = visitor(site, certificate).get(site + "/", timeout=10).headers["X-Request-ID"]
        # nginx's access log, and the log of the host that answered, name the request
        deadline = time.monotonic() + 5
        while sum(page in log.read_text() for log in logs) < 2:
            assert time.monotonic() < deadline, [log.read_text() for log in logs]
            time.sleep(0.05)
        assert [log.name for log in logs[:2]] == ["access.log", "error.log"]
        assert len(logs) == 4 and len(metrics) == 2
        assert all(requests.get(url, timeout=10).ok for url in metrics)


# --- What on-call sees after a bad minute ------------------------------------------------


def test_a_dead_host_and_a_database_restart_can_be_read_back(postgres, monkeypatch):
    require_nginx()
    monkeypatch.setenv("HRLLO_LOG_FORMAT", "json")
    with stack(postgres.url) as front:
        dying = front.hosts[0]

        def a_bad_minute():
            time.sleep(1.5)
            # The host hangs, then dies: what nginx sent it meanwhile is in flight when it
            # does (SIGSTOP makes sure there is some), and its forms get 502.
            workers = dying.worker_pids()
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(1)
            dying.kill(signal.SIGKILL)
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            time.sleep(FAIL_TIMEOUT + 1)
            dying.start()  # as make stack's supervisor does
            time.sleep(2)
            postgres.stop()  # a restart that takes a second and a half
            time.sleep(1.5)
            postgres.start()
            time.sleep(2)

        statuses, _ = run_clients(
            front.https_url,
            clients=16,  # enough that some forms are certainly in flight on the dying host
            seconds=25,
            max_requests=500,
            rate=20,  # greetings a second in all: under nginx's 30 forms a second per address
            during=a_bad_minute,
            certificate=front.certificate,
        )
        print("what the visitors saw:", dict(statuses))
        failed = [line for line in nginx_lines(front) if line["status"] >= "500"]

        # The 502s: forms in flight on the host that died; nginx's log names it.
        bad_gateway = [line for line in failed if line["status"] == "502"]
        assert statuses[502] == len(bad_gateway) >= 1, statuses
        assert {line["upstream"].split(", ")[-1] for line in bad_gateway} == {dying.address}
        assert dying.address in front.error_log()  # and its error log says what happened

        # The 500s: forms that met the database while it was down; the metrics count them.
        server_errors = [line for line in failed if line["status"] == "500"]
        assert statuses[500] == len(server_errors) >= 1, statuses
        assert sum(metric(host, "hrllo_database_errors_total") for host in front.hosts) == (
            len(server_errors)
        )

        # Each of them, by its id, in the log of the host that answered it.
        hosts = {host.address: host for host in front.hosts}
        for failure in server_errors:
            lines = logged(hosts[failure["upstream"]], failure["request_id"])
            (access,) = [line for line in lines if line["logger"] == "gunicorn.access"]
            assert (access["status"], access["method"]) == (500, "POST")
            assert any(
                line["logger"] == "hrllo" and "OperationalError" in line.get("exc_info", "")
                for line in lines
            )

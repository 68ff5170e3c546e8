"""Two hosts behind nginx on one PostgreSQL: restarts and crashes lose no acknowledged name.

Each test starts its own stack (deploy.stack, as `make stack` does) and sends
visitors through nginx over HTTPS while it restarts or kills a gunicorn host.
"""

import os
import re
import signal
import time

import pytest

from deploy.stack import stack
from scripts.load import load_report, run_clients
from tests.topology.support import require_nginx

require_nginx()

FAIL_TIMEOUT = 3  # deploy/nginx.conf: a host that refused a connection is skipped this long


@pytest.fixture
def front(postgres_url):
    with stack(postgres_url) as running:
        yield running


def answered_by(host, lines):
    """The access-log lines of requests that host answered (the last upstream nginx tried)."""
    upstreams = (re.search(r"upstream=(\S.*?) upstream_time=", line) for line in lines)
    return [u.group(1) for u in upstreams if u and u.group(1).split(", ")[-1] == host.address]


def test_a_rolling_restart_fails_no_request(front):
    def reload_one_host_after_the_other():
        time.sleep(1)
        for host in front.hosts:
            host.reload()  # SIGHUP: new workers, and the old ones finish what they began

    statuses, saved = run_clients(
        front.https_url,
        clients=8,
        seconds=8,
        max_requests=4000,
        rate=20,  # greetings a second in all: under nginx's 30 forms a second per address
        during=reload_one_host_after_the_other,
        certificate=front.certificate,
    )
    report = load_report(statuses, saved, front.database_url)
    assert report["statuses"] == {"greeted": report["requests"]}  # no 5xx, no connection error
    assert report["rows_missing"] == []
    assert report["rows_duplicated"] == []


def test_a_killed_host_loses_no_acknowledged_name_and_gets_visitors_back(front):
    host = front.hosts[0]
    log_at = {}

    def kill_the_host_then_bring_it_back():
        time.sleep(1.5)
        workers = host.worker_pids()
        host.kill(signal.SIGKILL)  # the master dies mid-traffic
        for pid in workers:  # then its workers, as the process manager's clean-up does
            os.kill(pid, signal.SIGKILL)
        time.sleep(2)
        log_at["noticed"] = len(front.access_log())
        time.sleep(FAIL_TIMEOUT + 1)
        log_at["back"] = len(front.access_log())
        host.start()
        time.sleep(FAIL_TIMEOUT + 2)

    clients = 8
    statuses, saved = run_clients(
        front.https_url,
        clients=clients,
        seconds=14,
        max_requests=6000,
        rate=20,  # greetings a second in all: under nginx's 30 forms a second per address
        during=kill_the_host_then_bring_it_back,
        certificate=front.certificate,
    )
    report = load_report(statuses, saved, front.database_url)
    print("requests that failed while the host died:", report["not_acknowledged"], statuses)
    assert report["rows_missing"] == []  # every name the visitor was told was saved, was
    assert report["rows_duplicated"] == []
    log = front.access_log()
    assert answered_by(host, log[log_at["noticed"] : log_at["back"]]) == []
    assert answered_by(host, log[log_at["back"] :]) != []  # traffic returned to it
    # Only what was in flight on it may fail: at most one visit per visitor.
    assert report["not_acknowledged"] <= clients

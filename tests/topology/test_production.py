"""hrllo under gunicorn, with many users at once and a worker killed: nothing lost."""

import json
import threading

import requests

from deploy.hosts import run_project_command, serve
from scripts.visitor import submit
from tests.support import stored_usernames


def test_many_clients_and_a_killed_worker_lose_nothing(database_url):
    result = run_project_command(
        [
            "python",
            "-m",
            "scripts.load",
            "--clients",
            "50",
            "--seconds",
            "4",
            "--max-requests",
            "800",
            "--kill-worker",
            "--database-url",
            database_url,
        ],
    )
    assert result.stdout, result.stderr  # the tool prints its report, or why it could not
    report = json.loads(result.stdout)
    assert report["server_errors"] == 0, report["statuses"]
    assert report["statuses"].get("greeted", 0) > 0
    assert report["worker_replaced"] is True
    assert report["rows_missing"] == []
    assert report["rows_duplicated"] == []
    assert report["integrity_check"] in ("ok", "n/a")
    assert result.returncode == 0, result.stderr


def test_same_new_name_at_the_same_instant_is_stored_once(database_url):
    clients = 16
    start = threading.Barrier(clients)
    outcomes = []

    with serve(database_url) as server:

        def person():
            session = requests.Session()
            session.get(server.url + "/", timeout=10)  # get a session cookie first
            start.wait(timeout=30)
            outcomes.append(submit(session, server.url, "Simultaneous"))

        threads = [threading.Thread(target=person) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

    assert outcomes == ["greeted"] * clients
    assert stored_usernames(database_url) == ["Simultaneous"]

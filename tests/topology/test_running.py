"""The README's ways to start hrllo: `make run`, `make serve`, and gunicorn's settings."""

import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager

import pytest
import requests

from deploy.hosts import PROJECT, free_port, project_env, run_project_command
from tests.support import stored_usernames


def checkout_copy(folder):
    """A copy of this checkout in folder, sharing its installed .venv and node_modules, so
    that a command run there (`make run`) changes nothing here. Copies keep their times, so
    make finds what is installed and built up to date, as in the checkout itself."""
    shutil.copytree(
        PROJECT,
        folder,
        ignore=shutil.ignore_patterns(".git", ".venv*", "node_modules", "instance", "data.sqlite*"),
    )
    for installed in (".venv", "node_modules"):
        os.symlink(PROJECT / installed, folder / installed)
    return folder


@contextmanager
def running(command, env, url, cwd, timeout=60):
    """Start a README command in its own process group; stop the whole group on exit."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=project_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.RequestException:  # not listening yet, or still booting
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{command} did not start serving {url}") from None
                time.sleep(0.2)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize(
    ("command", "listen"),
    [
        (["make", "run", "PORT={port}"], {}),
        (["make", "serve"], {"HRLLO_BIND": "127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}),
    ],
    ids=["make run", "make serve"],
)
def test_make_target_migrates_the_database_and_serves_the_page(tmp_path, command, listen):
    port = free_port()
    database = f"sqlite:///{tmp_path}/data.sqlite"
    env = {"DATABASE_URL": database, **{k: v.format(port=port) for k, v in listen.items()}}
    url = f"http://127.0.0.1:{port}/"
    copy = checkout_copy(tmp_path / "checkout")
    with running([arg.format(port=port) for arg in command], env, url, cwd=copy):
        assert "Hello, Stranger!" in requests.get(url, timeout=10).text
        assert stored_usernames(database) == []  # the users table exists: migrated


def gunicorn_settings(env):
    result = run_project_command(["gunicorn", "--print-config", "hrllo:app"], env=env)
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.M))


def test_gunicorn_reads_its_settings_from_the_environment():
    settings = gunicorn_settings(
        {"HRLLO_BIND": "127.0.0.1:9999", "WEB_CONCURRENCY": "3", "HRLLO_ACCESS_LOG": "-"}
    )
    assert settings["bind"] == "['127.0.0.1:9999']"
    assert settings["workers"] == "3"
    assert settings["accesslog"] == "-"
    assert settings["control_socket_disable"] == "True"


def test_gunicorn_defaults_are_loopback_and_two_workers_per_core_plus_one():
    settings = gunicorn_settings(
        {"HRLLO_BIND": None, "WEB_CONCURRENCY": None, "HRLLO_ACCESS_LOG": None}
    )
    assert settings["bind"] == "['127.0.0.1:8000']"
    assert settings["workers"] == str(2 * os.cpu_count() + 1)
    assert settings["accesslog"] == "-"  # the access log on stdout


def test_local_state_is_never_committed():
    paths = ["instance/secret_key", "data.sqlite", "data.sqlite-wal", ".env"]
    result = subprocess.run(
        ["git", "check-ignore", *paths], cwd=PROJECT, capture_output=True, text=True
    )
    assert result.stdout.split() == paths

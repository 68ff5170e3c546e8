"""What the tests, the load tool, the benchmark and the screenshot script share.

Serving an app under gunicorn on a free port, reading a page's CSRF token, sending the
form as a visitor does, listing stored names, running a project command. Import it as
`tests.support` (tools run as `python -m scripts.load` from the project folder).
"""

import html
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

import hrllo

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's flask, gunicorn, ...

# Debian's Chromium, driven by Playwright (which never downloads a browser here).
CHROMIUM = os.environ.get("HRLLO_CHROMIUM", "/usr/bin/chromium")
# No network here but loopback: stop Chromium from calling home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

INPUT_TAG = re.compile(r"<input\b[^>]*>")
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def form_field(page, name):
    """The attributes of the page's <input name=...>, in whatever order the page has them."""
    for tag in INPUT_TAG.findall(page):
        attributes = {key: html.unescape(value) for key, value in ATTRIBUTE.findall(tag)}
        if attributes.get("name") == name:
            return attributes
    raise AssertionError(f"the page has no {name!r} field")


def csrf_token(page):
    """The CSRF token the page gave us, as a browser would send it back."""
    return form_field(page, "csrf_token")["value"]


class Greeter:
    """A person at the greeting page of a Flask test client: loads it, types a name, submits."""

    def __init__(self, client):
        self.client = client

    def visit(self):
        return self.client.get("/").get_data(as_text=True)

    def submit(self, name, follow_redirects=False):
        token = csrf_token(self.visit())
        return self.client.post(
            "/", data={"name": name, "csrf_token": token}, follow_redirects=follow_redirects
        )


def submit(session, url, name):
    """One visitor: load the page, send the name with its token; return the POST's status.

    A page that fails to load gives its own status. After the redirect, the page must
    greet the visitor by the name they sent, whatever the greeting's wording.
    """
    page = session.get(url + "/", timeout=10)
    if page.status_code != 200:
        return page.status_code
    response = session.post(
        url + "/",
        data={"name": name, "csrf_token": csrf_token(page.text)},
        allow_redirects=False,
        timeout=10,
    )
    if response.status_code == 302:
        greeting = session.get(url + "/", timeout=10)
        if html.escape(name) not in greeting.text:
            return "no greeting"
    return response.status_code


def stored_usernames(database_url):
    """Every username in the database, through a connection of its own (committed rows only)."""
    engine = create_engine(hrllo.database_url(database_url))
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT username FROM users"))]
    finally:
        engine.dispose()


def project_env(env=None):
    """The environment a user has in the project folder with the virtualenv active."""
    full_env = {**os.environ, "FLASK_APP": "hrllo.py", **(env or {})}
    full_env["PATH"] = str(BIN) + os.pathsep + full_env.get("PATH", "")
    return full_env


def run_project_command(args, cwd=PROJECT, env=None, input=None, timeout=120):
    """Run a command the way a user types it in the project folder."""
    return subprocess.run(
        args,
        cwd=cwd,
        env=project_env(env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_pids(master_pid):
    """The PIDs of a gunicorn master's workers (its child processes)."""
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(pid) for pid in children.split()]


def stop_process(process, timeout=15):
    """SIGTERM, then SIGKILL if it has not stopped in time; always reaped."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Server:
    """A gunicorn master serving on 127.0.0.1, as started by `serve`."""

    def __init__(self, url, process, log):
        self.url = url
        self.process = process
        self.log = log

    def worker_pids(self):
        return worker_pids(self.process.pid)

    def log_text(self):
        self.log.seek(0)
        return self.log.read()


@contextmanager
def serve(
    database_url,
    app="hrllo:app",
    workers=2,
    migrate=True,
    env=None,
    health_path="/healthz",
    timeout=30,
):
    """Serve app under gunicorn with hrllo's gunicorn.conf.py on a free port of 127.0.0.1.

    With migrate=True, `flask db upgrade` runs first, as a deployment does. Yields a
    Server once the app answers health_path and all its workers are up; stops it on exit.
    """
    env = project_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "WEB_CONCURRENCY": str(workers),
            **(env or {}),
        }
    )
    if migrate:
        subprocess.run(
            [BIN / "flask", "db", "upgrade"],
            cwd=PROJECT,
            env=env,
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    url = f"http://127.0.0.1:{free_port()}"
    # The log goes to a file: a pipe could fill up and stall the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [
                BIN / "gunicorn",
                "--config",
                PROJECT / "gunicorn.conf.py",
                "--bind",
                url.removeprefix("http://"),
                app,
            ],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        server = Server(url, process, log)
        try:
            wait_until_serving(server, health_path, workers, timeout)
            yield server
        finally:
            stop_process(process)


def wait_until_serving(server, health_path, workers, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(server.url + health_path, timeout=1).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or its workers are still starting on a busy machine
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start: " + server.log_text())
        time.sleep(0.1)
    while len(server.worker_pids()) < workers and time.monotonic() < deadline:
        time.sleep(0.1)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

"""gunicorn hosts serving hrllo on 127.0.0.1, the way a deployment starts them.

`flask db upgrade` first, then gunicorn with the project's gunicorn.conf.py; the helpers
run project commands as a user does with the virtualenv active.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's flask, gunicorn, ...


def project_env(env=None):
    """The environment a user has with the virtualenv active.

    env adds variables; a variable given as None is unset.
    """
    full_env = {**os.environ, **(env or {})}  # `flask` finds the app through .flaskenv
    full_env = {key: value for key, value in full_env.items() if value is not None}
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
    stop_processes([process], timeout)


def stop_processes(processes, timeout=15):
    """stop_process for several at once: each gets SIGTERM, then they finish side by side."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class AppHost:
    """A gunicorn master serving app on a fixed port of 127.0.0.1, with hrllo's
    gunicorn.conf.py: started, stopped, reloaded, killed, restarted.

    The port stays the same across restarts, so a proxy in front still points at it.
    The log (gunicorn's error and access logs, and the app's lines) goes to a file (a pipe
    could fill up and stall the server), appended to. Its metrics files go in a folder of its
    own beside it (PROMETHEUS_MULTIPROC_DIR), which gunicorn empties at each start.
    """

    def __init__(
        self,
        port,
        env,
        log_path,
        workers,
        app="hrllo:app",
        health_path="/readyz",
        gunicorn_args=(),
    ):
        self.address = f"127.0.0.1:{port}"
        self.url = "http://" + self.address
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.app = app
        self.health_path = health_path
        self.gunicorn_args = list(gunicorn_args)
        self.metrics_dir = Path(log_path).with_suffix(".metrics")
        self.process = None

    def start(self, timeout=30):
        """Returns once the app answers health_path and all its workers are up."""
        self.launch()
        self.wait_until_serving(timeout)

    def launch(self):
        """Starts gunicorn and returns at once: several hosts boot side by side, then
        wait_until_serving."""
        self.metrics_dir.mkdir(exist_ok=True)
        with open(self.log_path, "a") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [BIN / "gunicorn", "--config", PROJECT / "gunicorn.conf.py"]
                + ["--bind", self.address, *self.gunicorn_args, self.app],
                cwd=PROJECT,
                env={**self.env, "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir)},
                stdout=log,  # the access log
                stderr=log,
            )

    def wait_until_serving(self, timeout=30):
        """Returns once the app answers health_path and all its workers are up; stops it
        if it does not."""
        try:
            wait_until_serving(self, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        """Graceful: SIGTERM lets the workers finish their requests first."""
        if self.process:
            stop_process(self.process)
            self.process = None

    def kill(self, sig=signal.SIGKILL):
        """The master gets sig (its workers are left to notice); reaped."""
        self.process.send_signal(sig)
        self.process.wait(timeout=30)
        self.process = None

    def reload(self, timeout=30):
        """gunicorn's graceful reload (SIGHUP): new workers start on the same listening
        socket, the old ones finish the requests they began; returns once all are new."""
        old = set(self.worker_pids())
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while True:
            pids = set(self.worker_pids())
            if len(pids) == self.workers and not pids & old:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not replace its workers: " + self.log_text())
            time.sleep(0.1)

    def restart(self, timeout=30):
        self.stop()
        self.start(timeout)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def worker_pids(self):
        return worker_pids(self.process.pid) if self.process else []

    def log_text(self):
        return Path(self.log_path).read_text()


def upgrade_database(env, timeout=60):
    """`flask db upgrade` in the project folder, as every deployment runs it before starting."""
    result = run_project_command(["flask", "db", "upgrade"], env=env, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError("flask db upgrade failed:\n" + result.stderr)


@contextmanager
def serve(
    database_url,
    app="hrllo:app",
    workers=2,
    migrate=True,
    env=None,
    health_path="/readyz",
    timeout=30,
):
    """Serve app under gunicorn with hrllo's gunicorn.conf.py on a free port of 127.0.0.1.

    With migrate=True, `flask db upgrade` runs first, as a deployment does. Yields a
    started AppHost once the app answers health_path and all its workers are up; stops it
    on exit.
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
        upgrade_database(env, timeout)
    with tempfile.TemporaryDirectory(prefix="hrllo-serve-") as folder:
        host = AppHost(free_port(), env, Path(folder, "gunicorn.log"), workers, app, health_path)
        host.start(timeout)
        try:
            yield host
        finally:
            host.stop()


def wait_until_serving(host, timeout):
    # Imported here: the app's image runs deploy.nginx (compose's front job) without the
    # test tools, requests among them.
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(host.url + host.health_path, timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass  # not listening yet, or listening while its first worker still boots
        if host.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start: " + host.log_text())
        time.sleep(0.1)
    while len(host.worker_pids()) < host.workers and time.monotonic() < deadline:
        time.sleep(0.1)


def port_is_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0

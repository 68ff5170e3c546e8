"""PgBouncer between the gunicorn hosts and PostgreSQL: deploy/pgbouncer.ini filled in and
started as an ordinary process (no system file touched), in transaction pooling mode.

Needs Debian's pgbouncer package. The hosts connect to `PgBouncer.url`; migrations go to
PostgreSQL directly (MIGRATION_DATABASE_URL).
"""

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import make_url

from deploy.hosts import PROJECT, port_is_open, stop_process

PGBOUNCER = os.environ.get("HRLLO_PGBOUNCER") or shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PGBOUNCER_CONFIG = PROJECT / "deploy" / "pgbouncer.ini"
# PgBouncer refuses to run as root: as root, it runs as this user.
UNPRIVILEGED_USER = "nobody"


def pgbouncer_installed():
    return bool(shutil.which(PGBOUNCER))


def is_postgres(database_url):
    return make_url(database_url).get_backend_name() == "postgresql"


def pgbouncer_config(
    *,
    listen_port,
    server_host,
    server_port,
    pool_size,
    max_client_conn,
    auth_file,
    log_file,
    user,
    listen_addr="127.0.0.1",
):
    """deploy/pgbouncer.ini with its placeholders filled in. An empty log_file: the log goes
    to standard error only (in a container, its output)."""
    values = {
        "LISTEN_ADDR": listen_addr,
        "LISTEN_PORT": str(listen_port),
        "SERVER_HOST": server_host,
        "SERVER_PORT": str(server_port),
        "POOL_SIZE": str(pool_size),
        "MAX_CLIENT_CONN": str(max_client_conn),
        "AUTH_FILE": str(auth_file),
        "LOG_FILE": str(log_file),
        "STATS_USERS": user,
    }
    config = PGBOUNCER_CONFIG.read_text()
    for name, value in values.items():
        config = config.replace(f"@{name}@", value)
    if "@" in config.partition("[databases]")[2]:
        raise ValueError(f"{PGBOUNCER_CONFIG}: a placeholder has no value")
    return config


def quoted(value):
    """A name or password as auth_file has it: in double quotes, a quote inside doubled."""
    return '"' + value.replace('"', '""') + '"'


class PgBouncer:
    """PgBouncer on a free port of 127.0.0.1 in front of the PostgreSQL server of
    database_url, its files (configuration, password file, log) in folder.

    `url` is database_url through PgBouncer: the same user, database and driver, and the
    password of PgBouncer's auth_file (the server's own, or one made up when the server
    asks for none). Started, stopped and restarted by PID.
    """

    def __init__(self, folder, database_url, port, pool_size, max_client_conn):
        server = make_url(database_url)
        self.folder = Path(folder)
        self.port = port
        self.pool_size = pool_size
        self.user = server.username or "postgres"
        password = server.password or secrets.token_hex(16)
        self.url = server.set(host="127.0.0.1", port=port, password=password).render_as_string(
            hide_password=False
        )
        self.config_file = self.folder / "pgbouncer.ini"
        self.log_file = self.folder / "logs" / "pgbouncer.log"
        auth_file = self.folder / "pgbouncer-users.txt"
        self.log_file.parent.mkdir(exist_ok=True)
        auth_file.write_text(f"{quoted(self.user)} {quoted(password)}\n")
        auth_file.chmod(0o600)
        self.config_file.write_text(
            pgbouncer_config(
                listen_port=port,
                server_host=server.host or "127.0.0.1",
                server_port=server.port or 5432,
                pool_size=pool_size,
                max_client_conn=max_client_conn,
                auth_file=auth_file,
                log_file=self.log_file,
                user=self.user,
            )
        )
        self.log_file.touch()
        if os.geteuid() == 0:  # it runs as UNPRIVILEGED_USER: its files must be its own
            for path in (auth_file, self.log_file, self.config_file):
                shutil.chown(path, UNPRIVILEGED_USER)
        self.process = None

    def start(self, timeout=30):
        """In the foreground (-q: its log goes to its log file only); returns once it
        accepts connections."""
        self.process = subprocess.Popen(
            [PGBOUNCER, "-q", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=UNPRIVILEGED_USER if os.geteuid() == 0 else None,
        )
        deadline = time.monotonic() + timeout
        while not port_is_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("pgbouncer did not start: " + self.log_text()[-2000:])
            time.sleep(0.02)

    def stop(self):
        """SIGTERM: PgBouncer's immediate shutdown; every client connection is closed."""
        if self.process:
            stop_process(self.process)
            self.process = None

    def restart(self, timeout=30):
        self.stop()
        self.start(timeout)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def running(self):
        return self.process is not None and self.process.poll() is None

    def log_text(self):
        return self.log_file.read_text()

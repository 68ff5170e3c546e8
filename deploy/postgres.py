"""A throwaway PostgreSQL server on 127.0.0.1: for `make stack` and the tests.

Needs the server binaries (Debian's postgresql package).
"""

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from deploy.hosts import free_port


def postgres_bin():
    """The newest installed PostgreSQL server's bin folder, or None when there is none."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    return found[-1].parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 that a test may stop, start and restart."""

    def __init__(self, bin_dir, folder, port, max_connections=200):
        self.bin_dir = bin_dir
        # By default the load tests' workers and pools, with room.
        self.max_connections = max_connections
        self.data = Path(folder) / "data"
        self.folder = folder
        self.port = port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def run(self, program, *args, timeout=60):
        # initdb and pg_ctl refuse to run as root: as root, run them as the postgres user.
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def pg_ctl(self, *args):
        # The server's output goes to its log: on our pipe, it would keep pg_ctl from returning.
        log = str(Path(self.folder) / "server.log")
        self.run("pg_ctl", "-D", str(self.data), "-l", log, "-w", *args)

    def start(self):
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        options += f" -c max_connections={self.max_connections}"
        self.pg_ctl("-o", options, "start")

    def stop(self):
        self.pg_ctl("-m", "fast", "stop")  # ends every connection, as a restart does

    def restart(self):
        self.pg_ctl("-m", "fast", "restart")


@contextmanager
def postgres_server(max_connections=200):
    """A fresh PostgreSQL server in a temporary folder, stopped and removed on exit.

    Needs the server binaries (Debian's postgresql package); see postgres_bin.
    """
    with tempfile.TemporaryDirectory() as folder:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        server = PostgresServer(postgres_bin(), folder, free_port(), max_connections)
        initdb_options = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        server.run("initdb", "-D", str(server.data), *initdb_options)
        server.start()
        try:
            yield server
        finally:
            if (server.data / "postmaster.pid").exists():  # unless the test left it stopped
                server.pg_ctl("-m", "immediate", "stop")

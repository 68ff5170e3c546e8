"""What the tests of the production topology share beyond tests/support.py."""

import shutil
import socket
import ssl
import subprocess
import threading
from contextlib import contextmanager

from deploy.hosts import BIN, PROJECT, free_port, project_env, stop_process
from deploy.nginx import NGINX
from tests.support import require


@contextmanager
def https_connection(front):
    """A raw HTTP/1.1 connection over TLS to the stack's HTTPS port, for what a client
    library would not send."""
    port = int(front.https_url.rpartition(":")[2])
    tls = ssl.create_default_context(cafile=str(front.certificate))
    tls.set_alpn_protocols(["http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        tls.wrap_socket(sock, server_hostname="127.0.0.1") as connection,
    ):
        yield connection


def require_nginx():
    require(
        bool(shutil.which(NGINX)),
        f"no nginx at {NGINX}",
        "apt-get install nginx to test the production stack",
        "HRLLO_REQUIRE_NGINX",
    )


@contextmanager
def make_stack(env, cwd=PROJECT):
    """`python -m deploy.stack` (what `make stack` runs) on free ports: yields what it
    printed and a function that reads its log so far; SIGTERM at the end."""
    http_port, https_port = free_port(), free_port()
    command = [BIN / "python", "-m", "deploy.stack", "--http-port", str(http_port)]
    command += ["--https-port", str(https_port)]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=project_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors = []  # its log (stderr), line by line, as it comes
    reader = threading.Thread(target=lambda: errors.extend(process.stderr))
    reader.start()
    try:
        printed = ""
        while "Ctrl-C" not in printed and process.poll() is None:
            printed += process.stdout.readline()
        assert f"https://127.0.0.1:{https_port}/" in printed, errors
        yield printed, errors
    finally:
        stop_process(process, timeout=30)
        reader.join(timeout=10)
        process.stdout.close()
        process.stderr.close()

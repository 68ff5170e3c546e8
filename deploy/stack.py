"""`make stack`: the production topology on this machine, in the foreground.

    .venv/bin/python -m deploy.stack [--http-port 8080] [--https-port 8443]

nginx (deploy/nginx.conf) on HTTP and HTTPS, with the certificate and key in STACK_TLS_CERT
and STACK_TLS_KEY (paths), or else a self-signed certificate for 127.0.0.1 made at start,
in front of STACK_HOSTS gunicorn hosts (default 2) of WEB_CONCURRENCY workers each
(default 2) sharing one SECRET_KEY, on the database in DATABASE_URL (or else a throwaway
PostgreSQL server on 127.0.0.1 with STACK_PG_MAX_CONNECTIONS, default 100, removed on
exit), after `flask db upgrade`. On PostgreSQL the hosts connect through PgBouncer
(deploy/pgbouncer.ini, transaction pooling) and the migrations go around it. It prints
each host's /metrics address and the log files to follow (nginx's, each host's and
PgBouncer's). Ctrl-C or SIGTERM stops all of it. The tests start the same stack with
`stack()`.

    .venv/bin/python -m deploy.stack --error-pages DIR

writes the app's 413 page into DIR, for nginx's ERROR_PAGES on a real deployment.
"""

import argparse
import os
import secrets
import signal
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from deploy.hosts import (
    AppHost,
    free_port,
    project_env,
    stop_process,
    stop_processes,
    upgrade_database,
)
from deploy.nginx import (
    nginx_config,
    publish_assets,
    self_signed_certificate,
    start_nginx,
    write_error_pages,
)
from deploy.pgbouncer import PgBouncer, is_postgres, pgbouncer_installed
from deploy.postgres import postgres_bin, postgres_server

# PgBouncer's connections to PostgreSQL: a few per PostgreSQL core keep it busy
# (docs/several-hosts.md, "Sizing it").
SERVER_CONNECTIONS = 10


class Stack:
    """nginx on http_url and https_url, in front of hosts (AppHost), all on 127.0.0.1."""

    def __init__(
        self, folder, http_url, https_url, hosts, certificate, database_url, pgbouncer=None
    ):
        self.folder = Path(folder)
        self.http_url = http_url
        self.https_url = https_url
        self.hosts = hosts
        self.certificate = certificate  # what an HTTPS client verifies (requests' verify=)
        self.database_url = database_url  # the database itself, not through PgBouncer
        self.pgbouncer = pgbouncer  # a PgBouncer the hosts connect through, or None
        self.nginx = None

    def access_log(self):
        """nginx's access log lines so far, one per request it answered."""
        return (self.folder / "logs" / "access.log").read_text().splitlines()

    def logged(self, since, needle, timeout=5):
        """The access-log lines after the first `since` that contain needle, waiting for one:
        nginx writes a request's line just after its response has gone out."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.access_log()[since:] if needle in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def error_log(self):
        return (self.folder / "logs" / "error.log").read_text()

    def log_paths(self):
        """nginx's access and error logs, then each host's (gunicorn's and the app's lines),
        then PgBouncer's."""
        logs = self.folder / "logs"
        bouncer = [self.pgbouncer.log_file] if self.pgbouncer else []
        hosts = [host.log_path for host in self.hosts]
        return [logs / "access.log", logs / "error.log", *hosts, *bouncer]

    def processes(self):
        bouncer = [self.pgbouncer.process] if self.pgbouncer else []
        return [self.nginx] + [host.process for host in self.hosts] + bouncer


@contextmanager
def stack(
    database_url,
    *,
    http_port=None,
    https_port=None,
    workers=2,
    hosts=2,
    secret_key=None,
    certificate=None,
    gunicorn_args=(),
    pgbouncer=None,
    server_connections=SERVER_CONNECTIONS,
    timeout=60,
):
    """The production topology on this machine: `flask db upgrade`, gunicorn hosts sharing
    one SECRET_KEY, and nginx (unprivileged, its own prefix) on HTTP and HTTPS.

    On PostgreSQL, the hosts connect through PgBouncer (transaction pooling, at most
    server_connections to PostgreSQL) when pgbouncer is true, or None and PgBouncer is
    installed; `flask db upgrade` connects directly (MIGRATION_DATABASE_URL).
    certificate: (certificate, key) files to serve; by default a self-signed one for
    127.0.0.1, made in the stack's temporary folder. Free ports unless given. Yields a
    Stack; on exit (or on an error while starting) stops nginx, then every host, then
    PgBouncer.
    """
    env = project_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret_key or secrets.token_hex(32),
            "WEB_CONCURRENCY": str(workers),
        }
    )
    if pgbouncer is None:
        pgbouncer = pgbouncer_installed()
    pgbouncer = pgbouncer and is_postgres(database_url)
    with tempfile.TemporaryDirectory(prefix="hrllo-stack-") as folder, ExitStack() as running:
        # nginx's workers run as nobody when the master is root: they must read this folder.
        os.chmod(folder, 0o755)
        for sub in ("logs", "tmp", "errors"):
            Path(folder, sub).mkdir()
        bouncer = None
        if pgbouncer:
            # Room for every worker, and for a reload's new workers beside the old ones.
            clients = 2 * hosts * workers + 10
            bouncer = PgBouncer(folder, database_url, free_port(), server_connections, clients)
            env.update(DATABASE_URL=bouncer.url, MIGRATION_DATABASE_URL=database_url)
        upgrade_database(env, timeout)
        if bouncer:
            running.callback(bouncer.stop)
            bouncer.start(timeout)
        assets = publish_assets(Path(folder, "assets"))
        cert, key = certificate or self_signed_certificate(folder)
        write_error_pages(Path(folder, "errors"))
        http_port, https_port = http_port or free_port(), https_port or free_port()
        app_hosts = [
            AppHost(
                free_port(),
                env,
                Path(folder, f"gunicorn-{i + 1}.log"),
                workers,
                gunicorn_args=gunicorn_args,
            )
            for i in range(hosts)
        ]
        config = Path(folder, "nginx.conf")
        config.write_text(
            nginx_config(
                http_port=http_port,
                https_port=https_port,
                app_servers=[host.address for host in app_hosts],
                certificate=cert,
                certificate_key=key,
                error_pages=Path(folder, "errors"),
                static_folders=assets,
            )
        )
        result = Stack(
            folder,
            f"http://127.0.0.1:{http_port}",
            f"https://127.0.0.1:{https_port}",
            app_hosts,
            cert,
            database_url,
            bouncer,
        )
        running.callback(stop_hosts, app_hosts)
        for host in app_hosts:  # their workers boot side by side
            host.launch()
        for host in app_hosts:
            host.wait_until_serving(timeout)
        result.nginx = start_nginx(folder, config, timeout)
        running.callback(stop_process, result.nginx)
        yield result


def stop_hosts(hosts):
    """Every host at once: SIGTERM to each, then their workers finish side by side."""
    stop_processes([host.process for host in hosts if host.process])
    for host in hosts:
        host.process = None


def stop(signum, frame):
    sys.exit(128 + signum)  # unwinds the stack's context manager, which stops every process


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--http-port", type=int, default=int(os.environ.get("STACK_HTTP_PORT", 8080))
    )
    parser.add_argument(
        "--https-port", type=int, default=int(os.environ.get("STACK_HTTPS_PORT", 8443))
    )
    parser.add_argument(
        "--hosts", type=int, default=int(os.environ.get("STACK_HOSTS") or 2), help="gunicorn hosts"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY") or 2),
        help="gunicorn workers per host",
    )
    parser.add_argument(
        "--pg-max-connections",
        type=int,
        default=int(os.environ.get("STACK_PG_MAX_CONNECTIONS") or 100),
        help="max_connections of the throwaway PostgreSQL server",
    )
    parser.add_argument("--error-pages", metavar="DIR", help="write the 413 page and exit")
    args = parser.parse_args(argv)

    if args.error_pages:
        os.environ.setdefault("SECRET_KEY", "unused: the page signs nothing")
        os.makedirs(args.error_pages, exist_ok=True)
        write_error_pages(args.error_pages)
        return 0

    database_url = os.environ.get("DATABASE_URL")
    if not database_url and postgres_bin() is None:
        parser.error("no database: set DATABASE_URL, or apt-get install postgresql")
    given = [os.environ.get("STACK_TLS_CERT"), os.environ.get("STACK_TLS_KEY")]
    if any(given) and not all(given):
        parser.error("STACK_TLS_CERT and STACK_TLS_KEY go together: a certificate and its key")
    # The hosts share one key; importing hrllo (for its assets and 413 page) wants it too
    # when DATABASE_URL is a server database.
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    signal.signal(signal.SIGTERM, stop)
    parent = os.getppid()
    if is_postgres(database_url or "postgresql://") and not pgbouncer_installed():
        print(
            "hrllo: no pgbouncer (apt-get install pgbouncer): the hosts connect to PostgreSQL"
            " directly, one connection per worker",
            file=sys.stderr,
        )
    server_connections = SERVER_CONNECTIONS
    with ExitStack() as running_parts:
        if not database_url:
            server = postgres_server(max_connections=args.pg_max_connections)
            database_url = running_parts.enter_context(server).url
            # Half its connections at most: the rest for migrations, psql and backups.
            server_connections = min(SERVER_CONNECTIONS, max(1, args.pg_max_connections // 2))
        return serve_stack(args, database_url, given, parent, server_connections)


def serve_stack(args, database_url, given, parent, server_connections=SERVER_CONNECTIONS):
    """Run the stack in the foreground until a signal, or until nginx stops; a gunicorn host
    that stops is started again (nginx sends its visitors to the other host meanwhile)."""
    with stack(
        database_url,
        http_port=args.http_port,
        https_port=args.https_port,
        hosts=args.hosts,
        workers=args.workers,
        secret_key=os.environ.get("SECRET_KEY"),
        certificate=given if all(given) else None,
        server_connections=server_connections,
    ) as running:
        print(f"hrllo: {running.https_url}/  (and {running.http_url}/, redirected to it)")
        print(f"  nginx {running.nginx.pid}, prefix {running.folder}")
        for host in running.hosts:
            print(f"  gunicorn {host.process.pid} on {host.url}")
        if running.pgbouncer:
            bouncer = running.pgbouncer
            print(
                f"  pgbouncer {bouncer.process.pid} on 127.0.0.1:{bouncer.port}, transaction"
                f" pooling, {bouncer.pool_size} connections to the database at most"
            )
        print("  metrics:", *(f"{host.url}/metrics" for host in running.hosts))
        print("  logs (docs/operations.md): tail -F", *running.log_paths())
        print(f"  database {database_url}")
        if all(given):
            print(f"  certificate {running.certificate}. Ctrl-C stops all.")
        else:
            print(f"  certificate {running.certificate} (self-signed: your browser will ask).")
            print("  Ctrl-C stops all.")
        sys.stdout.flush()
        while True:
            time.sleep(0.5)
            if running.nginx.poll() is not None:
                print("hrllo: nginx stopped; stopping the rest", file=sys.stderr)
                return 1
            restart_stopped_hosts(running.hosts)
            if running.pgbouncer and not running.pgbouncer.running():
                restart_pgbouncer(running.pgbouncer)
            if os.getppid() != parent:  # whoever started us is gone (e.g. make was stopped)
                return 1


def restart_stopped_hosts(hosts):
    """Start again every host whose gunicorn master has stopped, saying so on stderr."""
    for host in hosts:
        if host.running():
            continue
        code = host.process.returncode if host.process else None
        print(f"hrllo: gunicorn on {host.url} stopped ({code}); starting it again", file=sys.stderr)
        host.process = None
        try:
            host.start()
        except RuntimeError as error:  # e.g. its old workers still hold the port: next turn
            print(f"hrllo: gunicorn on {host.url} did not start: {error}", file=sys.stderr)
            continue
        print(f"hrllo: gunicorn {host.process.pid} on {host.url} is back", file=sys.stderr)
        sys.stderr.flush()


def restart_pgbouncer(bouncer):
    """Start PgBouncer again on its port, saying so on stderr: the workers' pools replace
    the connections it closed (pool_pre_ping)."""
    code = bouncer.process.returncode if bouncer.process else None
    print(f"hrllo: pgbouncer stopped ({code}); starting it again", file=sys.stderr)
    bouncer.process = None
    try:
        bouncer.start()
    except RuntimeError as error:
        print(f"hrllo: pgbouncer did not start: {error}", file=sys.stderr)
    else:
        print(f"hrllo: pgbouncer {bouncer.process.pid} is back", file=sys.stderr)
    sys.stderr.flush()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

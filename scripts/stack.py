"""`make stack`: the production topology on this machine, in the foreground.

    .venv/bin/python -m scripts.stack [--http-port 8080] [--https-port 8443]

nginx (deploy/nginx.conf) on HTTP and HTTPS, with the certificate and key in STACK_TLS_CERT
and STACK_TLS_KEY (paths), or else a self-signed certificate for 127.0.0.1 made at start,
in front of two gunicorn hosts sharing one SECRET_KEY, on the database in DATABASE_URL
(or else a throwaway PostgreSQL server on 127.0.0.1, removed on exit), after
`flask db upgrade`. Ctrl-C or SIGTERM stops all of it. The work is done by
tests.support.stack, so the tests run exactly this.

    .venv/bin/python -m scripts.stack --error-pages DIR

writes the app's 413 page into DIR, for nginx's ERROR_PAGES on a real deployment.
"""

import argparse
import os
import signal
import sys
import time
from contextlib import ExitStack

from tests.support import postgres_bin, postgres_server, stack, write_error_pages


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
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument("--error-pages", metavar="DIR", help="write the 413 page and exit")
    args = parser.parse_args(argv)

    if args.error_pages:
        os.makedirs(args.error_pages, exist_ok=True)
        write_error_pages(args.error_pages)
        return 0

    database_url = os.environ.get("DATABASE_URL")
    if not database_url and postgres_bin() is None:
        parser.error("no database: set DATABASE_URL, or apt-get install postgresql")
    given = [os.environ.get("STACK_TLS_CERT"), os.environ.get("STACK_TLS_KEY")]
    if any(given) and not all(given):
        parser.error("STACK_TLS_CERT and STACK_TLS_KEY go together: a certificate and its key")
    signal.signal(signal.SIGTERM, stop)
    parent = os.getppid()
    with ExitStack() as running_parts:
        if not database_url:
            database_url = running_parts.enter_context(postgres_server()).url
        return serve_stack(args, database_url, given, parent)


def serve_stack(args, database_url, given, parent):
    """Run the stack in the foreground until a signal, or until a part of it stops."""
    with stack(
        database_url,
        http_port=args.http_port,
        https_port=args.https_port,
        workers=args.workers,
        secret_key=os.environ.get("SECRET_KEY"),
        certificate=given if all(given) else None,
    ) as running:
        print(f"hrllo: {running.https_url}/  (and {running.http_url}/, redirected to it)")
        print(f"  nginx {running.nginx.pid}, prefix {running.folder}")
        for host in running.hosts:
            print(f"  gunicorn {host.process.pid} on {host.url}")
        print(f"  database {database_url}")
        if all(given):
            print(f"  certificate {running.certificate}. Ctrl-C stops all.")
        else:
            print(f"  certificate {running.certificate} (self-signed: your browser will ask).")
            print("  Ctrl-C stops all.")
        sys.stdout.flush()
        while True:
            time.sleep(0.5)
            stopped = [p for p in running.processes() if p is None or p.poll() is not None]
            if stopped:
                print("hrllo: a part of the stack stopped; stopping the rest", file=sys.stderr)
                return 1
            if os.getppid() != parent:  # whoever started us is gone (e.g. make was stopped)
                return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

"""compose.yaml's pgbouncer-config job: deploy/pgbouncer.ini filled in for the pgbouncer
container, written into the volume that container reads.

    python -m deploy.containers.pgbouncer_config /srv/front/pgbouncer.ini \\
        --server postgres:5432 --listen-port 6432 --user hrllo \\
        --pool-size 10 --max-client-conn 100 --auth-file /run/pgbouncer/users.txt

It runs in the app's image, so PgBouncer gets the configuration `make stack` gives it, filled
in by the same function (deploy.pgbouncer.pgbouncer_config): transaction pooling, listening
on every address of its container (only the compose network reaches it), its log on its
container's output. The password is not in it: the pgbouncer container writes auth_file
from its environment at each start (deploy/containers/pgbouncer-entrypoint).
The file is replaced in one rename: a PgBouncer starting meanwhile reads a whole one.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

from deploy.pgbouncer import pgbouncer_config


def write_config(path, **values):
    path = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as file:
        file.write(pgbouncer_config(**values, listen_addr="*", log_file=""))
    os.chmod(file.name, 0o644)  # PgBouncer runs as another user than this job
    os.replace(file.name, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--server", required=True, metavar="HOST:PORT", help="PostgreSQL")
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--user", required=True, help="the app's PostgreSQL user")
    parser.add_argument("--pool-size", type=int, required=True, help="connections to PostgreSQL")
    parser.add_argument("--max-client-conn", type=int, required=True)
    parser.add_argument("--auth-file", required=True, help="path in PgBouncer's container")
    args = parser.parse_args(argv)
    server_host, _, server_port = args.server.rpartition(":")
    write_config(
        args.path,
        listen_port=args.listen_port,
        server_host=server_host,
        server_port=int(server_port),
        pool_size=args.pool_size,
        max_client_conn=args.max_client_conn,
        auth_file=args.auth_file,
        user=args.user,
    )
    print(f"pgbouncer-config: {args.path} written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""compose.yaml brought up in its dependencies' order, one stage at a time, with podman.

    python3 -m deploy.containers.compose up --project hrllo
    python3 -m deploy.containers.compose down --project hrllo [--volumes]

Docker Compose follows compose.yaml's depends_on conditions by itself (`docker compose up
-d`). Debian 12's podman-compose (1.0.3) starts every service at once and ignores them, so
the migration would race PostgreSQL's first start and the replicas would serve before it.
This waits for each condition as compose.yaml states it: PostgreSQL healthy (its own
healthcheck, run by `podman healthcheck run`, since podman schedules healthchecks only
under systemd) and the pgbouncer-config job finished with status 0, then PgBouncer healthy,
then the migrate and front jobs finished with status 0, then the replicas and nginx. Every
wait is bounded. Needs only the standard library: run it with python3.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

COMPOSE_FILE = Path(__file__).resolve().parent.parent.parent / "compose.yaml"
JOBS = ("migrate", "front")


class ComposeError(RuntimeError):
    pass


class Compose:
    """podman-compose on compose.yaml for one project; run_args go to every `podman run`
    (e.g. --runtime=runc, --ulimit=...)."""

    def __init__(self, project, run_args=(), env=None, podman="podman"):
        self.project = project
        self.run_args = list(run_args)
        self.env = env
        self.podman = podman

    def compose(self, *args, timeout=300):
        command = ["podman-compose", "--file", str(COMPOSE_FILE), "--project-name", self.project]
        if self.run_args:
            command.append("--podman-run-args=" + " ".join(self.run_args))
        return run([*command, *args], env=self.env, timeout=timeout)

    def container(self, service):
        """The name podman-compose gives the service's container."""
        return f"{self.project}_{service}_1"

    def up(self, timeout=180):
        deadline = time.monotonic() + timeout
        self.compose("up", "--detach", "--no-build", "postgres", "pgbouncer-config")
        self.wait_healthy("postgres", deadline)
        self.wait_completed(["pgbouncer-config"], deadline)
        # podman-compose starts a service's dependencies again, whatever their state: here
        # it runs the pgbouncer-config job once more, which writes the same file in one rename.
        self.compose("up", "--detach", "--no-build", "pgbouncer")
        self.wait_healthy("pgbouncer", deadline)
        self.compose("up", "--detach", "--no-build", *JOBS)
        self.wait_completed(JOBS, deadline)
        self.compose("up", "--detach", "--no-build")

    def wait_healthy(self, service, deadline):
        while True:
            check = run([self.podman, "healthcheck", "run", self.container(service)], check=False)
            if check.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ComposeError(f"{service} is not healthy: {self.logs(service)}")
            time.sleep(1)

    def wait_completed(self, services, deadline):
        """Each service's container has exited with status 0."""
        names = [self.container(service) for service in services]
        waited = run(
            [self.podman, "wait", *names],
            timeout=max(deadline - time.monotonic(), 1),
        )
        for service, status in zip(services, waited.stdout.split(), strict=True):
            if status != "0":
                raise ComposeError(f"{service} exited with {status}: {self.logs(service)}")

    def logs(self, service):
        logs = run([self.podman, "logs", self.container(service)], check=False)
        return (logs.stdout + logs.stderr)[-3000:]

    def down(self, volumes=False, timeout=120):
        """Every container of the project stopped and removed (and its volumes), and the
        network podman-compose made, which its own `down` leaves."""
        self.compose("down", *(["--volumes"] if volumes else []), timeout=timeout)
        network = f"{self.project}_default"
        if run([self.podman, "network", "exists", network], check=False).returncode == 0:
            run([self.podman, "network", "rm", "--force", network])


def run(command, env=None, timeout=60, check=True):
    try:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise ComposeError(f"{' '.join(command)}: no answer in {timeout:.0f} s") from error
    if check and result.returncode != 0:
        raise ComposeError(f"{' '.join(command)}: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--project", default="hrllo", help="podman-compose's project name")
    parser.add_argument("--volumes", action="store_true", help="down: remove the volumes too")
    parser.add_argument("--timeout", type=float, default=180, help="seconds, for each action")
    parser.add_argument(
        "--podman-run-args", default="", help="options for every `podman run`, space-separated"
    )
    args = parser.parse_args(argv)
    compose = Compose(args.project, args.podman_run_args.split())
    try:
        if args.action == "up":
            compose.up(args.timeout)
        else:
            compose.down(args.volumes, args.timeout)
    except ComposeError as error:
        sys.exit(f"compose {args.action}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the tests, the load tool, the benchmark and the screenshot script share.

Serving an app under gunicorn on a free port, reading a page's CSRF token, sending the
form as a visitor does, listing stored names, running a project command. Import it as
`tests.support` (tools run as `python -m scripts.load` from the project folder).
"""

import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from sqlalchemy import create_engine, text
from werkzeug.exceptions import RequestEntityTooLarge

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
FORM_TAG = re.compile(r"<form\b[^>]*>")
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


def form_target(page, address):
    """Where a browser sends the form of the page loaded from address: to the form's
    action, or back to the page's own address when it has none."""
    form = FORM_TAG.search(page)
    if form is None:
        raise AssertionError("the page has no form")
    action = html.unescape(dict(ATTRIBUTE.findall(form.group())).get("action", ""))
    return urljoin(address, action)


class Greeter:
    """A person at the greeting page of a Flask test client: loads it, types a name, submits."""

    def __init__(self, client):
        self.client = client

    def visit(self, address="/"):
        return self.client.get(address).get_data(as_text=True)

    def submit(self, name, follow_redirects=False, address="/"):
        """Load the page at address and send its form, where a browser would send it."""
        page = self.visit(address)
        return self.client.post(
            form_target(page, address),
            data={"name": name, "csrf_token": csrf_token(page)},
            follow_redirects=follow_redirects,
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
        form_target(page.text, page.url),
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


def empty_postgres_database(url):
    """Drop everything in the PostgreSQL database at url, for a test that starts afresh."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


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
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class AppHost:
    """A gunicorn master serving app on a fixed port of 127.0.0.1, with hrllo's
    gunicorn.conf.py: started, stopped, reloaded, killed, restarted.

    The port stays the same across restarts, so a proxy in front still points at it.
    The log goes to a file (a pipe could fill up and stall the server), appended to.
    """

    def __init__(
        self,
        port,
        env,
        log_path,
        workers,
        app="hrllo:app",
        health_path="/healthz",
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
        self.process = None

    def start(self, timeout=30):
        """Returns once the app answers health_path and all its workers are up."""
        with open(self.log_path, "a") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [BIN / "gunicorn", "--config", PROJECT / "gunicorn.conf.py"]
                + ["--bind", self.address, *self.gunicorn_args, self.app],
                cwd=PROJECT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
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
    health_path="/healthz",
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


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def require(present, missing, install, variable):
    """Skip the calling test module when a component is missing, with the reason and how to
    install it; fail instead when the variable is 1 (CI sets HRLLO_REQUIRE_*=1)."""
    if present:
        return
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {missing}", pytrace=False)
    pytest.skip(f"{missing}: {install}", allow_module_level=True)


# --- The production stack: nginx in front of two gunicorn hosts (`make stack`) ---------

NGINX = os.environ.get("HRLLO_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_CONFIG = PROJECT / "deploy" / "nginx.conf"
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so")
PLACEHOLDER = re.compile(r"@[A-Z_]+@")


def require_nginx():
    require(
        bool(shutil.which(NGINX)),
        f"no nginx at {NGINX}",
        "apt-get install nginx to test the production stack",
        "HRLLO_REQUIRE_NGINX",
    )


def nginx_config(
    *,
    http_port,
    https_port,
    app_servers,
    certificate,
    certificate_key,
    error_pages,
    brotli=None,
    static_folders=None,
):
    """deploy/nginx.conf with its placeholders filled in; brotli where the module is installed."""
    folders = static_folders or asset_folders()
    values = {
        "HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "HTTPS_PORT": str(https_port),
        "APP_SERVERS": "\n        ".join(
            f"server {address} max_fails=1 fail_timeout=3s;" for address in app_servers
        ),
        "CERTIFICATE": str(certificate),
        "CERTIFICATE_KEY": str(certificate_key),
        "ERROR_PAGES": f"{error_pages}/",
        **{name: f"{folder}/" for name, folder in folders.items()},
    }
    config = NGINX_CONFIG.read_text()
    for name, value in values.items():
        config = config.replace(f"@{name}@", value)
    if BROTLI_MODULE.exists() if brotli is None else brotli:
        config = re.sub(r"^(\s*)#brotli# ", r"\1", config, flags=re.M)
    if left := PLACEHOLDER.findall(config):
        raise ValueError(f"deploy/nginx.conf: no value for {sorted(set(left))}")
    return config


def asset_folders(app=None):
    """Where the files behind each asset URL are, for nginx to serve them from disk."""
    app = app or hrllo.app
    return {
        "STATIC": app.static_folder,
        "BOOTSTRAP_STATIC": app.blueprints["bootstrap"].static_folder,
        "MOMENT_JS": app.blueprints["vendor"].static_folder,
    }


def write_error_pages(folder, app=None):
    """The app's own 413 page, as a file nginx sends for a body it refuses to pass on."""
    app = app or hrllo.app
    with app.test_request_context("/"):
        page, _ = hrllo.error_page(RequestEntityTooLarge())
    Path(folder, "413.html").write_text(page)


def self_signed_certificate(folder):
    """A throwaway certificate for 127.0.0.1 (and its key), made with openssl."""
    certificate, key = Path(folder, "127.0.0.1.crt"), Path(folder, "127.0.0.1.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return certificate, key


class Stack:
    """nginx on http_url and https_url, in front of hosts (AppHost), all on 127.0.0.1."""

    def __init__(self, folder, http_url, https_url, hosts, certificate, database_url):
        self.folder = Path(folder)
        self.http_url = http_url
        self.https_url = https_url
        self.hosts = hosts
        self.certificate = certificate  # what an HTTPS client verifies (requests' verify=)
        self.database_url = database_url
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

    def processes(self):
        return [self.nginx] + [host.process for host in self.hosts]


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
    timeout=60,
):
    """The production topology on this machine: `flask db upgrade`, gunicorn hosts sharing
    one SECRET_KEY, and nginx (unprivileged, its own prefix) on HTTP and HTTPS.

    certificate: (certificate, key) files to serve; by default a self-signed one for
    127.0.0.1, made in the stack's temporary folder. Free ports unless given. Yields a
    Stack; on exit (or on an error while starting) stops nginx, then every host.
    """
    env = project_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret_key or secrets.token_hex(32),
            "WEB_CONCURRENCY": str(workers),
        }
    )
    upgrade_database(env, timeout)
    with tempfile.TemporaryDirectory(prefix="hrllo-stack-") as folder, ExitStack() as running:
        # nginx's workers run as nobody when the master is root: they must read this folder.
        os.chmod(folder, 0o755)
        for sub in ("logs", "tmp", "errors"):
            Path(folder, sub).mkdir()
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
            )
        )
        result = Stack(
            folder,
            f"http://127.0.0.1:{http_port}",
            f"https://127.0.0.1:{https_port}",
            app_hosts,
            cert,
            database_url,
        )
        for host in app_hosts:
            running.callback(host.stop)
            host.start(timeout)
        result.nginx = start_nginx(folder, config, timeout)
        running.callback(stop_process, result.nginx)
        yield result


def start_nginx(prefix, config, timeout):
    """nginx in the foreground with its own prefix; returns once it accepts connections."""
    with Path(prefix, "logs", "nginx.stderr").open("w") as stderr:
        process = subprocess.Popen(
            [NGINX, "-p", f"{prefix}/", "-c", str(config), "-e", "stderr", "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    ports = re.findall(r"listen 127\.0\.0\.1:(\d+)", Path(config).read_text())
    deadline = time.monotonic() + timeout
    try:
        while not all(port_is_open(int(port)) for port in ports):
            if process.poll() is not None or time.monotonic() > deadline:
                log = Path(prefix, "logs", "nginx.stderr").read_text()
                raise RuntimeError("nginx did not start: " + log)
            time.sleep(0.05)
    except BaseException:  # also Ctrl-C or SIGTERM while starting
        stop_process(process)
        raise
    return process


def port_is_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def certificate_pin(certificate):
    """The base64 SHA-256 of a certificate's public key, as Chromium's SPKI flags take it."""
    public_key = subprocess.run(
        ["openssl", "x509", "-in", certificate, "-pubkey", "-noout"],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"],
        input=public_key,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def chromium_args_trusting(certificate):
    """CHROMIUM_ARGS plus trust in certificate (the stack's self-signed one).

    Trusted, not ignored: Chromium caches nothing from a site whose certificate error it
    was told to ignore, so a repeat view or Lighthouse would not see what a visitor does.
    """
    return [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={certificate_pin(certificate)}"]


def launch_chromium_trusting(playwright, certificate):
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=chromium_args_trusting(certificate)
    )


LIGHTHOUSE = PROJECT / "node_modules" / ".bin" / "lighthouse"  # pinned in package.json


def lighthouse(url, certificate, categories, preset=None, timeout=180):
    """Lighthouse's report (a dict) for url, in Debian's Chromium trusting certificate."""
    flags = ["--headless=new", *chromium_args_trusting(certificate)]
    with tempfile.TemporaryDirectory(prefix="hrllo-lighthouse-") as folder:
        report = Path(folder, "report.json")
        subprocess.run(
            [LIGHTHOUSE, url, "--output=json", f"--output-path={report}", "--quiet"]
            + ["--no-enable-error-reporting", f"--chrome-flags={' '.join(flags)}"]
            + [f"--only-categories={','.join(categories)}"]
            + ([f"--preset={preset}"] if preset else []),
            env={**os.environ, "CHROME_PATH": CHROMIUM},
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        return json.loads(report.read_text())


def lighthouse_shortfalls(report):
    """Every scored audit below 1, by category: what keeps a score from 100."""
    return {
        name: [
            f"{ref['id']}: {report['audits'][ref['id']]['title']}"
            for ref in category["auditRefs"]
            if ref["weight"] and report["audits"][ref["id"]]["score"] not in (None, 1)
        ]
        for name, category in report["categories"].items()
    }


# --- A throwaway PostgreSQL server: the tests', make stack's, and one a test may restart ---


def postgres_bin():
    """The newest installed PostgreSQL server's bin folder, or None when there is none."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    return found[-1].parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 that a test may stop, start and restart."""

    def __init__(self, bin_dir, folder, port):
        self.bin_dir = bin_dir
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
        options += " -c max_connections=200"  # the load tests' workers and pools, with room
        self.pg_ctl("-o", options, "start")

    def stop(self):
        self.pg_ctl("-m", "fast", "stop")  # ends every connection, as a restart does

    def restart(self):
        self.pg_ctl("-m", "fast", "restart")


@contextmanager
def postgres_server():
    """A fresh PostgreSQL server in a temporary folder, stopped and removed on exit.

    Needs the server binaries (Debian's postgresql package); see postgres_bin.
    """
    with tempfile.TemporaryDirectory() as folder:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        server = PostgresServer(postgres_bin(), folder, free_port())
        initdb_options = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        server.run("initdb", "-D", str(server.data), *initdb_options)
        server.start()
        try:
            yield server
        finally:
            if (server.data / "postmaster.pid").exists():  # unless the test left it stopped
                server.pg_ctl("-m", "immediate", "stop")


# --- Visitors under load: what the load tool and the restart tests share -----------------


def visitor(base_url, certificate=None):
    """A browser-like HTTP client for base_url, trusting certificate if one is given."""
    session = requests.Session()
    if certificate:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        session.verify = str(certificate)
    # On HTTPS, Flask-WTF also checks that a form comes from this site (WTF_CSRF_SSL_STRICT);
    # browsers say so in Referer (the app's Referrer-Policy is same-origin).
    session.headers["Referer"] = base_url + "/"
    return session


def run_clients(url, clients, seconds, max_requests, during=None, certificate=None):
    """Visitors sending new names until the time or the request budget runs out.

    during(), if given, runs while they do. Returns the outcome of every visit (a status
    code, or the name of the connection error) and the names the server acknowledged (302).
    """
    statuses = Counter()
    saved = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    budget = iter(range(max_requests))
    run = secrets.token_hex(3)  # names never seen before, even on a database in use

    def client(number):
        session = visitor(url, certificate)
        while time.monotonic() < stop_at:
            with lock:
                n = next(budget, None)
            if n is None:
                return
            name = f"visitor-{run}-{number}-{n}"
            try:
                outcome = submit(session, url, name)
            except requests.RequestException as e:
                outcome = type(e).__name__  # e.g. the connection of a killed worker
            with lock:
                statuses[outcome] += 1
                if outcome == 302:
                    saved.append(name)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        if during:
            during()
    finally:
        for t in threads:
            t.join(timeout=seconds + 30)
    return statuses, saved


def load_report(statuses, saved, database_url):
    """What the visitors were told, against what the database holds."""
    stored = Counter(stored_usernames(database_url))
    return {
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in statuses.items()},
        "server_errors": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
        "not_acknowledged": sum(v for k, v in statuses.items() if k != 302),
        "rows_expected": len(saved),
        "rows_missing": sorted(set(saved) - set(stored)),
        "rows_duplicated": sorted(n for n, c in stored.items() if c > 1),
        "rows_found": sum(stored.values()),
    }

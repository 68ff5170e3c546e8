"""The production topology (`make stack`): nginx in front of two gunicorn hosts, over HTTPS.

One stack for the module, started by the same code as `make stack` (deploy.stack),
with deploy/nginx.conf as shipped.
"""

import contextlib
import gzip
import hashlib
import http.client
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright

from deploy.hosts import (
    BIN,
    PROJECT,
    free_port,
    port_is_open,
    project_env,
    stop_process,
    worker_pids,
)
from deploy.nginx import BROTLI_MODULE, self_signed_certificate
from deploy.postgres import postgres_bin
from deploy.stack import stack
from hrllo import create_app
from scripts.chromium import CHROMIUM, launch_chromium_trusting, lighthouse, lighthouse_shortfalls
from scripts.visitor import csrf_token, submit
from scripts.visitor import visitor as scripted_visitor
from security import CONTENT_SECURITY_POLICY
from tests.support import empty_postgres_database, require, stored_usernames
from tests.topology.support import https_connection, require_nginx

require_nginx()

# gunicorn's worker timeout is 30 s; 5 s here, so that holding slow clients for longer
# than it takes seconds, not a minute.
GUNICORN_TIMEOUT = 5
A_YEAR = "public, max-age=31536000, immutable"
# An asset named by its content: /static/hrllo-<md5>.css (Flask-Static-Digest)
DIGESTED_ASSET = re.compile(r'(?:href|src)="(/[^"]+)-([0-9a-f]{32})(\.\w+)"')


@pytest.fixture(scope="module")
def front(request, tmp_path_factory):
    """The stack on PostgreSQL when there is one (as in production), else SQLite."""
    if os.environ.get("HRLLO_TEST_POSTGRES_URL") or postgres_bin():
        server_url = request.getfixturevalue("postgres_server_url")
        database_url = empty_postgres_database(server_url)
    else:
        database_url = "sqlite:///" + str(tmp_path_factory.mktemp("stack") / "data.sqlite")
    with stack(database_url, gunicorn_args=["--timeout", str(GUNICORN_TIMEOUT)]) as running:
        yield running


def visitor(front):
    """A browser-like HTTP client that trusts the stack's certificate."""
    return scripted_visitor(front.https_url, front.certificate)


def cookie_attributes(set_cookie):
    return {part.strip().partition("=")[0].lower() for part in set_cookie.split(";")[1:]}


# --- HTTPS ---------------------------------------------------------------------------


def test_the_greeting_over_https_with_a_secure_cookie_and_hsts(front):
    session = visitor(front)
    page = session.get(front.https_url + "/", timeout=10)

    assert page.status_code == 200
    cookie = page.headers["Set-Cookie"]
    assert {"secure", "httponly", "samesite"} <= cookie_attributes(cookie)
    assert "SameSite=Lax" in cookie
    hsts = page.headers["Strict-Transport-Security"]
    assert int(re.search(r"max-age=(\d+)", hsts)[1]) >= 365 * 24 * 3600

    assert submit(session, front.https_url, "Ada over TLS") == "greeted"  # and greeted by name
    assert "Ada over TLS" in stored_usernames(front.database_url)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_plain_http_is_redirected_to_https(front, method):
    response = requests.request(
        method, front.http_url + "/index?from=http", allow_redirects=False, timeout=10
    )
    assert response.status_code == 301
    assert response.headers["Location"] == front.https_url + "/index?from=http"


def test_pages_are_neither_kept_by_shared_caches_nor_compressed(front):
    page = visitor(front).get(front.https_url + "/", headers={"Accept-Encoding": "gzip, br"})
    assert page.headers["Cache-Control"] == "private, no-cache"
    # A page carries a CSRF token: compressed over HTTPS, it could be guessed (BREACH).
    assert "Content-Encoding" not in page.headers


def test_the_scheme_comes_from_nginx_whatever_the_client_says(front):
    page = visitor(front).get(
        front.https_url + "/", headers={"X-Forwarded-Proto": "http"}, timeout=10
    )
    assert "secure" in cookie_attributes(page.headers["Set-Cookie"])


@pytest.mark.parametrize(
    "source, trusted",
    [("127.0.0.1", True), ("127.0.0.2", False)],
    ids=["from the proxy address", "from elsewhere"],
)
def test_forwarded_headers_count_only_from_the_proxy_address(front, source, trusted):
    """A client reaching gunicorn directly: its X-Forwarded-Proto counts only from an
    address in FORWARDED_ALLOW_IPS (default 127.0.0.1, where nginx is on one machine)."""
    port = int(front.hosts[0].address.rpartition(":")[2])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/", headers={"X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        assert response.status == 200
        assert ("secure" in cookie_attributes(response.getheader("Set-Cookie"))) is trusted
    finally:
        conn.close()


def test_the_session_cookie_is_secure_on_https_without_a_setting():
    app = create_app({"SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    over_https = app.test_client().get("/", base_url="https://localhost")
    over_http = app.test_client().get("/", base_url="http://localhost")
    assert "secure" in cookie_attributes(over_https.headers["Set-Cookie"])
    assert "secure" not in cookie_attributes(over_http.headers["Set-Cookie"])


# --- Slow clients ----------------------------------------------------------------------


class SlowClients:
    """Connections that send a request one byte every half second, and never finish it."""

    def __init__(self):
        self.sockets = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.dribble)

    def open(self, port, head, tls=None):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
        sock.sendall(head)
        self.sockets.append(sock)

    def dribble(self):
        while not self.stop.wait(0.5):
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # nginx gave up on it: still_waiting tells
                    sock.sendall(b"a")

    def still_waiting(self):
        """How many nginx still holds open without an answer."""
        waiting = 0
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                sock.recv(1)  # an answer, or b"" for a closed connection
            except (BlockingIOError, ssl.SSLWantReadError):
                waiting += 1
        return waiting

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


def ordinary_requests(url, verify, count, threads=4):
    """count GETs of url by `threads` keep-alive clients: (statuses, seconds each)."""
    results = []

    def client():
        with requests.Session() as session:
            for _ in range(count // threads):
                started = time.monotonic()
                status = session.get(url, verify=verify, timeout=30).status_code
                results.append((status, time.monotonic() - started))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
    return [s for s, _ in results], [seconds for _, seconds in results]


def test_slow_clients_cost_nginx_a_connection_never_a_gunicorn_worker(front):
    """50 clients dribbling headers (40 on HTTPS, 10 on HTTP) and 10 dribbling a POST body,
    held longer than gunicorn's worker timeout, against 4 gunicorn workers in all."""
    https_port = int(front.https_url.rpartition(":")[2])
    http_port = int(front.http_url.rpartition(":")[2])
    tls = ssl.create_default_context(cafile=str(front.certificate))
    tls.set_alpn_protocols(["http/1.1"])
    headers = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    body = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nname="
    )
    slow = SlowClients()
    try:
        for _ in range(40):
            slow.open(https_port, headers, tls)
        for _ in range(10):
            slow.open(http_port, headers)
        for _ in range(10):
            slow.open(https_port, body, tls)
        held_since = time.monotonic()
        slow.thread.start()
        time.sleep(GUNICORN_TIMEOUT + 0.5)

        statuses, seconds = ordinary_requests(front.https_url + "/", str(front.certificate), 100)
        held = time.monotonic() - held_since
        waiting = slow.still_waiting()
    finally:
        slow.close()

    assert statuses == [200] * 100
    assert waiting == 60 and held > GUNICORN_TIMEOUT
    p99 = statistics.quantiles(seconds, n=100, method="inclusive")[98]
    assert p99 < 1.0, f"p99 {p99:.3f} s, slowest {max(seconds):.3f} s"


# --- Assets ----------------------------------------------------------------------------


def test_assets_are_compressed_and_cached_for_a_year(front):
    session = visitor(front)
    assets = DIGESTED_ASSET.findall(session.get(front.https_url + "/", timeout=10).text)
    encodings = ["gzip"] + (["br"] if BROTLI_MODULE.exists() else [])
    types = set()

    for stem, digest, extension in assets:
        url = f"{front.https_url}{stem}-{digest}{extension}"
        plain = session.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
        assert plain.status_code == 200, url
        assert "Content-Encoding" not in plain.headers, url
        assert plain.headers["Cache-Control"] == A_YEAR, url
        assert hashlib.md5(plain.content).hexdigest() == digest, url
        types.add(plain.headers["Content-Type"].partition(";")[0])
        for encoding in encodings:
            packed = session.get(url, headers={"Accept-Encoding": encoding}, stream=True)
            raw = packed.raw.read(decode_content=False)
            assert packed.headers.get("Content-Encoding") == encoding, (url, encoding)
            assert packed.headers["Cache-Control"] == A_YEAR, url
            assert len(raw) < len(plain.content), (url, encoding)
            if encoding == "gzip":
                assert gzip.decompress(raw) == plain.content, url
        # Under its own name, the same file is revalidated rather than kept.
        bare = session.get(front.https_url + stem + extension, timeout=10)
        assert bare.status_code == 200 and bare.content == plain.content, url
        assert "immutable" not in bare.headers.get("Cache-Control", ""), url

    assert {"text/css", "image/svg+xml"} <= types
    assert types & {"application/javascript", "text/javascript"}
    assert len(assets) == 5  # favicon, 2 stylesheets, 2 scripts; the third is made by the app


def test_flask_moments_script_is_compressed_and_revalidated(front):
    session = visitor(front)
    url = front.https_url + "/vendor/flask-moment.js"
    script = session.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert script.status_code == 200
    assert script.headers["Content-Encoding"] == "gzip"
    assert script.headers["Cache-Control"] == "no-cache"
    etag = script.headers["ETag"]
    again = session.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert again.status_code == 304


# --- In a browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium(front):
    require(
        os.path.exists(CHROMIUM),
        f"no Chromium at {CHROMIUM}",
        "apt-get install chromium",
        "HRLLO_REQUIRE_BROWSER",
    )
    with sync_playwright() as playwright:
        # Chromium trusts the stack's certificate: it caches nothing from a site whose
        # certificate error it was told to ignore (ignore_https_errors).
        browser = launch_chromium_trusting(playwright, front.certificate)
        yield browser
        browser.close()


def test_a_repeat_view_fetches_only_the_page(front, chromium):
    context = chromium.new_context()
    try:
        first_view = len(front.access_log())
        context.new_page().goto(front.https_url + "/", wait_until="networkidle")
        repeat_view = len(front.access_log())
        context.new_page().goto(front.https_url + "/", wait_until="networkidle")
        time.sleep(0.5)  # a late request would be logged by now
        log = front.access_log()
    finally:
        context.close()

    assert len(log[first_view:repeat_view]) == 1 + 6  # the page and its 6 assets
    # The digested assets come from the browser's cache; Flask-Moment's script is revalidated.
    requests_and_statuses = sorted(
        re.search(r'"GET (\S+) HTTP/[\d.]+" (\d+)', line).groups() for line in log[repeat_view:]
    )
    assert requests_and_statuses == [("/", "200"), ("/vendor/flask-moment.js", "304")]


# --- Too large -------------------------------------------------------------------------


def test_an_oversized_body_is_refused_by_nginx_before_the_app(front):
    session = visitor(front)
    token = csrf_token(session.get(front.https_url + "/", timeout=10).text)
    before = len(front.access_log())

    response = session.post(
        front.https_url + "/", data={"name": "x" * 5000, "csrf_token": token}, timeout=10
    )

    assert response.status_code == 413
    assert "Request Too Large" in response.text
    assert "nothing was saved" in response.text
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    (line,) = front.logged(before, '"POST / ')
    assert "upstream=-" in line  # no gunicorn host saw it
    assert "x" * 5000 not in stored_usernames(front.database_url)


# --- make stack --------------------------------------------------------------------------


def test_make_stack_serves_your_certificate_and_sigterm_stops_all_of_it(tmp_path):
    http_port, https_port = free_port(), free_port()
    command = [BIN / "python", "-m", "deploy.stack", "--http-port", str(http_port)]
    command += ["--https-port", str(https_port)]
    certificate, key = self_signed_certificate(tmp_path)  # as if from your own CA
    env = project_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/data.sqlite",
            "STACK_TLS_CERT": str(certificate),
            "STACK_TLS_KEY": str(key),
        }
    )
    stderr = tmp_path / "stderr"
    with (
        stderr.open("w") as errors,
        subprocess.Popen(
            command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        ) as process,
    ):
        try:
            printed = ""
            while "Ctrl-C" not in printed and process.poll() is None:
                printed += process.stdout.readline()
            assert f"https://127.0.0.1:{https_port}/" in printed, stderr.read_text()
            masters = [int(pid) for pid in re.findall(r"(?:nginx|gunicorn) (\d+)", printed)]
            every_pid = masters + [pid for master in masters for pid in worker_pids(master)]
            app_ports = [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)\n", printed)]
            assert len(masters) == 3 and len(every_pid) >= 3 + 2 * 2 and len(app_ports) == 2
            served = ssl.get_server_certificate(("127.0.0.1", https_port), timeout=10)
            assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(
                certificate.read_text()
            )

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 128 + signal.SIGTERM
        finally:
            stop_process(process)

    assert [pid for pid in every_pid if Path(f"/proc/{pid}").exists()] == []
    assert [p for p in [http_port, https_port, *app_ports] if port_is_open(p)] == []


def test_lighthouse_finds_nothing_to_improve_in_accessibility_best_practices_and_seo(
    front, chromium
):
    categories = ["accessibility", "best-practices", "seo"]
    report = lighthouse(front.https_url + "/", front.certificate, categories)
    scores = {name: report["categories"][name]["score"] for name in categories}
    assert scores == dict.fromkeys(categories, 1), lighthouse_shortfalls(report)


# --- Scripted clients --------------------------------------------------------------------


def test_a_script_posting_without_a_referer_is_told_why(front):
    session = visitor(front)
    del session.headers["Referer"]
    token = csrf_token(session.get(front.https_url + "/", timeout=10).text)
    response = session.post(
        front.https_url + "/", data={"name": "No Referer", "csrf_token": token}, timeout=10
    )
    assert response.status_code == 400
    assert "The referrer header is missing" in response.text
    assert "No Referer" not in stored_usernames(front.database_url)


def test_the_documented_script_posts_the_form_over_https(front):
    page = (PROJECT / "docs" / "production.md").read_text()
    section = page.partition("## Posting the form from a script")[2]
    script = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script = script.replace('"https://127.0.0.1:8443"', repr(front.https_url))
    script = script.replace('"cert.pem"', repr(str(front.certificate)))
    script = script.replace('"Ada"', '"Ada from a script"')

    exec(script, {})

    assert "Ada from a script" in stored_usernames(front.database_url)


# --- What a hostile client sends -----------------------------------------------------------


@pytest.mark.parametrize(
    "request_line",
    ["GET /index?from=http HTTP/1.1", "GET http://evil.example/index?from=http HTTP/1.1"],
    ids=["Host header", "absolute URL"],
)
def test_the_https_redirect_names_this_site_whatever_the_client_says(front, request_line):
    port = int(front.http_url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode())
        answer = b"".join(iter(lambda: sock.recv(4096), b"")).decode()
    assert answer.startswith("HTTP/1.1 301 ")
    assert f"\r\nLocation: {front.https_url}/index?from=http\r\n" in answer


@pytest.mark.parametrize(
    "cipher, accepted",
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", True),
        ("ECDHE-ECDSA-AES128-SHA", False),  # CBC with SHA-1
        ("ECDHE-ECDSA-AES256-SHA384", False),  # CBC
    ],
)
def test_tls_1_2_offers_only_mozillas_intermediate_ciphers(front, cipher, accepted):
    port = int(front.https_url.rpartition(":")[2])
    tls = ssl.create_default_context(cafile=str(front.certificate))
    tls.maximum_version = ssl.TLSVersion.TLSv1_2
    tls.set_ciphers(cipher)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
            tls.wrap_socket(sock, server_hostname="127.0.0.1") as connection,
        ):
            negotiated = connection.cipher()[0]
    except ssl.SSLError:
        negotiated = None
    assert negotiated == (cipher if accepted else None)


def test_a_malformed_header_is_refused_with_the_sites_headers(front):
    with https_connection(front) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-CTL: a\x01b\r\n\r\n")
        response = http.client.HTTPResponse(connection)
        response.begin()
    assert response.status == 400
    assert response.getheader("Content-Security-Policy") == CONTENT_SECURITY_POLICY
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("X-Frame-Options") == "DENY"


def test_an_oversized_body_over_http2_gets_the_apps_413_page(front, chromium):
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(front.https_url + "/")
        before = front.error_log().count("client intended to send too large body")
        answer = page.evaluate(
            """async () => {
                const response = await fetch("/", {method: "POST", body: "x".repeat(5000)});
                return [response.status, response.headers.get("content-security-policy"),
                        await response.text()];
            }"""
        )
        protocol = page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
    finally:
        context.close()
    status, policy, text = answer
    assert protocol == "h2"
    assert status == 413
    assert "Request Too Large" in text and "nothing was saved" in text
    assert policy == CONTENT_SECURITY_POLICY
    after = front.error_log().count("client intended to send too large body")
    assert after - before == 1  # refused and logged once

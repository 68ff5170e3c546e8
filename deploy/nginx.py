"""nginx in front of the gunicorn hosts: deploy/nginx.conf filled in and started unprivileged.

Debian's nginx, run as an ordinary process with its own prefix (no system file touched).
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from werkzeug.exceptions import RequestEntityTooLarge

import security
import settings
from deploy.hosts import PROJECT, port_is_open, stop_process

NGINX = os.environ.get("HRLLO_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_CONFIG = PROJECT / "deploy" / "nginx.conf"
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so")
PLACEHOLDER = re.compile(r"@[A-Z_]+@")


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
    server_names=None,
    listen_host="127.0.0.1",
):
    """deploy/nginx.conf with its placeholders filled in; brotli where the module is installed.

    listen_host: where nginx listens; a container's nginx listens on every address
    ("0.0.0.0"), and its ports are published on the host's loopback only.
    """
    folders = static_folders or asset_folders()
    # The app's TRUSTED_HOSTS: nginx answers for these names only, and redirects to the first.
    server_names = server_names or settings.trusted_hosts()
    values = {
        "HTTP_LISTEN": f"{listen_host}:{http_port}",
        "HTTPS_LISTEN": f"{listen_host}:{https_port}",
        "SERVER_NAME": server_names[0],
        "SERVER_NAMES": " ".join(server_names),
        "HTTPS_PORT": str(https_port),
        "CONTENT_SECURITY_POLICY": security.CONTENT_SECURITY_POLICY,
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


def the_app():
    """hrllo's app, imported only when needed: importing it reads the environment (a server
    DATABASE_URL wants SECRET_KEY), which the stack sets first."""
    import hrllo

    return hrllo.app


def asset_folders(app=None):
    """Where the files behind each asset URL are, for nginx to serve them from disk."""
    app = app or the_app()
    return {
        "STATIC": app.static_folder,
        "BOOTSTRAP_STATIC": app.blueprints["bootstrap"].static_folder,
        "MOMENT_JS": app.blueprints["vendor"].static_folder,
    }


def publish_assets(folder, app=None):
    """The asset folders, linked file by file into folder (copied across file systems).

    nginx's workers run as an unprivileged user (nobody, when the master is root), which
    may not be allowed into the checkout (a private home folder): they read these instead,
    as a deployment publishes its assets to a folder nginx may read.
    """
    published = {}
    for name, source in asset_folders(app).items():
        published[name] = Path(folder, name.lower())
        shutil.copytree(source, published[name], copy_function=link_or_copy)
    return published


def link_or_copy(source, destination):
    try:
        os.link(source, destination)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, destination)


def write_error_pages(folder, app=None):
    """The app's own 413 page, as a file nginx sends for a body it refuses to pass on."""
    import hrllo  # see the_app

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

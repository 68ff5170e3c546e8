"""compose.yaml's front job: what nginx serves, written into the volume nginx reads.

    TRUSTED_HOSTS=example.com,www.example.com \\
    python -m deploy.containers.front /srv/front --http-port 80 --https-port 443 \\
        --app-server hrllo-1:8000 --app-server hrllo-2:8000 \\
        --certificate /run/secrets/tls_certificate --certificate-key /run/secrets/tls_key

It runs in the app's image, so nginx gets deploy/nginx.conf filled in by the function
`make stack` uses (deploy.nginx.nginx_config), with this image's own assets and 413 page,
answering for the app's TRUSTED_HOSTS (plain HTTP redirects to the first).
Each run writes a new release folder, then points FOLDER/current at it in one step: an
nginx starting meanwhile reads one whole release. Older releases are removed. nginx runs
with FOLDER as its prefix (-p), and its two logs go to the container's output.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from deploy.nginx import nginx_config, publish_assets, write_error_pages


def write_release(folder, **config):
    """A release in folder (assets, 413 page, nginx.conf) whose configuration names every
    file through folder/current; returns the release's path."""
    current = Path(folder, "current")
    release = Path(tempfile.mkdtemp(prefix="release-", dir=folder))
    release.chmod(0o755)  # nginx's workers (nobody) read it
    assets = publish_assets(release / "assets")
    (release / "errors").mkdir()
    write_error_pages(release / "errors")
    (release / "nginx.conf").write_text(
        nginx_config(
            **config,
            error_pages=current / "errors",
            static_folders={name: current / "assets" / path.name for name, path in assets.items()},
            listen_host="0.0.0.0",
            brotli=False,  # the public nginx image has no brotli module
        )
    )
    return release


def publish(folder, release):
    """folder/current now names release, replaced in one rename; other releases go."""
    folder = Path(folder)
    link = folder / f".current-{release.name}"
    link.symlink_to(release.name)
    os.replace(link, folder / "current")
    for old in folder.glob("release-*"):
        if old.name != release.name:
            shutil.rmtree(old)


def prepare_prefix(folder):
    """nginx's prefix: temporary files in tmp/, its logs to the container's output."""
    Path(folder, "tmp").mkdir(exist_ok=True)
    Path(folder, "logs").mkdir(exist_ok=True)
    for log, stream in (("access.log", "/dev/stdout"), ("error.log", "/dev/stderr")):
        if not Path(folder, "logs", log).is_symlink():
            Path(folder, "logs", log).symlink_to(stream)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument("--app-server", action="append", required=True, metavar="HOST:PORT")
    parser.add_argument("--certificate", required=True, help="path in nginx's container")
    parser.add_argument("--certificate-key", required=True, help="path in nginx's container")
    args = parser.parse_args(argv)
    # Importing the app for its assets and 413 page wants a key; the page signs nothing.
    os.environ.setdefault("SECRET_KEY", "unused: the page signs nothing")
    prepare_prefix(args.folder)
    release = write_release(
        args.folder,
        http_port=args.http_port,
        https_port=args.https_port,
        app_servers=args.app_server,
        certificate=args.certificate,
        certificate_key=args.certificate_key,
    )
    publish(args.folder, release)
    print(f"front: {args.folder / 'current'} -> {release.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

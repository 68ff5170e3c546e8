"""Settings from the environment: what create_app reads, the defaults, and the checks.

Every variable is listed in the README's configuration table.
"""

import os
import re
import secrets
import tempfile

import click
from sqlalchemy import make_url

basedir = os.path.abspath(os.path.dirname(__file__))


class ConfigurationError(click.ClickException):
    """A setting the app cannot start without: the `flask` command prints it as one line."""


def database_url(url=None):
    """The SQLAlchemy URL for url, or the SQLite file beside hrllo.py when it is empty."""
    if not url:
        return "sqlite:///" + os.path.join(basedir, "data.sqlite")
    # Heroku-style URLs and bare postgresql:// would pick psycopg2, which is not installed.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def env_flag(value):
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def env_list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def env_count(environ, name, default):
    value = environ.get(name) or str(default)
    if not value.isdigit():
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}")
    return int(value)


# The names this site answers for when TRUSTED_HOSTS is not set: `make run` on this machine.
LOCAL_HOSTS = ["127.0.0.1", "localhost"]


def trusted_hosts(environ=os.environ):
    """The names in a request's Host that this site answers for (Flask's TRUSTED_HOSTS, and
    nginx's server_name): TRUSTED_HOSTS, comma-separated, or else this machine's names."""
    names = [name.lower() for name in env_list(environ.get("TRUSTED_HOSTS"))] or LOCAL_HOSTS
    for name in names:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", name):
            raise ConfigurationError(
                f"TRUSTED_HOSTS names hosts, such as example.com or 192.0.2.1, without a"
                f" scheme, port or trailing dot: not {name!r}"
            )
    return names


def from_environment(environ=os.environ):
    """The settings a deployment gives through its environment (see the README)."""
    return {
        "SQLALCHEMY_DATABASE_URI": database_url(environ.get("DATABASE_URL")),
        "SECRET_KEY": environ.get("SECRET_KEY"),  # None: generated once, see instance_secret_key
        # Keys still accepted, never used to sign: a new SECRET_KEY keeps visitors' cookies.
        "SECRET_KEY_FALLBACKS": env_list(environ.get("SECRET_KEY_FALLBACKS")),
        "SESSION_COOKIE_SECURE": env_flag(environ.get("SESSION_COOKIE_SECURE")),
        # Connections per worker to a server database (a sync worker needs one at a time).
        "DATABASE_POOL_SIZE": env_count(environ, "DATABASE_POOL_SIZE", 1),
        "DATABASE_MAX_OVERFLOW": env_count(environ, "DATABASE_MAX_OVERFLOW", 0),
        # Any other Host gets a 400, so that no page or redirect names it and no form from
        # it passes Flask-WTF's Referer check, which compares with the Host sent.
        "TRUSTED_HOSTS": trusted_hosts(environ),
    }


MISSING_SECRET_KEY = (
    "SECRET_KEY is not set: with a server database every host must be given the same"
    " SECRET_KEY (e.g. the output of: python -c 'import secrets; print(secrets.token_hex(32))')"
)


def instance_secret_key(instance_path):
    """Return the key in instance/secret_key, generating it on first use.

    Written to a temporary file and hard-linked into place, so that several
    server workers starting at once all end up with the same key.
    """
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        os.makedirs(instance_path, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=instance_path)  # created with mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: use its key
        finally:
            os.unlink(tmp)
    with open(path) as f:
        return f.read().strip()


def init_app(app):
    """Check and complete app.config: the secret key, and a server database's pool."""
    config = app.config
    if make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() != "sqlite":
        # Hosts that each generated their own key would refuse each other's forms, silently.
        if not config["SECRET_KEY"]:
            raise ConfigurationError(MISSING_SECRET_KEY)
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
            # A connection the server closed (a restart) is replaced before use, not a 500.
            "pool_pre_ping": True,
            "pool_size": config["DATABASE_POOL_SIZE"],
            "max_overflow": config["DATABASE_MAX_OVERFLOW"],
        }
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = instance_secret_key(app.instance_path)
    if config["SECRET_KEY_FALLBACKS"]:
        # Flask checks the session cookie against the fallbacks, Flask-WTF 1.3 checks CSRF
        # tokens against one key: itsdangerous takes a list, oldest first, signs with the last.
        config.setdefault(
            "WTF_CSRF_SECRET_KEY", [*config["SECRET_KEY_FALLBACKS"], config["SECRET_KEY"]]
        )

"""flask backup FILE and flask restore FILE: a consistent copy of the database, and back.

SQLite: a copy made by SQLite's online backup API. PostgreSQL: pg_dump's custom format,
read back by pg_restore, both found on the PATH. What is refused, and why: docs/backups.md.
"""

import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import click
from alembic.script import ScriptDirectory
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import inspect

# The first bytes of a backup of each: an SQLite database, a pg_dump archive (custom format).
BACKUP_SIGNATURES = {"sqlite": b"SQLite format 3\x00", "postgresql": b"PGDMP"}
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def engine():
    """The engine of the app's Flask-SQLAlchemy instance."""
    return current_app.extensions["sqlalchemy"].engine


def backup_backend():
    name = engine().dialect.name
    if name not in BACKUP_SIGNATURES:
        raise click.ClickException(
            f"flask backup and restore know SQLite and PostgreSQL, not {name}"
        )
    return name


def postgres_tool(program, *args, connect=True):
    """Run pg_dump or pg_restore (on this app's database if connect): its output, or its
    error as one line."""
    path = shutil.which(program)
    if path is None:
        raise click.ClickException(
            f"{program} is not on the PATH: install PostgreSQL's client programs, of the"
            " server's major version or newer (Debian: apt-get install postgresql-client)"
        )
    env = dict(os.environ)
    if connect:
        url = engine().url.set(drivername="postgresql")  # libpq's URL: no driver name
        if url.password:
            env["PGPASSWORD"] = url.password  # not on a command line, where ps shows it
        args = ("--dbname", url.set(password=None).render_as_string(), *args)
    result = subprocess.run([path, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise click.ClickException(" ".join(result.stderr.split()))
    return result.stdout


def sqlite_backup_file(file):
    """A backup file of SQLite, opened read-only: restoring never changes it."""
    return closing(sqlite3.connect(file.resolve().as_uri() + "?mode=ro", uri=True))


def backup_contents(backend, file):
    """The tables in a backup, and the migration revisions its schema is at."""
    if backend == "postgresql":
        tables = re.findall(
            r"^\d+; \d+ \d+ TABLE \S+ (\S+) ",
            postgres_tool("pg_restore", "--list", file, connect=False),
            re.M,
        )
        data = postgres_tool(
            "pg_restore", "--data-only", "--table=alembic_version", "--file=-", file, connect=False
        )
        rows = re.search(r"^COPY .*? FROM stdin;\n(.*?)^\\\.$", data, re.M | re.S)
        return set(tables), rows.group(1).split() if rows else []
    try:
        with sqlite_backup_file(file) as copy:
            tables = {name for (name,) in copy.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in tables:
                return tables, []
            return tables, [
                rev for (rev,) in copy.execute("SELECT version_num FROM alembic_version")
            ]
    except sqlite3.DatabaseError as error:
        raise click.ClickException(f"{file} cannot be read: {error}") from error


def check_backup(file, backend):
    """The revisions of a backup this code can restore; else a one-line error."""
    if not file.is_file():
        raise click.ClickException(f"no backup at {file}")
    with file.open("rb") as f:
        if f.read(len(BACKUP_SIGNATURES[backend])) != BACKUP_SIGNATURES[backend]:
            raise click.ClickException(
                f"{file} is not a backup made by flask backup on {BACKEND_NAMES[backend]}"
            )
    tables, revisions = backup_contents(backend, file)
    if not revisions:
        raise click.ClickException(f"{file} is not a backup of hrllo: no migration ran on it")
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    unknown = set(revisions) - {revision.revision for revision in script.walk_revisions()}
    if unknown and {"roles", "users"} <= tables:
        raise click.ClickException(
            f"{file} comes from a newer release of hrllo: its schema is at revision"
            f" {', '.join(unknown)}, which {script.dir}/versions does not have; restore it"
            " with that release's code"
        )
    if unknown:
        raise click.ClickException(
            f"{file} is a backup of another app: its schema is at revision"
            f" {', '.join(unknown)}, and it has no users and roles tables"
        )
    return revisions, script.get_current_head()


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(file):
    """Write a consistent copy of the database to FILE, while the site serves."""
    backend = backup_backend()
    if not file.parent.is_dir():
        raise click.ClickException(f"no folder {file.parent} to write the backup in")
    partial = file.with_name(file.name + ".partial")  # FILE is whole, or as it was before
    try:
        if backend == "sqlite":
            with (
                closing(sqlite3.connect(engine().url.database)) as source,
                closing(sqlite3.connect(partial)) as copy,
            ):
                source.backup(copy)  # in one step: the database as it was at one instant
                copy.execute("PRAGMA journal_mode=DELETE")  # one file, with no -wal beside it
        else:
            postgres_tool("pg_dump", "--format=custom", "--file", partial)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"Backed up the database to {file}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Restore over the tables the database has now.")
@with_appcontext
def restore(file, replace):
    """Load FILE, a backup written by flask backup, into this empty database."""
    backend = backup_backend()
    revisions, head = check_backup(file, backend)
    if (tables := inspect(engine()).get_table_names()) and not replace:
        raise click.ClickException(
            f"the database is not empty (it has {', '.join(sorted(tables))}): restore into"
            " an empty one, or add --replace"
        )
    if backend == "sqlite":
        with (
            sqlite_backup_file(file) as source,
            closing(sqlite3.connect(engine().url.database)) as target,
        ):
            source.backup(target)
    else:
        # One transaction: a restore that fails half-way leaves the database as it was.
        clean = ["--clean", "--if-exists"] if replace else []
        postgres_tool(
            "pg_restore", "--single-transaction", "--no-owner", "--no-privileges", *clean, file
        )
    upgrade = "" if revisions == [head] else f" (`flask db upgrade` takes it to {head})"
    click.echo(f"Restored {file}: the schema is at revision {', '.join(revisions)}{upgrade}")


def init_app(app):
    app.cli.add_command(backup)
    app.cli.add_command(restore)

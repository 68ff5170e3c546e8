"""flask backup FILE and flask restore FILE: a consistent copy of the database, and back.

SQLite: a copy made by SQLite's online backup API. PostgreSQL: pg_dump's custom format,
read back by pg_restore, both found on the PATH. A backup is restored only when its schema
is exactly what the migrations make at its revision. What is refused, and why:
docs/backups.md.
"""

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing, contextmanager
from pathlib import Path

import click
from alembic.script import ScriptDirectory
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import inspect, make_url, text
from sqlalchemy.exc import SQLAlchemyError

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
        # PostgreSQL itself, not a pooler: pg_dump and pg_restore set session settings.
        direct = os.environ.get("MIGRATION_DATABASE_URL")
        url = make_url(direct) if direct else engine().url
        url = url.set(drivername="postgresql")  # libpq's URL: no driver name
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
    check_schema(file, backend, revisions)
    return revisions, script.get_current_head()


# --- The schema in a backup, against the one the migrations make ---------------------------


def migrated_to(revisions, database_url):
    """Run this code's migrations up to revisions on database_url, as `flask db upgrade`."""
    directory = os.path.abspath(current_app.extensions["migrate"].directory)
    env = {**os.environ, "DATABASE_URL": database_url}
    env.setdefault("SECRET_KEY", secrets.token_hex(16))  # a server database wants one
    for revision in revisions:
        command = [sys.executable, "-m", "flask", "--app", current_app.import_name, "db"]
        result = subprocess.run(
            [*command, "upgrade", "--directory", directory, revision],
            cwd=current_app.root_path,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise click.ClickException(
                f"the migrations to revision {revision} failed on a scratch database: "
                + " ".join(result.stderr.split()[-40:])
            )


def sqlite_schema(file):
    """Every object in an SQLite file (table, index, trigger, view), by name: its kind, its
    table, and its SQL with the spacing made uniform."""
    with sqlite_backup_file(Path(file)) as copy:
        rows = copy.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return {
        name: (kind, table, " ".join((sql or "").split()))
        for kind, name, table, sql in rows
        if not name.startswith("sqlite_stat")  # ANALYZE's statistics: not schema
    }


# A TOC entry's header in pg_restore's and pg_dump's SQL: "-- Name: users; Type: TABLE; ..."
POSTGRES_ENTRY = re.compile(r"^-- (?:Data for )?Name: (.*?); Type: (.*?); Schema: (.*?);", re.M)


# The lines with which pg_dump's SQL (since PostgreSQL 17.6, 16.10, 15.14 ...) fences itself
# against psql meta-commands; their key is random.
PSQL_RESTRICT = re.compile(r"\\(un)?restrict \S+$")


def postgres_schema(sql, schema="public"):
    """Every object in pg_dump's SQL, by kind and name: its statements, without comments
    and the name of the schema it was dumped from."""
    objects = {}
    headers = list(POSTGRES_ENTRY.finditer(sql))
    for header, following in zip(headers, headers[1:] + [None], strict=True):
        name, kind, in_schema = header.groups()
        if (kind, name) in {("SCHEMA", schema), ("COMMENT", f"SCHEMA {schema}")}:
            continue  # the schema the tables are in (public, recreated; or the scratch one)
        if in_schema not in ("-", schema):
            name = f"{in_schema}.{name}"
        body = sql[header.end() : following.start() if following else len(sql)]
        statements = [
            line
            for line in body.splitlines()[1:]  # after the rest of the header line
            if line.strip() and not line.startswith("--") and not PSQL_RESTRICT.match(line)
        ]
        text_ = " ".join(" ".join(statements).replace(f"{schema}.", "public.").split())
        objects[f"{kind.lower()} {name}"] = text_
    return objects


@contextmanager
def scratch_schema():
    """An empty PostgreSQL schema in this database, and a URL whose tables are made in it;
    dropped on exit."""
    name = "hrllo_restore_check_" + secrets.token_hex(4)
    try:
        with engine().begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {name}"))
    except SQLAlchemyError as error:
        raise click.ClickException(
            "the backup's schema is checked in a scratch schema, which this database user"
            f" may not create: {' '.join(str(error.orig).split())}"
        ) from error
    try:
        url = engine().url.update_query_dict({"options": f"-csearch_path={name}"})
        yield name, url.render_as_string(hide_password=False)
    finally:
        with engine().begin() as connection:
            connection.execute(text(f"DROP SCHEMA {name} CASCADE"))


def expected_schema(backend, revisions):
    """The schema this code's migrations make at revisions, on a scratch database."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="hrllo-restore-check-") as folder:
            scratch = Path(folder, "expected.sqlite")
            migrated_to(revisions, f"sqlite:///{scratch}")
            return sqlite_schema(scratch)
    with scratch_schema() as (schema, url):
        migrated_to(revisions, url)
        dumped = postgres_tool(
            "pg_dump", "--schema-only", "--no-owner", "--no-privileges", f"--schema={schema}"
        )
    return postgres_schema(dumped, schema)


def backup_schema(file, backend):
    if backend == "sqlite":
        return sqlite_schema(file)
    sql = postgres_tool(
        "pg_restore",
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--file=-",
        file,
        connect=False,
    )
    return postgres_schema(sql)


def described(backend, name, entry):
    """An object of a schema, as the error names it: "trigger wipe on users"."""
    if backend == "sqlite":
        kind, table, _ = entry
        return f"{kind} {name}" + (f" on {table}" if kind in ("index", "trigger") else "")
    return name


def check_schema(file, backend, revisions):
    """Refuse a backup whose schema is not exactly the one its revision makes: a trigger,
    view or function added, an index dropped or made not unique, a column changed."""
    expected, found = expected_schema(backend, revisions), backup_schema(file, backend)
    differences = []
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            differences.append(f"it has no {described(backend, name, expected[name])}")
        elif name not in expected:
            differences.append(
                f"it has a {described(backend, name, found[name])}, which they do not make"
            )
        elif found[name] != expected[name]:
            differences.append(
                f"its {described(backend, name, found[name])} is not as they make it"
            )
    if differences:
        raise click.ClickException(
            f"{file} is not as hrllo's migrations make a database at revision"
            f" {', '.join(revisions)}: {'; '.join(differences)}. Nothing was restored."
        )


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

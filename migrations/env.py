import fcntl
import logging
import os
from contextlib import contextmanager
from logging.config import fileConfig

import click
from flask import current_app
from sqlalchemy import engine_from_config, make_url, pool
from sqlalchemy.exc import OperationalError

from alembic import context

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
# disable_existing_loggers=False: an app that runs upgrade() in-process keeps its own logger
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger('alembic.env')


def get_engine():
    # Flask-SQLAlchemy 3: get_engine() is deprecated (a warning, an error in our tests)
    return current_app.extensions['migrate'].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


def get_migration_url():
    """MIGRATION_DATABASE_URL: the same database as DATABASE_URL, reached directly.

    Behind a pooler in transaction mode (PgBouncer), the migration lock below, a session
    lock, would be taken on one server connection and released on another. With the
    app's driver: `postgres://` and `postgresql://` name one that is not installed.
    """
    url = os.environ.get('MIGRATION_DATABASE_URL')
    if not url:
        return None
    url = make_url(url).set(drivername=get_engine().url.drivername)
    return url.render_as_string(hide_password=False).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
MIGRATION_URL = get_migration_url()
config.set_main_option('sqlalchemy.url', MIGRATION_URL or get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


# Every host runs `flask db upgrade` as it starts, possibly all at once: each run holds
# a lock for its whole length, so they take turns and the later ones find the schema up
# to date. Any fixed number: only hrllo's migrations take this PostgreSQL lock.
MIGRATION_LOCK_KEY = 0x6872_6C6C_6F  # "hrllo"


@contextmanager
def locked_connection(engine):
    """A connection for the migration run, holding the database's migration lock."""
    database = engine.url.database
    if engine.dialect.name == 'sqlite' and database not in (None, '', ':memory:'):
        # A lock on a file beside the database, taken before connecting: two processes
        # switching a new database to WAL at the same instant can fail, whatever the
        # busy timeout. The system releases it when the file closes or the process dies.
        with open(database + '.migration-lock', 'a') as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            with engine.connect() as connection:
                yield connection
    elif engine.dialect.name == 'postgresql':
        with engine.connect() as connection:
            # A session-level advisory lock: outlives Alembic's own transaction, and the
            # server releases it if this process dies.
            connection.exec_driver_sql(f'SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})')
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()  # a failed migration leaves its transaction aborted
                connection.exec_driver_sql(
                    f'SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})')
                connection.commit()
    else:
        with engine.connect() as connection:
            yield connection


# A migration waiting for a lock on a table makes every later query on that table wait
# behind it, and one holding such a lock blocks them while it runs. On PostgreSQL every
# migration run is bounded by these (PostgreSQL durations: "2s", "500ms", "1min"; "0" for
# no limit): past one, it stops and its transaction is rolled back, so nothing is changed.
LOCK_TIMEOUT = os.environ.get('MIGRATION_LOCK_TIMEOUT') or '2s'
# Under gunicorn's 30 s worker timeout: a visitor kept waiting still gets an answer.
STATEMENT_TIMEOUT = os.environ.get('MIGRATION_STATEMENT_TIMEOUT') or '15s'
# What stopped the migration, by the SQLSTATE of PostgreSQL's error.
TIMED_OUT = {
    '55P03': f'waited longer than MIGRATION_LOCK_TIMEOUT={LOCK_TIMEOUT} for a lock that'
             ' another transaction holds',
    '57014': f'ran a statement for longer than MIGRATION_STATEMENT_TIMEOUT={STATEMENT_TIMEOUT}',
}


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = current_app.extensions['migrate'].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    if MIGRATION_URL:
        # An engine of its own for this one run, as Alembic's own env.py makes.
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix='sqlalchemy.',
            poolclass=pool.NullPool)
    else:
        connectable = get_engine()

    with locked_connection(connectable) as connection:
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )

        try:
            with context.begin_transaction():
                if connection.dialect.name == 'postgresql':
                    # SET LOCAL: this transaction only, not the pooled connection; after the
                    # migration lock, so hosts deploying at once still wait their turn
                    connection.exec_driver_sql(
                        "SELECT set_config('lock_timeout', %s, true),"
                        " set_config('statement_timeout', %s, true)",
                        (LOCK_TIMEOUT, STATEMENT_TIMEOUT))
                context.run_migrations()
        except OperationalError as error:
            stopped_by = TIMED_OUT.get(getattr(error.orig, 'sqlstate', None))
            if stopped_by is None:
                raise
            raise click.ClickException(
                f'the migration {stopped_by}, and was stopped: nothing was changed.'
                ' Run it again later (docs/schema-changes.md)') from error


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

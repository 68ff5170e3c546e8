"""hrllo's production topology on one machine, as `make stack` runs it and the tests use it.

nginx (deploy/nginx.conf) in front of gunicorn hosts (gunicorn.conf.py), on PostgreSQL
through PgBouncer (deploy/pgbouncer.ini): `hosts` serves the app under gunicorn, `nginx`
fills in and starts nginx, `pgbouncer` fills in and starts PgBouncer, `postgres` runs a
throwaway PostgreSQL server, and `stack` puts them together (`python -m deploy.stack`).
"""

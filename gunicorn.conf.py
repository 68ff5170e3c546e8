"""gunicorn settings for hrllo: `gunicorn hrllo:app` reads this file."""

import multiprocessing
import os

bind = os.environ.get("HRLLO_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# gunicorn 27 otherwise shares one control socket between all instances on the machine
control_socket_disable = True
accesslog = os.environ.get("HRLLO_ACCESS_LOG")  # e.g. "-" for stdout; off by default
graceful_timeout = 10

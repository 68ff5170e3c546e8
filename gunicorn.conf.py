"""gunicorn settings for hrllo: `gunicorn hrllo:app` reads this file.

Each setting comes from the environment; an empty variable counts as unset.
"""

import multiprocessing
import os

bind = os.environ.get("HRLLO_BIND") or "127.0.0.1:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# gunicorn 27 otherwise shares one control socket between all instances on the machine
control_socket_disable = True
accesslog = os.environ.get("HRLLO_ACCESS_LOG") or None  # e.g. "-" for stdout; off by default
graceful_timeout = 10

"""gunicorn settings for hrllo: `gunicorn hrllo:app` reads this file.

Each setting comes from the environment; an empty variable counts as unset.
"""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import logs

bind = os.environ.get("HRLLO_BIND") or "127.0.0.1:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# gunicorn 27 otherwise shares one control socket between all instances on the machine
control_socket_disable = True
graceful_timeout = 10

# Logs (docs/operations.md): the error log and the app's lines on stderr, the access log on
# stdout ("-") or in a file; HRLLO_LOG_FORMAT=json makes every line a JSON object.
accesslog = os.environ.get("HRLLO_ACCESS_LOG") or "-"
access_log_format = logs.ACCESS_LOG_FORMAT
logconfig_dict = logs.logging_config(logs.log_format(), accesslog)

# Metrics (prometheus-client's multiprocess mode): each worker writes its counts to files in
# PROMETHEUS_MULTIPROC_DIR, and /metrics adds them up. A deployment sets it to a folder of
# the host's own; without it, a new temporary folder. Set before prometheus_client is first
# imported, in the master, so that every worker forked from it inherits it.
made_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if made_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hrllo-metrics-")

from prometheus_client import multiprocess  # noqa: E402  (after PROMETHEUS_MULTIPROC_DIR)


def on_starting(server):
    """The counts of a previous run are not this one's: the folder starts empty."""
    for counts in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        counts.unlink()


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if made_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

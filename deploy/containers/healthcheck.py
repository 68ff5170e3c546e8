"""The image's HEALTHCHECK: exits 0 when gunicorn, on HRLLO_BIND's port, answers 200."""

import os
import sys
import urllib.request

port = os.environ.get("HRLLO_BIND", "0.0.0.0:8000").rpartition(":")[2]
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4)
except OSError as error:  # refused, timed out, or an HTTP error status such as 503
    sys.exit(f"unhealthy: {error}")

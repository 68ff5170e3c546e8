"""The image's HEALTHCHECK: exits 0 when gunicorn, on HRLLO_BIND's port, answers /livez.

Liveness, not readiness: /livez never touches the database, so a database restart does not
mark every replica unhealthy at once (docs/operations.md). The request names the first of
TRUSTED_HOSTS, as a visitor's would: the app answers no other Host.
"""

import os
import sys
import urllib.request

port = os.environ.get("HRLLO_BIND", "0.0.0.0:8000").rpartition(":")[2]
host = (os.environ.get("TRUSTED_HOSTS") or "127.0.0.1").split(",")[0].strip()
request = urllib.request.Request(f"http://127.0.0.1:{port}/livez", headers={"Host": host})
try:
    urllib.request.urlopen(request, timeout=4)
except OSError as error:  # refused, timed out, or an HTTP error status such as 503
    sys.exit(f"unhealthy: {error}")

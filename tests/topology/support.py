"""What the tests of the production topology share beyond tests/support.py."""

import shutil

from deploy.nginx import NGINX
from tests.support import require


def require_nginx():
    require(
        bool(shutil.which(NGINX)),
        f"no nginx at {NGINX}",
        "apt-get install nginx to test the production stack",
        "HRLLO_REQUIRE_NGINX",
    )

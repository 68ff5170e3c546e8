"""Fixtures of the production topology's tests (tests/conftest.py's are here too)."""

import pytest

from deploy.postgres import postgres_bin, postgres_server
from tests.support import require


@pytest.fixture
def postgres():
    """A PostgreSQL server of the test's own, to stop and restart."""
    require(
        postgres_bin() is not None,
        "no PostgreSQL server binaries",
        "apt-get install postgresql",
        "HRLLO_REQUIRE_POSTGRES",
    )
    with postgres_server() as server:
        yield server

"""pytest configuration for the slixmpp interop suite (see run.sh; helpers in xmpp_helpers.py)."""
import logging
import os
import socket

import pytest

from xmpp_helpers import HOST, PORT


def pytest_configure(config):
    if os.environ.get("INTEROP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)


@pytest.fixture(autouse=True, scope="session")
def _server_reachable():
    """Fail fast (instead of waiting for timeouts) when no server listens."""
    try:
        socket.create_connection((HOST, PORT), timeout=3).close()
    except OSError as e:
        pytest.exit(f"no XMPP server on {HOST}:{PORT} ({e}); start the suite with tests/interop/run.sh", 2)

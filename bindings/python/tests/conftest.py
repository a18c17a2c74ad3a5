import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import marline  # noqa: E402

REPO = HERE.parents[2]


@pytest.fixture
def reactor():
    r = marline.Reactor()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(scope="session")
def echo_client():
    """The C example examples-c/echo_client: $MARLINE_ECHO_CLIENT if set (the Rust test
    runner builds it), else built with the Makefile (`make build/echo_client`)."""
    path = os.environ.get("MARLINE_ECHO_CLIENT")
    if path:
        return path
    subprocess.run(["make", "-s", "-C", str(REPO), "build/echo_client"], check=True)
    return str(REPO / "build" / "echo_client")

"""The CLI sets the process umask to 0o077 (its files are private); put the test process's
umask back after each test so tests elsewhere see the umask they started with."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restore_umask() -> Iterator[None]:
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)

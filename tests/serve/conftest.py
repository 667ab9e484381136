"""The browser tests' fixtures (tests/support/web.py), defined once for every test_web_*
module: imported into each module instead, each would start its own server and its own
Playwright (which refuses to start twice in one process)."""

from tests.support.web import browser, session_for, web_server

__all__ = ["browser", "session_for", "web_server"]

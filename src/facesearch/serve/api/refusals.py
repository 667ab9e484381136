"""Anonymous refusals, logged without letting anyone fill the append-only audit log.

A request refused before anyone is known (no credentials, an unknown or ended session, a
login refused by the rate limit) is counted in memory per (client address, action, reason).
The first of each in a window is logged in full (e.g. ``http.refused``); the others of that
window are only counted, and when the window has passed one ``<action>.summary`` entry (e.g.
``http.refused.summary``) says how many there were, when, and a few of the paths asked. Paths
in the log are cut to :data:`MAX_PATH_CHARS` characters. So a flood of anonymous requests
costs at most two small entries per address, action and reason per window. Refusals of a
known user (a failed CSRF check, a disabled account) are always logged in full.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_PATH_CHARS = 200
MAX_REASON_CHARS = 300
MAX_KEYS = 10_000  # pairs tracked; past this, new addresses share one "(many)" counter
SAMPLE_PATHS = 3
ANONYMOUS = "(anonymous)"
# the reasons an anonymous request is refused (the guard's and the dependencies' words)
NO_CREDENTIALS = "sign in, or send an API token as 'Authorization: Bearer TOKEN'"
SESSION_ENDED = "your session has ended (timed out or logged out); sign in again"
BAD_SCHEME = "use 'Authorization: Bearer TOKEN'"
BAD_TOKEN = "an unknown, revoked or expired API token, or one of a disabled user"

# (actor, action, details): appends one audit entry
Record = Callable[[str, str, dict[str, Any]], None]


def cut(text: str, limit: int = MAX_PATH_CHARS) -> str:
    """``text`` cut to ``limit`` characters (marked with an ellipsis when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Window:
    started: float
    first_at: datetime
    last_at: datetime
    count: int = 0  # refusals counted (not logged) in this window
    paths: list[str] = field(default_factory=list)


class RefusalLog:
    """Counts anonymous refusals and writes the first of a window and then summaries."""

    def __init__(
        self,
        record: Record,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.record = record
        self.window = window
        self.clock = clock
        self.now = now
        self._windows: dict[tuple[str, str, str], _Window] = {}
        self._lock = threading.Lock()

    def refused(
        self,
        address: str,
        reason: str,
        method: str,
        path: str,
        *,
        actor: str = ANONYMOUS,
        action: str = "http.refused",
    ) -> bool:
        """Count one refusal of a caller nobody has authenticated; True when it was logged in
        full (the first of its window, as ``action`` by ``actor``: e.g. the name a rate-limited
        login gave), False when it was only counted. Due summaries are written first."""
        now, at = self.clock(), self.now()
        with self._lock:
            due = self._take_due(now)
            key = (address, action, reason)
            if key not in self._windows and len(self._windows) >= MAX_KEYS:
                key = ("(many)", action, reason)
            window = self._windows.get(key)
            if window is None:
                self._windows[key] = _Window(now, at, at)
            else:
                window.count += 1
                window.last_at = at
                if len(window.paths) < SAMPLE_PATHS:
                    window.paths.append(cut(path))
        for summary_action, summary in due:
            self.record(ANONYMOUS, summary_action, summary)
        if window is None:
            details = {
                "method": cut(method, 20),
                "path": cut(path),
                "address": address,
                "reason": cut(reason, MAX_REASON_CHARS),
            }
            self.record(actor, action, details)
            return True
        return False

    def flush(self) -> int:
        """Write every pending summary now (at shutdown); returns how many were written."""
        with self._lock:
            due = self._take_due(None)
        for action, summary in due:
            self.record(ANONYMOUS, action, summary)
        return len(due)

    def _take_due(self, now: float | None) -> list[tuple[str, dict[str, Any]]]:
        """Remove the windows that have ended (all, when ``now`` is None) and return the
        summaries (``<action>.summary`` and details) of those that counted refusals past their
        first."""
        due: list[tuple[str, dict[str, Any]]] = []
        for key in [
            k for k, w in self._windows.items() if now is None or now - w.started >= self.window
        ]:
            window = self._windows.pop(key)
            if window.count:
                due.append(
                    (
                        f"{key[1]}.summary",
                        {
                            "address": key[0],
                            "reason": cut(key[2], MAX_REASON_CHARS),
                            "count": window.count,
                            "first_at": window.first_at.isoformat(),
                            "last_at": window.last_at.isoformat(),
                            "window_seconds": self.window,
                            "sample_paths": window.paths,
                        },
                    )
                )
        return due

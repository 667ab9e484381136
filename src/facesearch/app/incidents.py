"""Suspending all searching and the incident register (``facesearch.govern.incidents``):
each step one governed transaction with its audit entry."""

from __future__ import annotations

from datetime import datetime

from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.govern import incidents as inc
from facesearch.govern.incidents import IncidentView, NewIncident, SuspensionView


class Incidents:
    """Suspension of searching, and incidents."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _now(self) -> datetime:
        now: datetime = self.ctx.governance.clock()
        return now

    def suspension(self) -> SuspensionView | None:
        """The suspension in force (any signed-in user may know that searching is stopped)."""
        with self.ctx.governance.session() as s:
            return inc.current(s)

    def suspend(self, who: Principal, reason: str) -> SuspensionView:
        now = self._now()
        found: SuspensionView = self.ctx.governance.run(
            who.username,
            "search.suspend",
            {"reason": reason},
            lambda s, a: inc.suspend(s, a, who.username, reason, now),
        )
        return found

    def resume(self, who: Principal, note: str) -> SuspensionView:
        now = self._now()
        found: SuspensionView = self.ctx.governance.run(
            who.username,
            "search.resume",
            {"note": note},
            lambda s, a: inc.resume(s, a, who.username, note, now),
        )
        return found

    def suspensions(self, who: Principal) -> list[SuspensionView]:
        found: list[SuspensionView] = self.ctx.governance.run(
            who.username,
            "search.suspensions",
            {},
            lambda s, a: inc.suspensions(s, who.username),
        )
        return found

    def record(self, who: Principal, new: NewIncident) -> IncidentView:
        now = self._now()
        found: IncidentView = self.ctx.governance.run(
            who.username,
            "incident.record",
            {"title": new.title, "case": new.case},
            lambda s, a: inc.record_incident(s, a, who.username, new, now),
        )
        return found

    def reported(
        self, who: Principal, incident_id: int, reported_to: str, reported_at: datetime | None
    ) -> IncidentView:
        when = reported_at or self._now()
        found: IncidentView = self.ctx.governance.run(
            who.username,
            "incident.report",
            {"incident": incident_id, "reported_to": reported_to},
            lambda s, a: inc.report_incident(s, a, who.username, incident_id, reported_to, when),
        )
        return found

    def close(self, who: Principal, incident_id: int, resolution: str) -> IncidentView:
        now = self._now()
        found: IncidentView = self.ctx.governance.run(
            who.username,
            "incident.close",
            {"incident": incident_id},
            lambda s, a: inc.close_incident(s, a, who.username, incident_id, resolution, now),
        )
        return found

    def list(self, who: Principal, *, open_only: bool = False) -> list[IncidentView]:
        found: list[IncidentView] = self.ctx.governance.run(
            who.username,
            "incident.list",
            {"open_only": open_only},
            lambda s, a: inc.incidents(s, who.username, open_only=open_only),
        )
        return found

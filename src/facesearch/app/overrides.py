"""Supervised quality overrides as the interfaces call them (the rules:
:mod:`facesearch.govern.overrides`): each step one governance transaction, refusals logged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from facesearch.govern.overrides import (
    GRANT,
    REFUSE,
    REQUEST,
    OverrideView,
    decide_override,
    list_overrides,
    request_override,
)

if TYPE_CHECKING:
    from facesearch.app.context import AppContext
    from facesearch.app.principal import Principal


class Overrides:
    """Ask for, decide on and list quality overrides (the search that uses one is an
    ordinary governed search of that probe's face)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def request(
        self,
        who: Principal,
        case: str,
        probe_sha256: str,
        face: int,
        reason: str,
        quality: float | None = None,
    ) -> OverrideView:
        gov = self.ctx.governance
        asked = {"case": case, "probe_sha256": probe_sha256, "face": face}
        found: OverrideView = gov.run(
            who.username,
            REQUEST,
            asked,
            lambda s, a: request_override(
                s,
                a,
                gov.policy,
                who.username,
                case,
                probe_sha256,
                face,
                quality,
                reason,
                gov.clock(),
            ),
        )
        return found

    def decide(self, who: Principal, override_id: int, grant: bool, note: str = "") -> OverrideView:
        gov = self.ctx.governance
        found: OverrideView = gov.run(
            who.username,
            GRANT if grant else REFUSE,
            {"override_id": override_id},
            lambda s, a: decide_override(s, a, who.username, override_id, grant, note, gov.clock()),
        )
        return found

    def list(
        self,
        who: Principal,
        *,
        case: str | None = None,
        status: str | None = None,
        probe_sha256: str | None = None,
    ) -> list[OverrideView]:
        gov = self.ctx.governance
        found: list[OverrideView] = gov.run(
            who.username,
            "quality_override.list",
            {"case": case, "status": status},
            lambda s, _a: list_overrides(
                s, who.username, case=case, status=status, probe_sha256=probe_sha256
            ),
        )
        return found

"""Shared set-up for the victim-identification tests: a real workspace (SQLite, the real
models) with media plugged in as the composition root does it (its case-report sections,
added by ``Workspace.from_settings``),
users, two open cases, and photos from the shared CFP set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facesearch.app.media import MediaService
from facesearch.app.workspace import Workspace


@dataclass
class Setup:
    ws: Workspace
    media: MediaService


def make_workspace(data: Path, pipeline=None) -> Setup:  # type: ignore[no-untyped-def]
    """Users: admin, sup (supervisor), ivy and ian (investigators), aud (auditor). Cases: A
    (ivy assigned) and B (ian assigned), both open."""
    ws = Workspace.open(data)
    if pipeline is not None:
        ws.gallery.pipeline = pipeline
    ws.init("admin")
    g = ws.governance
    g.add_user("admin", "sup", ["supervisor"])
    g.add_user("admin", "ivy", ["investigator"])
    g.add_user("admin", "ian", ["investigator"])
    g.add_user("admin", "aud", ["auditor"])
    for case, who in (("A", "ivy"), ("B", "ian")):
        g.open_case(who, case, "cse-victim-id", "Warrant 7", "identify the child in the material")
        g.approve_case("sup", case)
    return Setup(ws, MediaService(g, ws.gallery))


def cfp_frontal(shared: Path, person: int, photo: int) -> Path:
    return shared / "cfp" / "Data" / "Images" / f"{person:03d}" / "frontal" / f"{photo:02d}.jpg"


def audit_actions(ws: Workspace) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from facesearch.govern.schema import AuditEntry

    with ws.governance.session() as s:
        return [
            (e.actor, e.action)
            for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        ]

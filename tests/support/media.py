"""Shared set-up for the victim-identification tests: a real application (SQLite, the real
models) with media plugged in as the composition root does it (its case-report sections,
added by ``facesearch.app.context.open_governance``), users, two open cases, and photos from
the shared CFP set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support.govern import add_user_approved

from facesearch.app import Service
from facesearch.app.media import MediaService
from facesearch.settings import Settings


@dataclass
class Setup:
    service: Service
    media: MediaService


def make_app(data: Path, pipeline=None, **settings) -> Setup:  # type: ignore[no-untyped-def]
    """Users: admin, sup (supervisor), ivy and ian (investigators), aud (auditor). Cases: A
    (ivy assigned) and B (ian assigned), both open. ``settings``: more settings fields."""
    service = Service.for_cli(Settings(data_dir=data, **settings), pipeline=pipeline)
    service.library.initialise("admin")
    g = service.governance
    add_user_approved(g, "admin", "sup", ["supervisor"])
    g.add_user("admin", "ivy", ["investigator"])
    g.add_user("admin", "ian", ["investigator"])
    g.add_user("admin", "aud", ["auditor"])
    for case, who in (("A", "ivy"), ("B", "ian")):
        g.open_case(who, case, "cse-victim-id", "Warrant 7", "identify the child in the material")
        g.approve_case("sup", case)
    return Setup(service, MediaService(g, service.gallery))


def cfp_frontal(shared: Path, person: int, photo: int) -> Path:
    return shared / "cfp" / "Data" / "Images" / f"{person:03d}" / "frontal" / f"{photo:02d}.jpg"


def audit_actions(service: Service) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from facesearch.govern.schema import AuditEntry

    with service.governance.session() as s:
        return [
            (e.actor, e.action)
            for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        ]

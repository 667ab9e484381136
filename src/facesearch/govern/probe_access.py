"""Reading a search's probes by position, for the results page and the side-by-side
comparison (a single-probe search has one probe, position 1; a multi-probe search lists its
probes in ``gov_search_probes``).

The same rules as reading the search: an active user who may read its case (its assigned
investigators, supervisors, auditors); each read of a probe's picture is audited
(``probe.view``, with the position). A probe whose stored copy retention deleted is refused
with :class:`ProbePurgedError`, in words (the API answers 410 Gone).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.cases import require_readable_case
from facesearch.govern.errors import RefusedError
from facesearch.govern.multisearch_schema import SearchProbe
from facesearch.govern.schema import Probe
from facesearch.govern.searches import require_search
from facesearch.govern.users import require_user
from facesearch.store.crypto import Cipher, maybe_decrypt

ACTION = "probe.view"


class ProbePurgedError(RefusedError):
    """The probe existed; retention deleted its stored copy (HTTP 410)."""


@dataclass(frozen=True)
class ProbeEntry:
    """One probe of a search: its position (1, 2, ...), the face of the photo that was
    searched (None: the largest), its label (file name) and, unless ``purged``, its bytes."""

    position: int
    count: int
    sha256: str
    label: str
    face: int | None
    purged: bool
    data: bytes | None = None


def _entries(session: Session, search_id: int) -> list[tuple[int, Probe | None, int | None, str]]:
    """(position, stored probe, face, label) of every probe of the search, by position."""
    search = require_search(session, ACTION, search_id)
    rows = list(
        session.execute(
            select(SearchProbe)
            .where(SearchProbe.search_id == search_id)
            .order_by(SearchProbe.position)
        ).scalars()
    )
    if not rows:
        return [(1, search.probe, search.face, "")]
    return [
        (
            r.position,
            None if r.probe_id is None else session.get(Probe, r.probe_id),
            r.face,
            r.label,
        )
        for r in rows
    ]


def list_probes(session: Session, actor: str, search_id: int) -> list[ProbeEntry]:
    """The search's probes (without their bytes): not audited, nothing of a probe is read."""
    user = require_user(session, actor, ACTION)
    search = require_search(session, ACTION, search_id)
    require_readable_case(session, user, search.case.number, ACTION)
    entries = _entries(session, search_id)
    return [
        ProbeEntry(
            position,
            len(entries),
            probe.sha256 if probe is not None else search.probe_sha256,
            label,
            face,
            probe is None or probe.data is None,
        )
        for position, probe, face, label in entries
    ]


def read_probe(
    session: Session,
    audit: AuditLog,
    cipher: Cipher | None,
    actor: str,
    search_id: int,
    position: int,
) -> ProbeEntry:
    """The probe at ``position`` with its bytes (decrypted); audited as ``probe.view``."""
    user = require_user(session, actor, ACTION)
    search = require_search(session, ACTION, search_id)
    case = require_readable_case(session, user, search.case.number, ACTION)
    entries = _entries(session, search_id)
    found = [e for e in entries if e[0] == position]
    if not found:
        raise RefusedError(
            ACTION,
            f"no search {search_id} probe {position}: the search has {len(entries)} "
            f"probe{'s' if len(entries) != 1 else ''}",
        )
    _, probe, face, label = found[0]
    if probe is None or probe.data is None:
        when = f" on {probe.purged_at:%Y-%m-%d}" if probe and probe.purged_at else ""
        raise ProbePurgedError(
            ACTION,
            f"probe {position} of search {search_id} is no longer kept: the case's retention "
            f"period deleted it{when} (its SHA-256 stays on record)",
        )
    audit.record(
        actor,
        ACTION,
        {
            "case": case.number,
            "search_id": search_id,
            "position": position,
            "probe_sha256": probe.sha256,
        },
    )
    data = maybe_decrypt(cipher, probe.data, aad=probe.sha256.encode())
    return ProbeEntry(position, len(entries), probe.sha256, label, face, False, data)

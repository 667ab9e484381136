"""The disclosure bundle of a case, for the defence (issue 24, item 7): one signed zip.

Contents (every file listed in ``manifest.json`` with its size and SHA-256):

* ``case.json`` - the case: number, purpose, legal authority, justification, who requested,
  approved and closed it and when, its outcomes;
* ``searches.json`` - every search of the case: who, when, the probe's SHA-256, the model and
  its SHA-256, the thresholds, what was asked and shown, each candidate (rank, face id, score,
  band, image SHA-256, provenance) with every review and every verification;
* ``probes/<search>-<n>-<sha256 prefix>.bin`` - the probe images, decrypted (absent once
  retention purged them: ``searches.json`` says so);
* ``candidates/<face id>.jpg`` - the candidates' face crops, read through the blob store;
* ``models.json`` - each model the searches used: name, version, SHA-256, licence and its
  measured accuracy (:mod:`.accountability`);
* ``audit.jsonl`` - the case's audit entries (with their hashes, so that each can be checked
  against the log) and ``checkpoint.json`` - the latest signed checkpoint of the log;
* ``manifest.json`` and ``manifest.sig`` - the Ed25519 signature (hex) of ``manifest.json``'s
  bytes with the audit checkpoint key (:mod:`.checkpoint`): :func:`verify_bundle` checks it
  against a trusted public key (``facesearch disclosure verify BUNDLE --public-key KEY.pub``).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern import checkpoint as ckpt
from facesearch.govern.accountability import facts_for_model_key
from facesearch.govern.audit import AuditLog, entries, format_ts, jsonable
from facesearch.govern.cases import require_readable_case
from facesearch.govern.multisearch_schema import SearchProbe
from facesearch.govern.outcomes import outcomes_of_case
from facesearch.govern.schema import Case, Probe, Search, Verification
from facesearch.govern.searches import searches_of_case
from facesearch.govern.users import Role, require_user
from facesearch.store.crypto import Cipher, maybe_decrypt

FORMAT = "facesearch-disclosure-1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
EXPORTERS = {Role.SUPERVISOR, Role.AUDITOR}
CropReader = Callable[[str], bytes | None]


def _t(dt: datetime | None) -> str | None:
    return format_ts(dt) if dt is not None else None


def _json(value: Any) -> bytes:
    return (json.dumps(jsonable(value), indent=2, sort_keys=True) + "\n").encode("utf-8")


def _case_doc(session: Session, case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "purpose": case.purpose_key,
        "purpose_name": case.purpose_name,
        "legal_authority": case.legal_authority,
        "justification": case.justification,
        "status": case.status,
        "requested_by": case.requested_by.username,
        "requested_at": _t(case.requested_at),
        "decided_by": case.decided_by.username if case.decided_by else None,
        "decided_at": _t(case.decided_at),
        "decision_note": case.decision_note,
        "closed_by": case.closed_by.username if case.closed_by else None,
        "closed_at": _t(case.closed_at),
        "close_note": case.close_note,
        "outcomes": [
            {"kind": o.kind, "at": _t(o.at), "recorded_by": o.recorded_by, "note": o.note}
            for o in outcomes_of_case(session, case)
        ],
    }


def _probes_of(session: Session, search: Search) -> list[Probe]:
    ids = list(
        session.execute(
            select(SearchProbe.probe_id)
            .where(SearchProbe.search_id == search.id)
            .order_by(SearchProbe.position)
        ).scalars()
    )
    ids = [i for i in ids if i is not None] or [search.probe_id]
    return [p for p in (session.get(Probe, i) for i in ids) if p is not None]


def _search_doc(
    session: Session,
    search: Search,
    files: dict[str, bytes],
    cipher: Cipher | None,
    crop: CropReader,
) -> dict[str, Any]:
    verifs = session.execute(
        select(Verification).where(Verification.search_id == search.id).order_by(Verification.id)
    ).scalars()
    by_candidate: dict[int, list[Verification]] = {}
    for v in verifs:
        by_candidate.setdefault(v.candidate_id, []).append(v)
    probes = []
    for n, p in enumerate(_probes_of(session, search), start=1):
        item: dict[str, Any] = {"sha256": p.sha256, "size": p.size, "file": None}
        if p.data is None:
            item["purged_at"] = _t(p.purged_at)
        else:
            name = f"probes/{search.id}-{n}-{p.sha256[:12]}.bin"
            files[name] = maybe_decrypt(cipher, p.data, aad=p.sha256.encode())
            item["file"] = name
        probes.append(item)
    candidates = []
    for c in search.candidates:
        crop_file = None
        if c.crop:
            name = f"candidates/{c.face_id}.jpg"
            if name not in files:
                data = crop(c.crop)
                if data is not None:
                    files[name] = data
            crop_file = name if name in files else None
        candidates.append(
            {
                "rank": c.rank,
                "face_id": c.face_id,
                "score": c.score,
                "band": c.band,
                "image_sha256": c.image_sha256,
                "provenance": c.provenance,
                "crop_file": crop_file,
                "reviews": [
                    {
                        "decision": r.decision,
                        "note": r.note,
                        "reviewer": r.reviewer.username,
                        "at": _t(r.at),
                        "audit_seq": r.audit_seq,
                    }
                    for r in c.reviews
                ],
                "verifications": [
                    {
                        "verdict": v.verdict,
                        "basis": v.basis,
                        "note": v.note,
                        "verifier": v.verifier.username,
                        "at": _t(v.at),
                        "audit_seq": v.audit_seq,
                    }
                    for v in by_candidate.get(c.id, [])
                ],
            }
        )
    return {
        "search_id": search.id,
        "at": _t(search.at),
        "user": search.user.username,
        "probes": probes,
        "probe_quality": search.probe_quality,
        "model": search.model,
        "model_sha256": search.model_sha256,
        "threshold": search.threshold,
        "thresholds": search.thresholds,
        "k_requested": search.k_requested,
        "k_used": search.k_used,
        "face": search.face,
        "collection": search.collection,
        "min_band_shown": search.min_band_shown,
        "hidden_below_band": search.hidden_below_band,
        "hidden_suppressed": search.hidden_suppressed,
        "policy_sha256": search.policy_sha256,
        "audit_seq": search.audit_seq,
        "results_purged_at": _t(search.results_purged_at),
        "candidates": candidates,
    }


@dataclass(frozen=True)
class Bundle:
    data: bytes
    manifest_sha256: str
    files: int


def build_bundle(
    session: Session,
    audit: AuditLog,
    actor: str,
    number: str,
    key: ckpt.Ed25519PrivateKey,
    now: datetime,
    *,
    cipher: Cipher | None,
    crop: CropReader,
) -> Bundle:
    """The case's disclosure bundle (supervisors and auditors; audited as
    ``case.disclosure``)."""
    action = "case.disclosure"
    user = require_user(session, actor, action, EXPORTERS)
    case = require_readable_case(session, user, number, action)
    files: dict[str, bytes] = {}
    files["case.json"] = _json(_case_doc(session, case))
    searches = searches_of_case(session, case)
    docs = [_search_doc(session, s, files, cipher, crop) for s in searches]
    files["searches.json"] = _json(docs)
    models = {s.model: facts_for_model_key(s.model) for s in searches}
    files["models.json"] = _json(
        [
            {"model": k, "model_sha256": s.model_sha256, "manifest": models[k]}
            for k, s in {s.model: s for s in searches}.items()
        ]
    )
    audit_lines = [
        json.dumps(
            {
                "seq": e.seq,
                "ts": e.ts,
                "actor": e.actor,
                "action": e.action,
                "case": e.case_number,
                "details": e.details,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            },
            sort_keys=True,
        )
        for e in entries(session, case=case.number)
    ]
    files["audit.jsonl"] = ("\n".join(audit_lines) + "\n").encode("utf-8")
    cp = ckpt.latest_recorded(session)
    files["checkpoint.json"] = (cp.to_json() if cp else "null\n").encode("utf-8")
    public_hex = ckpt.public_key_hex(key.public_key())
    manifest = {
        "format": FORMAT,
        "case": case.number,
        "generated_at": format_ts(now),
        "generated_by": actor,
        "public_key": public_hex,
        "fingerprint": ckpt.fingerprint(public_hex),
        "files": [
            {"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for n, b in sorted(files.items())
        ],
    }
    manifest_bytes = _json(manifest)
    signature = key.sign(manifest_bytes).hex()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in sorted(files.items()):
            z.writestr(n, b)
        z.writestr(MANIFEST, manifest_bytes)
        z.writestr(SIGNATURE, signature + "\n")
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    audit.record(
        actor,
        action,
        {
            "case": case.number,
            "files": len(files),
            "searches": len(searches),
            "manifest_sha256": manifest_sha,
            "fingerprint": manifest["fingerprint"],
        },
    )
    return Bundle(buf.getvalue(), manifest_sha, len(files))


def verify_bundle(data: bytes, trusted: ckpt.Ed25519PublicKey) -> list[str]:
    """Why the bundle cannot be trusted under ``trusted`` (empty: its signature verifies and
    every file is as the manifest lists it, none missing and none added)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        return [f"not a zip file: {exc}"]
    with z:
        names = set(z.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            return [f"no {MANIFEST} or {SIGNATURE}: not a disclosure bundle"]
        manifest_bytes = z.read(MANIFEST)
        try:
            signature = bytes.fromhex(z.read(SIGNATURE).decode("ascii").strip())
            trusted.verify(signature, manifest_bytes)
        except (InvalidSignature, ValueError, UnicodeDecodeError):
            return ["the manifest's signature does not verify under the trusted key"]
        try:
            manifest = json.loads(manifest_bytes)
            listed = {f["name"]: f for f in manifest["files"]}
        except (ValueError, KeyError, TypeError):
            return ["the manifest is not a disclosure manifest"]
        problems = []
        for name, f in sorted(listed.items()):
            if name not in names:
                problems.append(f"{name} is listed but missing")
                continue
            if hashlib.sha256(z.read(name)).hexdigest() != f.get("sha256"):
                problems.append(f"{name} was altered (its SHA-256 differs from the manifest's)")
        extra = names - set(listed) - {MANIFEST, SIGNATURE}
        problems += [f"{n} is not listed in the manifest" for n in sorted(extra)]
        return problems

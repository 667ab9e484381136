"""The accountability report of the installation (issue 24, item 7): what is running, how well
it was measured to work, its limits, where its photos come from, the policy in force, and the
incidents and suspensions recorded. JSON, HTML or PDF; counts and facts, never a face.

The models and their measured accuracy come from the model manifest
(``facesearch/models/manifest.json``: each model's name, version, SHA-256, licence, and for a
recognizer its calibration: the thresholds and the true/false accept rates measured at them,
with the data set and the protocol); docs/accuracy.md tells how they were measured.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.govern.audit import format_ts
from facesearch.govern.policy import Policy
from facesearch.govern.schema import Incident, Suspension
from facesearch.models.manifest import ModelSpec, load_manifest
from facesearch.store.schema import Collection, Provenance

SERVICE = "facesearch"
# README.md, "Caveats": the limits every report that leaves the system repeats
LIMITS = (
    "Results are investigative leads, not identifications: a trained person must confirm "
    "every candidate independently (two examiners where the policy requires it).",
    "Children: the models are trained mostly on adults; expect more misses and more false "
    "candidates for children.",
    "Demographic differences: error rates may differ between demographic groups (NIST IR "
    "8280); facesearch has not been measured on a demographically labeled benchmark.",
    "Image quality: small, blurred, strongly turned or badly lit faces give unreliable results; "
    "such faces are flagged and left out of search by default.",
    "Thresholds are calibrated on CFP frontal photos of adults (possible: FAR 1e-3, strong: "
    "FAR 1e-4 per comparison); in a gallery of 100,000 other people about 100 faces reach "
    "'possible' by chance.",
    "Profile faces are matched about 5 points less accurately than frontal ones and are not "
    "searched by default.",
)


# The latest accuracy-by-group summary (``facesearch eval --groups``), in the data directory
ACCURACY_GROUPS_FILE = Path("reports") / "accuracy-groups.json"


def read_accuracy_groups(data_dir: Path) -> dict[str, Any] | None:
    """The latest accuracy-by-group summary stored in ``data_dir`` (None when there is none;
    an unreadable one is reported as such, not hidden)."""
    path = Path(data_dir) / ACCURACY_GROUPS_FILE
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"{path} cannot be read: {exc}"}
    return found if isinstance(found, dict) else {"error": f"{path} is not a JSON object"}


def _groups_rows(summary: dict[str, Any] | None) -> list[list[str]]:
    if not summary:
        return []
    if "error" in summary:
        return [["error", str(summary["error"])]]
    flags = summary.get("flags") or []
    return [
        ["date", str(summary.get("date", ""))],
        ["data set", str(summary.get("dataset", ""))],
        ["model", str(summary.get("model_key", ""))],
        ["group columns", ", ".join(str(c) for c in summary.get("columns") or [])],
        ["disparity factor", str(summary.get("disparity_factor", ""))],
        ["flags", "; ".join(str(f) for f in flags) if flags else "none"],
    ]


def measured_accuracy(spec: ModelSpec) -> dict[str, Any] | None:
    """The accuracy measured for a recognizer (None for a model without a calibration)."""
    cal = spec.calibration
    if not cal:
        return None
    return {
        "dataset": cal.get("dataset"),
        "protocol": cal.get("protocol"),
        "date": cal.get("date"),
        "method": cal.get("method"),
        "band_rule": cal.get("band_rule"),
        "pairs": {"genuine": cal.get("n_genuine"), "impostor": cal.get("n_impostor")},
        "at_thresholds": cal.get("figures", {}),
        "held_out_halves": cal.get("held_out_halves"),
        "see": "docs/accuracy.md",
    }


def model_facts(spec: ModelSpec) -> dict[str, Any]:
    return {
        "key": spec.key,
        "model_key": spec.model_key,
        "kind": spec.kind,
        "name": spec.name,
        "version": spec.version,
        "sha256": spec.sha256,
        "licence": spec.licence,
        "runtime": spec.runtime,
        "thresholds": {k: v for k, v in spec.thresholds.items() if isinstance(v, int | float)},
        "measured_accuracy": measured_accuracy(spec),
    }


def models_facts() -> list[dict[str, Any]]:
    m = load_manifest()
    return [model_facts(spec) for spec in m.models.values()]


def facts_for_model_key(model_key: str) -> dict[str, Any] | None:
    """The manifest's facts for the model a search recorded (``key@sha-prefix``)."""
    for spec in load_manifest().models.values():
        if model_key in (spec.model_key, spec.key) or model_key.startswith(spec.key + "@"):
            return model_facts(spec)
    return None


def data_sources(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            Collection.name,
            Collection.description,
            Collection.created_at,
            func.count(func.distinct(Provenance.image_id)),
            func.min(Provenance.ingested_at),
            func.max(Provenance.ingested_at),
            func.count(func.distinct(Provenance.source_url)),
        )
        .outerjoin(Provenance, Provenance.collection_id == Collection.id)
        .group_by(Collection.id)
        .order_by(Collection.name)
    ).all()
    return [
        {
            "collection": name,
            "description": desc or "",
            "created_at": created.isoformat() if created else None,
            "images": int(images),
            "first_ingested": first.isoformat() if first else None,
            "last_ingested": last.isoformat() if last else None,
            "source_urls": int(urls),
        }
        for name, desc, created, images, first, last, urls in rows
    ]


@dataclass(frozen=True)
class AccountabilityReport:
    data: dict[str, Any]

    def to_html(self) -> str:
        d = self.data
        e = html.escape

        def table(columns: list[str], rows: list[list[Any]]) -> str:
            head = "".join(f"<th>{e(c)}</th>" for c in columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in rows
            )
            return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

        parts = [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>Accountability report: {e(d['service'])}</title></head><body>",
            f"<h1>Accountability report: {e(d['service'])} {e(d['version'])}</h1>",
            f"<p>Generated {e(d['generated_at'])}.</p>",
            "<h2>Models and measured accuracy</h2>",
            table(
                ["model", "kind", "version", "SHA-256", "licence", "measured accuracy"],
                [
                    [m["name"], m["kind"], m["version"], m["sha256"], m["licence"], _acc(m)]
                    for m in d["models"]
                ],
            ),
            *(
                [
                    "<h2>Accuracy by group</h2>",
                    table(["field", "value"], _groups_rows(d.get("accuracy_groups"))),
                ]
                if d.get("accuracy_groups")
                else []
            ),
            "<h2>Limits</h2><ul>",
            *(f"<li>{e(x)}</li>" for x in d["limits"]),
            "</ul><h2>Data sources</h2>",
            table(
                ["collection", "description", "images", "first ingested", "last ingested"],
                [
                    [
                        s["collection"],
                        s["description"],
                        s["images"],
                        s["first_ingested"] or "",
                        s["last_ingested"] or "",
                    ]
                    for s in d["data_sources"]
                ],
            ),
            "<h2>Policy</h2>",
            table(["field", "value"], [[k, v] for k, v in d["policy"].items()]),
            "<h2>Incidents and suspensions</h2>",
            table(["what", "count"], [[k, v] for k, v in d["oversight"].items()]),
            "</body></html>",
        ]
        return "\n".join(parts)

    def to_pdf(self, author: str) -> bytes:
        from facesearch.govern.reports_pdf import Document, Table, render_document

        d = self.data
        doc = Document(
            f"Accountability report: {d['service']} {d['version']}",
            author,
            [f"Generated {d['generated_at']}."],
        )
        doc.tables += [
            Table(
                "Models and measured accuracy",
                ("model", "version", "SHA-256", "licence", "measured accuracy"),
                [
                    (m["name"], m["version"], m["sha256"][:16], m["licence"], _acc(m))
                    for m in d["models"]
                ],
            ),
            *(
                [
                    Table(
                        "Accuracy by group",
                        ("field", "value"),
                        [tuple(r) for r in _groups_rows(d.get("accuracy_groups"))],
                    )
                ]
                if d.get("accuracy_groups")
                else []
            ),
            Table("Limits", ("limit",), [(x,) for x in d["limits"]]),
            Table(
                "Data sources",
                ("collection", "images", "last ingested"),
                [
                    (s["collection"], str(s["images"]), s["last_ingested"] or "")
                    for s in d["data_sources"]
                ],
            ),
            Table("Policy", ("field", "value"), [(k, str(v)) for k, v in d["policy"].items()]),
            Table(
                "Incidents and suspensions",
                ("what", "count"),
                [(k, str(v)) for k, v in d["oversight"].items()],
            ),
        ]
        return render_document(doc)


def _acc(m: dict[str, Any]) -> str:
    acc = m.get("measured_accuracy")
    if not acc:
        return "not measured (detector or secondary model)"
    figs = acc.get("at_thresholds") or {}
    bits = [
        f"TAR {f.get('tar')} at FAR {f.get('far')}"
        for f in figs.values()
        if isinstance(f, dict) and f.get("tar") is not None
    ]
    return f"{acc.get('dataset') or ''}: " + "; ".join(bits)


def build_accountability(
    session: Session,
    policy: Policy,
    version: str,
    now: datetime,
    accuracy_groups: dict[str, Any] | None = None,
) -> AccountabilityReport:
    """The report; ``accuracy_groups``: the latest accuracy-by-group summary, when there is
    one (:func:`read_accuracy_groups`), shown as the section "Accuracy by group"."""
    incidents = session.scalar(select(func.count()).select_from(Incident)) or 0
    serious = session.scalar(
        select(func.count()).select_from(Incident).where(Incident.serious.is_(True))
    )
    open_incidents = session.scalar(
        select(func.count()).select_from(Incident).where(Incident.closed_at.is_(None))
    )
    suspensions = session.scalar(select(func.count()).select_from(Suspension)) or 0
    in_force = session.scalar(
        select(func.count()).select_from(Suspension).where(Suspension.ended_at.is_(None))
    )
    data = {
        "service": SERVICE,
        "version": version,
        "generated_at": format_ts(now),
        "models": models_facts(),
        "limits": list(LIMITS),
        "accuracy_groups": accuracy_groups,
        "data_sources": data_sources(session),
        "policy": {
            "sha256": policy.sha256,
            "source": policy.source,
            "purposes": ", ".join(p.key for p in policy.purposes),
            # a jurisdiction's profile, when the policy names one
            "profile": str(getattr(policy, "profile", "") or ""),
        },
        "oversight": {
            "incidents": int(incidents),
            "serious_incidents": int(serious or 0),
            "open_incidents": int(open_incidents or 0),
            "suspensions": int(suspensions),
            "suspended_now": int(in_force or 0),
        },
    }
    return AccountabilityReport(data)

"""Authorisations over HTTP (EU profile: urgent use allowed, 48 hours): a search without one
is refused; urgent use lets it run but blocks the report export and shows the deadline to
supervisors; past the deadline the searches are deleted and a signed receipt is downloadable
and verifies under the checkpoint public key; the Art. 12(3) record of a search."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from tests.conftest import write_image
from tests.support.api import ApiEnv, api_env

from facesearch.govern.audit import utc_now
from facesearch.govern.policy import default_policy
from facesearch.govern.receipts import verify_receipt

EU = '\n[authorisation]\nrequired = "before_or_urgent"\nurgent_hours = 48\n'
ROLES = ("admin", "inv", "inv2", "sup", "aud")


@dataclass
class World:
    env: ApiEnv
    tokens: dict[str, str]
    probe: bytes
    key: Ed25519PrivateKey

    def client(self, role: str | None) -> TestClient:
        client = self.env.client()
        if role:
            client.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return client

    def search(self, number: str = "C-1") -> Any:
        files = {"probe": ("p.jpg", self.probe, "image/jpeg")}
        return self.client("inv").post(f"/api/v1/cases/{number}/searches", files=files)


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, pipeline: Any, astronaut: np.ndarray
) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("authz")
    photos = tmp / "photos"
    write_image(photos / "astronaut.jpg", astronaut)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    text = default_policy().text + EU
    with api_env(
        tmp,
        passwords=(),
        policy_text=text,
        pipeline=pipeline,
        ingest_roots=[photos],
        audit_key_pem=pem,
    ) as env:
        env.ingest([photos], collection="authz", workers=0)
        gov = env.service.governance
        tokens = {n: gov.create_token(n, n, "authz")[0] for n in ROLES}
        for number in ("C-1", "C-2"):
            gov.open_case("inv", number, "threat-to-life", "warrant 7", "authorisation test")
            gov.approve_case("sup", number, "ok")
        yield World(env, tokens, _jpeg(astronaut), key)


def test_urgent_use_past_its_deadline_is_deleted_with_a_verifiable_receipt(world: World) -> None:
    r = world.search()
    assert r.status_code == 403 and "no granted authorisation" in r.json()["detail"]
    inv = world.client("inv")
    r = inv.post("/api/v1/cases/C-1/authorisations", data={"kind": "urgent"})
    assert r.status_code == 201, r.text
    urgent = r.json()
    assert urgent["awaiting"] and urgent["deadline_at"]
    r = world.search()
    assert r.status_code == 201, r.text
    search = r.json()
    assert search["candidates"]
    # the export waits for the authorisation; the supervisors see the deadline
    r = world.client("sup").get("/api/v1/cases/C-1/report")
    assert r.status_code == 403 and "cannot be exported" in r.json()["detail"]
    r = world.client("sup").get("/api/v1/authorisations/deadlines")
    assert [a["id"] for a in r.json()] == [urgent["id"]]
    assert world.client("inv").get("/api/v1/authorisations/deadlines").status_code == 403
    assert world.client("inv").post("/api/v1/authorisations/enforce").status_code == 403
    # the deadline passes
    gov = world.env.service.governance
    clock = gov.clock
    later = utc_now() + timedelta(hours=48, minutes=1)
    gov.clock = lambda: later
    try:
        r = world.client("admin").post("/api/v1/authorisations/enforce")
        assert r.status_code == 200, r.text
        (made,) = r.json()
        assert made["signed"] and made["searches"] == [search["search_id"]]
        r = world.client("sup").get(f"/api/v1/receipts/{made['id']}")
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        document = r.json()
        assert verify_receipt(document, world.key.public_key()) == []
        assert document["receipt"]["searches"][0]["probe_sha256"] == search["probe_sha256"]
        assert world.client("inv2").get(f"/api/v1/receipts/{made['id']}").status_code == 404
        # the record of the search: its results gone, the expired urgent use named
        r = world.client("inv").get(f"/api/v1/searches/{search['search_id']}/record")
        assert r.status_code == 200, r.text
        rec = r.json()
        assert rec["candidates"] == [] and rec["results_deleted_at"]
        assert rec["authorisation"]["status"] == "expired"
        assert rec["probe"]["kept"] is False
        # searching needs a new authorisation
        assert world.search().status_code == 403
        assert world.env.service.authorisations.enforce_due() == 0  # done: nothing due
        listed = world.client("sup").get("/api/v1/cases/C-1/authorisations").json()
        assert listed[0]["status"] == "expired" and listed[0]["receipt_id"] == made["id"]
    finally:
        gov.clock = clock


def test_warrant_with_scan_and_the_search_record(world: World) -> None:
    inv = world.client("inv")
    bad = inv.post(
        "/api/v1/cases/C-2/authorisations",
        data={"kind": "judicial_warrant", "authority": "Court", "reference": "W-9"},
        files={"scan": ("w.txt", b"plain text", "text/plain")},
    )
    assert bad.status_code == 415
    pdf = b"%PDF-1.4 warrant W-9"
    r = inv.post(
        "/api/v1/cases/C-2/authorisations",
        data={
            "kind": "judicial_warrant",
            "authority": "Court",
            "reference": "W-9",
            "issued_on": "2026-12-01",
        },
        files={"scan": ("w.pdf", pdf, "application/pdf")},
    )
    assert r.status_code == 201, r.text
    auth = r.json()
    assert auth["status"] == "granted" and auth["scan_type"] == "application/pdf"
    assert world.client("inv2").get("/api/v1/cases/C-2/authorisations").status_code == 404
    scan = world.client("sup").get(f"/api/v1/authorisations/{auth['id']}/scan")
    assert scan.status_code == 200 and scan.content == pdf
    assert scan.headers["content-disposition"].startswith("attachment")
    r = world.client("sup").post(f"/api/v1/authorisations/{auth['id']}/validate")
    assert r.status_code == 200 and r.json()["validated_by"] == "sup"
    r = world.search("C-2")
    assert r.status_code == 201, r.text
    assert world.client("sup").get("/api/v1/cases/C-2/report").status_code == 200
    sid = r.json()["search_id"]
    rec = world.client("aud").get(f"/api/v1/searches/{sid}/record").json()
    assert rec["authorisation"]["reference"] == "W-9"
    assert rec["started_at"] <= rec["ended_at"] and rec["gallery_generation"] >= 1
    assert rec["candidates"] and rec["probe"]["sha256"] == r.json()["probe_sha256"]
    assert world.client("inv2").get(f"/api/v1/searches/{sid}/record").status_code == 404
    # a re-index is a new version of the gallery: the next search's record says so
    service = world.env.service
    service.library.reindex(service.accounts.principal("admin", "token"))
    again = world.search("C-2").json()["search_id"]
    rec2 = world.client("aud").get(f"/api/v1/searches/{again}/record").json()
    assert rec2["gallery_generation"] > rec["gallery_generation"]

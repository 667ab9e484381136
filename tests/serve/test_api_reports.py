"""The reports that leave the system over HTTP: case outcomes, the annual report (JSON, CSV,
PDF), the public-records export (only the allowed fields), the disclosure bundle (a signed zip
that verifies) and the accountability report, for the roles that may have them."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from tests.support.api import ApiEnv, api_env

from facesearch.govern.audit import entries
from facesearch.govern.disclosure import verify_bundle

ROLES = ("admin", "inv", "sup", "aud")
YEAR = datetime.now(UTC).year


@dataclass
class World:
    env: ApiEnv
    tokens: dict[str, str]
    key: Ed25519PrivateKey

    def client(self, role: str | None) -> TestClient:
        client = self.env.client()
        if role:
            client.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("reports")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with api_env(
        tmp, passwords=(), audit_key_pem=pem, reports_public_fields=["date", "purpose", "outcomes"]
    ) as env:
        gov = env.service.governance
        tokens = {n: gov.create_token(n, n, "reports")[0] for n in ROLES}
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 7", "reports test")
        gov.approve_case("sup", "C-1", "ok")
        yield World(env, tokens, key)


def test_outcomes_over_http(world: World) -> None:
    r = world.client("inv").post("/api/v1/cases/C-1/outcomes", json={"kind": "arrest"})
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "arrest" and r.json()["recorded_by"] == "inv"
    assert (
        world.client("inv").post("/api/v1/cases/C-1/outcomes", json={"kind": "x"}).status_code
        == 422
    )
    for role in ("admin", "aud"):
        r = world.client(role).post("/api/v1/cases/C-1/outcomes", json={"kind": "charge"})
        assert r.status_code == 403, role
    r = world.client("sup").post(
        "/api/v1/cases/C-1/outcomes", json={"kind": "charge", "note": "at close"}
    )
    assert r.status_code == 201
    listed = world.client("aud").get("/api/v1/cases/C-1/outcomes").json()
    assert [o["kind"] for o in listed] == ["arrest", "charge"]
    assert world.client("admin").get("/api/v1/cases/C-1/outcomes").status_code == 404


def test_annual_report_and_public_records(world: World) -> None:
    world.client("sup").post("/api/v1/cases/C-1/outcomes", json={"kind": "conviction"})
    assert world.client("inv").get(f"/api/v1/reports/annual?year={YEAR}").status_code == 403
    assert world.client("aud").get("/api/v1/reports/annual").status_code == 422
    r = world.client("aud").get(f"/api/v1/reports/annual?year={YEAR}")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["totals"]["cases_opened"] == 1 and d["outcomes"]["conviction"] >= 1
    assert d["by_category"]["threat-to-life"]["cases_opened"] == 1
    r = world.client("sup").get(f"/api/v1/reports/annual?year={YEAR}&format=csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert "inv" not in r.text.split("\n", 1)[1] and "C-1" not in r.text
    r = world.client("admin").get(f"/api/v1/reports/annual?year={YEAR}&format=pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    r = world.client("aud").get(
        f"/api/v1/reports/public-records?start={YEAR}-01-01&end={YEAR + 1}-01-01"
    )
    assert r.status_code == 200, r.text
    assert next(csv.reader(io.StringIO(r.text))) == ["date", "purpose", "outcomes"]
    assert world.client("inv").get(f"/api/v1/reports/public-records?year={YEAR}").status_code == 403
    with world.env.service.governance.session() as s:
        actions = [e.action for e in entries(s, actor="aud")]
    assert "report.public_records" in actions and "report.annual" in actions


def test_disclosure_bundle_is_signed_and_verifies(world: World) -> None:
    for role in ("admin", "inv"):
        assert world.client(role).get("/api/v1/cases/C-1/disclosure").status_code == 403
    assert world.client("aud").get("/api/v1/cases/NOPE/disclosure").status_code in (403, 404)
    r = world.client("aud").get("/api/v1/cases/C-1/disclosure")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert verify_bundle(r.content, world.key.public_key()) == []
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert json.loads(z.read("case.json"))["number"] == "C-1"
    assert json.loads(z.read("searches.json")) == []


def test_accountability_report(world: World) -> None:
    assert world.client("inv").get("/api/v1/reports/accountability").status_code == 403
    r = world.client("admin").get("/api/v1/reports/accountability")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["service"] == "facesearch" and d["models"] and d["limits"]
    assert d["policy"]["sha256"] == world.env.service.governance.policy.sha256
    html = world.client("sup").get("/api/v1/reports/accountability?format=html")
    assert html.status_code == 200 and "<h2>Models and measured accuracy</h2>" in html.text
    pdf = world.client("aud").get("/api/v1/reports/accountability?format=pdf")
    assert pdf.content.startswith(b"%PDF")

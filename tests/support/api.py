"""Helpers for the API tests: a real application (SQLite or PostgreSQL catalog) with one user
per role, the FastAPI app over it, and signed-in clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from tests.support.govern import add_user_approved

from facesearch.app import Service
from facesearch.serve.api.app import create_app
from facesearch.serve.api.security import CSRF_HEADER
from facesearch.settings import Settings

PASSWORD = "correct horse battery staple"
USERS = {
    "admin": ["administrator"],
    "inv": ["investigator"],
    "inv2": ["investigator"],
    "sup": ["supervisor"],
    "aud": ["auditor"],
}


@dataclass
class ApiEnv:
    settings: Settings
    service: Service
    app: Any
    static_dir: Path

    def ingest(self, sources: list[Path], **options: Any) -> Any:
        """Ingest ``sources`` now, as ``admin`` (the CLI's way in: no password)."""
        admin = self.service.accounts.principal("admin", "cli")
        return self.service.library.ingest(admin, sources, **options)

    def client(self, username: str | None = None) -> TestClient:
        """A client signed in as ``username`` (a browser session with its CSRF header), or
        anonymous when None."""
        client = TestClient(self.app, base_url="http://testserver")
        if username:
            login(client, username)
        return client


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    client.headers[CSRF_HEADER] = body["csrf_token"]
    return body


def make_settings(data_dir: Path, **extra: Any) -> Settings:
    given: dict[str, Any] = {
        "environment": "development",
        "search_workers": 1,
        "search_queue_size": 8,
        "ingest_workers": 0,
        **extra,
    }
    return Settings(data_dir=data_dir, **given)


@contextmanager
def api_env(
    tmp_path: Path,
    database_url: str | None = None,
    *,
    passwords: tuple[str, ...] | None = None,
    policy_text: str | None = None,
    pipeline: Any = None,
    **extra: Any,
) -> Iterator[ApiEnv]:
    """An application with one user per role (``passwords``: who gets :data:`PASSWORD`,
    default everyone; argon2id costs about a second per hash on a loaded machine).
    ``pipeline``: face models already loaded, for the gallery to use."""
    data_dir = tmp_path / "data"
    static = tmp_path / "static"
    static.mkdir(exist_ok=True)
    (static / "index.html").write_text("<!doctype html><title>facesearch</title>", "utf-8")
    (static / "app.js").write_text("console.log('facesearch');", "utf-8")
    settings = make_settings(data_dir, database_url=database_url, **extra)
    if policy_text is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "policy.toml").write_text(policy_text, "utf-8")
    service = Service(settings, pipeline=pipeline)
    service.library.initialise("admin", PASSWORD)
    for name, roles in USERS.items():
        if name != "admin":
            given = passwords is None or name in passwords
            add_user_approved(service.governance, "admin", name, roles, PASSWORD if given else None)
    app = create_app(settings, service=service, static_dir=static)
    try:
        yield ApiEnv(settings, service, app, static)
    finally:
        service.close()


def open_case(env: ApiEnv, number: str = "C-1", investigator: str = "inv") -> None:
    """An open, approved case requested by (so assigned to) ``investigator``, via the API."""
    inv = env.client(investigator)
    r = inv.post(
        "/api/v1/cases",
        json={
            "number": number,
            "purpose": "threat-to-life",
            "legal_authority": "warrant 42",
            "justification": "a test case",
        },
    )
    assert r.status_code == 201, r.text
    sup = env.client("sup")
    assert sup.post(f"/api/v1/cases/{number}/approve", json={"note": "ok"}).status_code == 200

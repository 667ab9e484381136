"""Security of the HTTP server: CSRF, headers on every response, session fixation, login rate
limit, session timeouts, audit of refused requests, case isolation, upload limits, and the
settings check that refuses a default secret outside development."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.api import PASSWORD, ApiEnv, api_env, open_case

from facesearch.errors import ConfigError
from facesearch.govern.schema import AuditEntry
from facesearch.serve.api.app import create_app
from facesearch.serve.api.refusals import RefusalLog
from facesearch.serve.api.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginRateLimiter,
)
from facesearch.settings import DEVELOPMENT_SECRET, Settings

CASE_BODY = {
    "number": "S-1",
    "purpose": "threat-to-life",
    "legal_authority": "warrant 7",
    "justification": "security test case",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("security"), passwords=("inv", "sup")) as e:
        yield e


@pytest.fixture(autouse=True)
def fresh_limiter(env: ApiEnv) -> None:
    env.app.state.login_limiter = LoginRateLimiter(5, 60.0)


def audit_entries(env: ApiEnv, action: str) -> list[dict[str, Any]]:
    import json

    with env.service.governance.session() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()
        return [{"actor": r.actor, **json.loads(r.details)} for r in rows]


# --- CSRF ------------------------------------------------------------------------------------


def test_state_change_without_csrf_header_is_refused_and_logged(env: ApiEnv) -> None:
    client = env.client("inv")
    del client.headers[CSRF_HEADER]
    before = len(audit_entries(env, "http.refused"))
    r = client.post("/api/v1/cases", json={**CASE_BODY, "number": "CSRF-1"})
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]
    r = client.post(
        "/api/v1/cases", json={**CASE_BODY, "number": "CSRF-1"}, headers={CSRF_HEADER: "forged"}
    )
    assert r.status_code == 403
    refused = audit_entries(env, "http.refused")
    assert len(refused) == before + 2
    assert refused[-1]["actor"] == "inv" and "CSRF" in refused[-1]["reason"]
    assert refused[-1]["path"] == "/api/v1/cases"
    # nothing was created; with the right header it is
    assert client.get("/api/v1/cases/CSRF-1").status_code == 404
    r = client.post(
        "/api/v1/cases",
        json={**CASE_BODY, "number": "CSRF-1"},
        headers={CSRF_HEADER: client.get("/api/v1/auth/me").json()["csrf_token"]},
    )
    assert r.status_code == 201


def test_logout_needs_csrf_too(env: ApiEnv) -> None:
    client = env.client("sup")
    token = client.headers.pop(CSRF_HEADER)
    assert client.post("/api/v1/auth/logout").status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 200  # still signed in
    assert client.post("/api/v1/auth/logout", headers={CSRF_HEADER: token}).status_code == 204


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [
        ("/", False),
        ("/app.js", False),
        ("/some/spa/route", False),
        ("/openapi.json", False),
        ("/api/v1/health", False),
        ("/api/v1/cases", False),  # 401
        ("/api/v1/cases", True),
        ("/api/v1/nope", True),  # 404
    ],
)
def test_security_headers_on_every_response(env: ApiEnv, path: str, signed_in: bool) -> None:
    client = env.client("inv") if signed_in else env.client()
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert "server" not in r.headers
    if path.startswith("/api/"):
        assert "no-store" in r.headers["cache-control"]


def test_session_cookie_flags(env: ApiEnv) -> None:
    client = env.client()
    r = client.post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session and "SameSite=strict" in session.replace("Strict", "strict")
    assert "Secure" not in session  # plain HTTP here
    https = env.client()
    https.base_url = https.base_url.copy_with(scheme="https")
    r = https.post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
    session = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "Secure" in session


# --- sessions --------------------------------------------------------------------------------


def _session_set(r: Any) -> str:
    header = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    return str(header.split(";", 1)[0].split("=", 1)[1])


def test_login_issues_a_new_session_id(env: ApiEnv) -> None:
    """Session fixation: an id planted before login is never the one used after it."""
    body = {"username": "inv", "password": PASSWORD}
    client = env.client()
    r = client.post("/api/v1/auth/login", json=body, cookies={SESSION_COOKIE: "planted-id"})
    first = _session_set(r)
    assert first and first != "planted-id"
    r = client.post("/api/v1/auth/login", json=body, cookies={SESSION_COOKIE: first})
    second = _session_set(r)
    assert second != first
    stale = env.client()
    stale.cookies.set(SESSION_COOKIE, first)
    assert stale.get("/api/v1/auth/me").status_code == 401  # the old session ended at login
    fresh = env.client()
    fresh.cookies.set(SESSION_COOKIE, second)
    assert fresh.get("/api/v1/auth/me").status_code == 200
    planted = env.client()
    planted.cookies.set(SESSION_COOKIE, "planted-id")
    assert planted.get("/api/v1/auth/me").status_code == 401


def test_logout_ends_the_session_on_the_server(env: ApiEnv) -> None:
    client = env.client("inv")
    sid = client.cookies.get(SESSION_COOKIE)
    assert client.post("/api/v1/auth/logout").status_code == 204
    replay = env.client()
    replay.cookies.set(SESSION_COOKIE, sid)
    assert replay.get("/api/v1/auth/me").status_code == 401


def test_idle_and_absolute_timeouts_from_the_policy(env: ApiEnv) -> None:
    sessions = env.app.state.sessions
    assert sessions.idle == timedelta(minutes=30)  # the default policy's [access]
    assert sessions.absolute == timedelta(hours=12)
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    sessions.clock = lambda: now[0]
    try:
        client = env.client("inv")
        now[0] += timedelta(minutes=29)
        assert client.get("/api/v1/auth/me").status_code == 200  # touched: idle clock restarts
        now[0] += timedelta(minutes=29)
        assert client.get("/api/v1/auth/me").status_code == 200
        now[0] += timedelta(minutes=31)
        r = client.get("/api/v1/auth/me")
        assert r.status_code == 401 and "ended" in r.json()["detail"]
        # absolute: used every 20 minutes, still ends 12 hours after login
        client = env.client("inv")
        for _ in range(35):
            now[0] += timedelta(minutes=20)
            assert client.get("/api/v1/auth/me").status_code == 200
        now[0] += timedelta(minutes=20)  # 12 h after login
        assert client.get("/api/v1/auth/me").status_code == 401
    finally:
        sessions.clock = lambda: datetime.now(UTC)


# --- login rate limit ------------------------------------------------------------------------


def test_login_rate_limited_per_account(env: ApiEnv) -> None:
    client = env.client()
    for _ in range(5):
        r = client.post("/api/v1/auth/login", json={"username": "sup", "password": "wrong pw"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "sup", "password": PASSWORD})
    assert r.status_code == 429  # even the right password, until the minute is over
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert audit_entries(env, "authenticate.refused")[-1]["reason"].startswith("too many")


def test_login_rate_limited_per_address(env: ApiEnv) -> None:
    client = env.client()
    for i in range(5):  # five failures on other accounts lock no one else out
        r = client.post("/api/v1/auth/login", json={"username": f"nobody{i}", "password": "x"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
    assert r.status_code == 200
    env.app.state.login_limiter = LoginRateLimiter(5, 60.0, address_limit=5)
    for i in range(5):  # the address's own, higher ceiling (here lowered to 5)
        r = client.post("/api/v1/auth/login", json={"username": f"nobody{i}", "password": "x"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
    assert r.status_code == 429


# --- refusals are audited; credentials are needed ---------------------------------------------


def test_request_without_credentials_is_refused_and_logged(env: ApiEnv) -> None:
    env.app.state.refusals = RefusalLog(lambda a, act, d: env.service.governance.record(a, act, d))
    r = env.client().get("/api/v1/cases")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    last = audit_entries(env, "http.refused")[-1]
    assert last["actor"] == "(anonymous)" and last["path"] == "/api/v1/cases"
    assert last["address"] == "testclient"


def test_a_bare_user_name_is_no_identity(env: ApiEnv) -> None:
    client = env.client()
    for headers in ({"X-User": "admin"}, {"Authorization": "admin"}, {"Authorization": "Basic x"}):
        assert client.get("/api/v1/users", headers=headers).status_code == 401


# --- case isolation --------------------------------------------------------------------------


def test_investigator_never_sees_another_case(env: ApiEnv) -> None:
    open_case(env, "ISO-1", "inv")
    other = env.client("sup")  # sup is no investigator: use the service for a second one
    assert other.get("/api/v1/cases/ISO-1").status_code == 200
    gov = env.service.governance
    gov.open_case("inv2", "ISO-2", "threat-to-life", "warrant 9", "the other case here")
    gov.approve_case("sup", "ISO-2", "ok")
    inv = env.client("inv")
    listed = {c["number"] for c in inv.get("/api/v1/cases").json()["items"]}
    assert "ISO-1" in listed and "ISO-2" not in listed
    # not visible is not found: the same 404 as for a case that does not exist
    assert inv.get("/api/v1/cases/ISO-2").status_code == 404
    assert inv.get("/api/v1/cases/ISO-2/searches").status_code == 404
    assert inv.get("/api/v1/cases/ISO-2/report").status_code == 404


# --- uploads ---------------------------------------------------------------------------------


def test_probe_too_large_is_413_and_wrong_type_415(env: ApiEnv) -> None:
    open_case(env, "UP-1", "inv")
    inv = env.client("inv")
    limit = env.settings.max_probe_bytes
    big = b"\xff\xd8\xff" + b"0" * limit
    r = inv.post("/api/v1/cases/UP-1/searches", files={"probe": ("big.jpg", big, "image/jpeg")})
    assert r.status_code == 413 and str(limit) in r.json()["detail"]
    r = inv.post(
        "/api/v1/cases/UP-1/searches", files={"probe": ("x.txt", b"hello there", "text/plain")}
    )
    assert r.status_code == 415
    # a text file named .jpg is still not an image (the bytes decide)
    r = inv.post(
        "/api/v1/cases/UP-1/searches",
        files={"probe": ("x.jpg", io.BytesIO(b"not a jpeg at all"), "image/jpeg")},
    )
    assert r.status_code == 415


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, DEVELOPMENT_SECRET, "short"])
def test_production_refuses_a_default_or_missing_secret(tmp_path: Path, secret: str | None) -> None:
    kwargs: dict[str, Any] = {"data_dir": tmp_path, "environment": "production"}
    if secret is not None:
        kwargs["secret_key"] = secret
    with pytest.raises(ConfigError, match="FACESEARCH_SECRET_KEY"):
        create_app(Settings(**kwargs))


def test_production_starts_with_a_real_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, environment="production", secret_key="s" * 48)
    settings.check_for_start()  # no error


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACESEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FACESEARCH_DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("FACESEARCH_MAX_PROBE_BYTES", "1234")
    monkeypatch.setenv("FACESEARCH_INGEST_ROOTS", f'["{tmp_path}"]')
    s = Settings.load(port=9000)
    assert s.data_dir == tmp_path and s.catalog_url == "sqlite:///x.db"
    assert s.max_probe_bytes == 1234 and s.port == 9000 and s.ingest_roots == [tmp_path]
    monkeypatch.delenv("FACESEARCH_DATA_DIR")
    monkeypatch.setenv("FACESEARCH_DATA", str(tmp_path / "old"))
    assert Settings.load().data_dir == tmp_path / "old"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/searches/99999999999999999999"),
        ("GET", "/api/v1/faces/99999999999999999999/crop"),
        ("GET", "/api/v1/faces/1/crop?search_id=99999999999999999999"),
        ("GET", "/api/v1/ingest/runs/99999999999999999999/failures"),
        ("DELETE", "/api/v1/tokens/-5"),
    ],
)
def test_out_of_range_ids_are_422_not_a_server_error(env: ApiEnv, method: str, path: str) -> None:
    client = env.client("inv")
    r = client.request(method, path)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("number", ["OP-2024/017", "C-1\nforged", "C 1", "C" * 65])
def test_a_case_number_that_is_no_path_segment_is_422(env: ApiEnv, number: str) -> None:
    r = env.client("inv").post(
        "/api/v1/cases",
        json={
            "number": number,
            "purpose": "threat-to-life",
            "legal_authority": "warrant",
            "justification": "a number check",
        },
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "invalid case number" in r.text or "at most 64" in r.text

"""Hostile clients over HTTP: anonymous refusals rate-limited in the audit log, login limited
per account (not per shared address), trusted proxies, 404 for cases one may not read,
/health without the version, and the secret key signing session cookies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.support.api import PASSWORD, ApiEnv, api_env, login, open_case

from facesearch import __version__
from facesearch.govern.schema import AuditEntry
from facesearch.serve.api.proxy import client_and_scheme, parse_networks
from facesearch.serve.api.refusals import RefusalLog
from facesearch.serve.api.security import SESSION_COOKIE, LoginRateLimiter, SessionStore, sign


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(
        tmp_path_factory.mktemp("hostile"),
        passwords=("inv", "inv2", "sup"),
        trusted_proxies=["10.9.0.0/16"],
    ) as e:
        yield e


@pytest.fixture(autouse=True)
def fresh_limiter(env: ApiEnv) -> None:
    env.app.state.login_limiter = LoginRateLimiter(5, 60.0)


def entries(env: ApiEnv, action: str | None = None) -> list[dict[str, Any]]:
    with env.service.governance.session() as s:
        q = select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            q = q.where(AuditEntry.action == action)
        return [
            {"actor": r.actor, "action": r.action, "size": len(r.details), **json.loads(r.details)}
            for r in s.execute(q).scalars()
        ]


def count(env: ApiEnv) -> int:
    with env.service.governance.session() as s:
        return int(s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


# --- anonymous refusals ----------------------------------------------------------------------


def test_anonymous_flood_adds_a_few_small_entries_then_a_summary(env: ApiEnv) -> None:
    now = [1000.0]
    env.app.state.refusals = RefusalLog(
        lambda a, act, d: env.service.governance.record(a, act, d), 60.0, clock=lambda: now[0]
    )
    client = env.client()
    before = count(env)
    for i in range(200):
        r = client.get(f"/api/v1/cases/{i}{'x' * 7000}")
        assert r.status_code == 401
    added = entries(env)[before:]
    assert len(added) <= 3
    assert all(e["size"] < 1000 for e in added)
    first = [e for e in added if e["action"] == "http.refused"]
    assert len(first) == 1 and len(first[0]["path"]) <= 200
    # a minute later the next refusal writes the summary of the other 199 (and is itself
    # the first of its window)
    now[0] += 61
    assert client.get("/api/v1/cases").status_code == 401
    summary = entries(env, "http.refused.summary")[-1]
    assert summary["count"] == 199 and summary["address"] == "testclient"
    assert summary["size"] < 2000 and all(len(p) <= 200 for p in summary["sample_paths"])
    assert count(env) - before <= 4


def test_a_flood_of_bad_bearer_tokens_adds_a_few_small_entries(env: ApiEnv) -> None:
    now = [0.0]
    env.app.state.refusals = RefusalLog(
        lambda a, act, d: env.service.governance.record(a, act, d), 60.0, clock=lambda: now[0]
    )
    client = env.client()
    before = count(env)
    for i in range(200):
        r = client.get("/api/v1/cases", headers={"Authorization": f"Bearer fst_{i:043d}"})
        assert r.status_code == 401
        r = client.post(
            "/api/v1/cases", json={}, headers={"Authorization": f"Bearer not-a-token-{i}"}
        )
        assert r.status_code == 401
    added = entries(env)[before:]
    assert len(added) <= 3, [e["action"] for e in added]
    assert all(e["size"] < 1000 for e in added)
    now[0] += 61
    assert client.get("/api/v1/cases", headers={"Authorization": "Bearer x"}).status_code == 401
    summaries = entries(env, "http.refused.summary")
    assert summaries and summaries[-1]["count"] == 399


def test_a_known_users_refusal_is_logged_in_full(env: ApiEnv) -> None:
    client = env.client("inv")
    del client.headers["X-CSRF-Token"]
    before = len(entries(env, "http.refused"))
    for _ in range(3):
        assert client.post("/api/v1/cases", json={}).status_code == 403
    assert len(entries(env, "http.refused")) == before + 3


# --- login -----------------------------------------------------------------------------------


def test_failures_lock_the_account_not_the_address(env: ApiEnv) -> None:
    client = env.client()
    for _ in range(5):
        r = client.post("/api/v1/auth/login", json={"username": "sup", "password": "wrong pw"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "sup", "password": PASSWORD})
    assert r.status_code == 429
    # another account from the same address (everyone behind one proxy) still signs in
    r = client.post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
    assert r.status_code == 200


def test_a_flood_of_rate_limited_logins_is_one_entry(env: ApiEnv) -> None:
    env.app.state.refusals = RefusalLog(lambda a, act, d: env.service.governance.record(a, act, d))
    env.app.state.login_limiter = LoginRateLimiter(1, 60.0)
    client = env.client()
    assert client.post("/api/v1/auth/login", json={"username": "aud", "password": "x"}).is_error
    before = len(entries(env, "authenticate.refused"))
    for _ in range(50):
        r = client.post("/api/v1/auth/login", json={"username": "aud", "password": "x"})
        assert r.status_code == 429
    limited = entries(env, "authenticate.refused")[before:]
    assert len(limited) == 1 and limited[0]["actor"] == "aud"
    assert limited[0]["reason"].startswith("too many failed logins")
    env.app.state.refusals.flush()
    assert entries(env, "authenticate.refused.summary")[-1]["count"] == 49


def test_account_backoff_doubles_and_a_success_resets_it() -> None:
    now = [0.0]
    limiter = LoginRateLimiter(3, 60.0, clock=lambda: now[0], address_limit=1000)
    for _ in range(3):
        limiter.failed("sam", "10.0.0.1")
    assert 59 <= limiter.retry_after("sam", "10.0.0.2") <= 61  # any address
    assert limiter.retry_after("ivy", "10.0.0.1") == 0
    now[0] += 61
    assert limiter.retry_after("sam", "10.0.0.1") == 0
    for _ in range(3):
        limiter.failed("sam", "10.0.0.1")
    assert 119 <= limiter.retry_after("sam", "10.0.0.1") <= 121  # doubled
    now[0] += 121
    limiter.succeeded("sam")
    for _ in range(3):
        limiter.failed("sam", "10.0.0.1")
    assert 59 <= limiter.retry_after("sam", "10.0.0.1") <= 61  # back to the first wait


def test_an_address_guessing_across_accounts_hits_a_higher_ceiling(env: ApiEnv) -> None:
    env.app.state.login_limiter = LoginRateLimiter(5, 60.0, address_limit=12)
    client = env.client()
    for i in range(12):
        r = client.post("/api/v1/auth/login", json={"username": f"nobody{i}", "password": "x"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
    assert r.status_code == 429
    other = TestClient(env.app, client=("10.1.2.3", 4000))
    r = other.post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
    assert r.status_code == 200


# --- trusted proxies -------------------------------------------------------------------------


def test_forwarding_headers_parsed_only_from_trusted_peers() -> None:
    nets = parse_networks(["10.9.0.0/16", "::1"])
    h = {"x-forwarded-for": "198.51.100.1, 203.0.113.7, 10.9.0.5", "x-forwarded-proto": "https"}
    assert client_and_scheme("10.9.0.2", h, nets) == ("203.0.113.7", "https")
    assert client_and_scheme("192.0.2.1", h, nets) == ("192.0.2.1", None)  # not trusted
    assert client_and_scheme("10.9.0.2", h, ()) == ("10.9.0.2", None)  # none configured
    fwd = {"forwarded": 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"'}
    assert client_and_scheme("::1", fwd, nets) == ("2001:db8::1", "https")
    assert client_and_scheme("10.9.0.2", {"x-forwarded-proto": "gopher"}, nets)[1] is None


def test_untrusted_peers_forwarded_for_is_ignored(env: ApiEnv) -> None:
    spoof = TestClient(env.app, client=("192.0.2.10", 5000))
    spoof.headers.update({"X-Forwarded-For": "203.0.113.99", "X-Forwarded-Proto": "https"})
    env.app.state.refusals = RefusalLog(lambda a, act, d: env.service.governance.record(a, act, d))
    assert spoof.get("/api/v1/users").status_code == 401
    assert entries(env, "http.refused")[-1]["address"] == "192.0.2.10"
    r = spoof.post("/api/v1/auth/login", json={"username": "inv2", "password": PASSWORD})
    assert r.status_code == 200
    assert "secure" not in r.headers["set-cookie"].lower()


def test_trusted_proxy_gives_the_client_address_and_https(env: ApiEnv) -> None:
    proxy = TestClient(env.app, client=("10.9.0.2", 5000))
    proxy.headers.update({"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    r = proxy.post("/api/v1/auth/login", json={"username": "inv2", "password": PASSWORD})
    assert r.status_code == 200
    cookies = r.headers.get_list("set-cookie")
    assert cookies and all("; secure" in c.lower() for c in cookies)
    # the audit log records the client as the origin, not the proxy
    proxy.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    proxy.cookies.set(SESSION_COOKIE, r.cookies[SESSION_COOKIE])
    body = {
        "number": "PX-1",
        "purpose": "threat-to-life",
        "legal_authority": "warrant 1",
        "justification": "opened through the proxy",
    }
    assert proxy.post("/api/v1/cases", json=body).status_code == 201
    opened = [e for e in entries(env) if e.get("case") == "PX-1" or e["action"] == "case.open"]
    assert opened[-1]["auth"]["origin"] == "203.0.113.7"


def test_secure_cookies_setting_still_overrides(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("inv",), secure_cookies=True) as env:
        r = env.client().post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
        assert "; secure" in r.headers["set-cookie"].lower()


# --- cases one may not read --------------------------------------------------------------------


def test_a_case_one_may_not_read_is_404_like_a_missing_one(env: ApiEnv) -> None:
    open_case(env, "NV-1", "inv2")
    inv = env.client("inv")
    hidden = inv.get("/api/v1/cases/NV-1")
    missing = inv.get("/api/v1/cases/NV-404")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json().keys() == missing.json().keys()
    assert hidden.json()["detail"] == "no case 'NV-1'"
    assert missing.json()["detail"] == "no case 'NV-404'"
    assert hidden.json()["action"] == missing.json()["action"] == "case.view"
    for path in ("/api/v1/cases/NV-1/searches", "/api/v1/cases/NV-1/report"):
        assert inv.get(path).status_code == 404
    # the audit log still says what happened
    refused = [e for e in entries(env, "case.view.refused") if "'NV-1'" in e["reason"]]
    assert refused[-1]["actor"] == "inv"
    assert "is not assigned to case 'NV-1'" in refused[-1]["reason"]


# --- health ----------------------------------------------------------------------------------


def test_health_tells_the_version_only_to_signed_in_callers(env: ApiEnv) -> None:
    anonymous = env.client().get("/api/v1/health")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    assert env.client("inv").get("/api/v1/health").json() == {
        "status": "ok",
        "version": __version__,
    }
    assert __version__ not in env.client().get("/openapi.json").text


# --- the secret key --------------------------------------------------------------------------


def test_session_cookies_are_signed_with_the_secret_key() -> None:
    key = "k" * 40
    store = SessionStore(timedelta(minutes=5), timedelta(hours=1), secret=key)
    cookie, session = store.create("ivy", "127.0.0.1")
    session_id, _, signature = cookie.rpartition(".")
    assert sign(key.encode(), session_id) == cookie
    found = store.get(cookie)
    assert found is not None and found.csrf_token == session.csrf_token
    assert store.get(session_id) is None  # the bare id
    assert store.get(f"{session_id}.{'0' * len(signature)}") is None  # a forged signature
    other = SessionStore(
        timedelta(minutes=5), timedelta(hours=1), secret="o" * 40, records=store.records
    )  # even reading the same table
    assert other.get(cookie) is None
    # the table is keyed by an HMAC under the key, neither the id nor a plain hash of it
    keys = store.records.keys()
    assert len(keys) == 1 and session_id not in keys
    assert hashlib.sha256(session_id.encode()).hexdigest() not in keys


def test_the_server_signs_with_its_configured_key(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("inv",), secret_key="s" * 48) as env:
        client = env.client("inv")
        cookie = client.cookies[SESSION_COOKIE]
        session_id = cookie.rpartition(".")[0]
        assert cookie == sign(b"s" * 48, session_id)
        assert client.get("/api/v1/auth/me").status_code == 200
        client.cookies.set(SESSION_COOKIE, sign(b"x" * 48, session_id))
        assert client.get("/api/v1/auth/me").status_code == 401
        login(client, "inv")

"""Login, logout, the current user, API tokens, and the health and OpenAPI documents."""

from __future__ import annotations

from pathlib import Path

from tests.support.api import PASSWORD, api_env, login

from facesearch.govern.audit import entries
from facesearch.serve.api.security import CSRF_COOKIE, SESSION_COOKIE


def test_login_me_logout(tmp_path: Path) -> None:
    with api_env(tmp_path) as env:
        client = env.client()
        assert client.get("/api/v1/auth/me").status_code == 401
        body = login(client, "inv")
        assert body["user"]["username"] == "inv"
        assert body["user"]["roles"] == ["investigator"]
        assert body["csrf_token"]
        assert client.cookies.get(SESSION_COOKIE)
        assert client.cookies.get(CSRF_COOKIE) == body["csrf_token"]
        me = client.get("/api/v1/auth/me").json()
        assert me["auth"] == "session" and me["csrf_token"] == body["csrf_token"]
        assert client.post("/api/v1/auth/logout").status_code == 204
        assert client.get("/api/v1/auth/me").status_code == 401


def test_wrong_password_is_401_with_problem_details(tmp_path: Path) -> None:
    with api_env(tmp_path) as env:
        r = env.client().post(
            "/api/v1/auth/login", json={"username": "inv", "password": "wrong password!"}
        )
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["status"] == 401 and problem["title"] == "Unauthorized"
        assert "wrong user name or password" in problem["detail"]


def test_bearer_token_for_machine_clients(tmp_path: Path) -> None:
    with api_env(tmp_path) as env:
        inv = env.client("inv")
        r = inv.post("/api/v1/tokens", json={"name": "script"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        machine = env.client()
        r = machine.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["auth"] == "token"
        assert r.json()["csrf_token"] is None
        # state-changing with a token needs no CSRF header
        r = machine.post(
            "/api/v1/cases",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "number": "T-1",
                "purpose": "threat-to-life",
                "legal_authority": "warrant",
                "justification": "token test",
            },
        )
        assert r.status_code == 201, r.text
        token_id = r.json() and inv.get("/api/v1/tokens").json()["items"][0]["id"]
        assert inv.delete(f"/api/v1/tokens/{token_id}").status_code == 204
        r = machine.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        r = machine.get("/api/v1/auth/me", headers={"Authorization": "Bearer fst_not-a-token"})
        assert r.status_code == 401


def test_health_and_openapi_need_no_credentials(tmp_path: Path) -> None:
    with api_env(tmp_path) as env:
        client = env.client()
        assert client.get("/api/v1/health").json()["status"] == "ok"
        spec = client.get("/openapi.json").json()
        assert "/api/v1/cases/{number}/searches" in spec["paths"]


def test_static_files_and_spa_fallback(tmp_path: Path) -> None:
    with api_env(tmp_path) as env:
        client = env.client()
        assert "facesearch" in client.get("/").text
        assert client.get("/app.js").headers["content-type"].startswith("text/javascript")
        assert "<title>facesearch</title>" in client.get("/cases/C-1").text  # SPA route
        assert client.get("/api/v1/nothing-here").status_code in (401, 404)


def test_password_is_checked_not_trusted(tmp_path: Path) -> None:
    with api_env(tmp_path) as env:
        client = env.client()
        r = client.post("/api/v1/auth/login", json={"username": "ghost", "password": PASSWORD})
        assert r.status_code == 401


def test_a_token_is_created_only_by_its_owner(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin", "inv")) as env:
        admin = env.client("admin")
        r = admin.post("/api/v1/tokens", json={"username": "inv", "name": "as inv"})
        assert r.status_code == 403, r.text
        assert "only by its owner" in r.json()["detail"]
        gov = env.service.governance
        with gov.session() as s:
            last = list(entries(s))[-1]
        assert last.action == "token.create.refused" and last.actor == "admin"
        # the administrator's own token, and others' tokens listed and revoked
        assert admin.post("/api/v1/tokens", json={"name": "mine"}).status_code == 201
        inv = env.client("inv")
        assert inv.post("/api/v1/tokens", json={"name": "script"}).status_code == 201
        listed = admin.get("/api/v1/tokens", params={"user": "inv"}).json()["items"]
        assert [t["user"] for t in listed] == ["inv"]
        assert admin.delete(f"/api/v1/tokens/{listed[0]['id']}").status_code == 204
        assert inv.get("/api/v1/tokens").json()["items"][0]["revoked_at"] is not None

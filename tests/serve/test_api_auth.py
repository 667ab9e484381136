"""Login, logout, the current user, API tokens, and the health and OpenAPI documents."""

from __future__ import annotations

from pathlib import Path

from tests.support.api import PASSWORD, api_env, login
from tests.support.govern import second_admin

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


def test_two_person_rule_over_http(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin",)) as env:
        other = second_admin(env.service.governance)  # a second administrator, no password
        admin = env.client("admin")
        r = admin.post("/api/v1/users", json={"username": "mal", "roles": ["supervisor"]})
        assert r.status_code == 202, r.text
        change = r.json()
        assert change["status"] == "pending" and other in change["message"]
        assert "mal" not in [u["username"] for u in admin.get("/api/v1/users").json()["items"]]
        assert [c["id"] for c in admin.get("/api/v1/changes").json()["items"]] == [change["id"]]
        r = admin.post(f"/api/v1/changes/{change['id']}/approve", json={})
        assert r.status_code == 403 and "another administrator" in r.json()["detail"]
        # the second administrator, with a token of their own
        token, _ = env.service.governance.create_token(other, other, "ops")
        bearer = {"Authorization": f"Bearer {token}"}
        machine = env.client()
        r = machine.post(f"/api/v1/changes/{change['id']}/approve", json={}, headers=bearer)
        assert r.status_code == 200 and r.json()["status"] == "approved"
        users = {u["username"]: u for u in admin.get("/api/v1/users").json()["items"]}
        assert users["mal"]["roles"] == ["supervisor"]
        # re-enabling waits too
        assert admin.patch("/api/v1/users/inv", json={"active": False}).status_code == 200
        r = admin.patch("/api/v1/users/inv", json={"active": True})
        assert r.status_code == 200 and r.json()["active"] is False
        assert r.json()["pending_changes"][0]["kind"] == "user.enable"
        # the audit log has the request and the approval
        with env.service.governance.session() as s:
            actions = [e.action for e in entries(s)]
        assert "user.add.requested" in actions and "change.approved" in actions


def test_password_change_needs_the_current_one_and_ends_other_sessions(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin", "inv")) as env:
        first, second = env.client("inv"), env.client("inv")
        r = first.patch("/api/v1/users/inv", json={"password": "a brand new password"})
        assert r.status_code == 403 and "needs the current one" in r.json()["detail"]
        r = first.patch(
            "/api/v1/users/inv",
            json={"password": "a brand new password", "current_password": "not it at all"},
        )
        assert r.status_code == 403 and "current password is wrong" in r.json()["detail"]
        r = env.client().post(
            "/api/v1/auth/password",
            json={
                "username": "inv",
                "current_password": PASSWORD,
                "new_password": "a brand new password",
            },
        )
        assert r.status_code == 204, r.text
        assert first.get("/api/v1/auth/me").status_code == 401
        assert second.get("/api/v1/cases").status_code == 401
        login(env.client(), "inv", "a brand new password")
        # the epoch, not this process's memory, ends them: a change made elsewhere (the CLI)
        third = env.client()
        login(third, "inv", "a brand new password")
        env.service.governance.set_password(
            "inv", "inv", "yet another password", "a brand new password"
        )
        assert third.get("/api/v1/auth/me").status_code == 401


def test_admin_reset_forces_a_change_at_next_login(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin", "inv")) as env:
        admin = env.client("admin")
        r = admin.patch("/api/v1/users/inv", json={"password": "temporary password"})
        assert r.status_code == 200 and r.json()["must_change_password"] is True
        r = env.client().post(
            "/api/v1/auth/login", json={"username": "inv", "password": "temporary password"}
        )
        assert r.status_code == 403 and r.json()["password_change_required"] is True
        r = env.client().post(
            "/api/v1/auth/password",
            json={"username": "inv", "current_password": "wrong", "new_password": "x" * 12},
        )
        assert r.status_code == 401
        r = env.client().post(
            "/api/v1/auth/password",
            json={
                "username": "inv",
                "current_password": "temporary password",
                "new_password": "my own password!",
            },
        )
        assert r.status_code == 204, r.text
        login(env.client(), "inv", "my own password!")


def test_disabled_then_reenabled_users_token_stays_refused(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin",)) as env:
        gov = env.service.governance
        other = second_admin(gov)
        token, _ = gov.create_token("inv", "inv", "script")
        bearer = {"Authorization": f"Bearer {token}"}
        assert env.client().get("/api/v1/auth/me", headers=bearer).status_code == 200
        admin = env.client("admin")
        assert admin.patch("/api/v1/users/inv", json={"active": False}).status_code == 200
        change = admin.patch("/api/v1/users/inv", json={"active": True}).json()
        gov.approve_change(other, change["pending_changes"][0]["id"])
        users = {u["username"]: u for u in admin.get("/api/v1/users").json()["items"]}
        assert users["inv"]["active"] is True
        r = env.client().get("/api/v1/auth/me", headers=bearer)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]

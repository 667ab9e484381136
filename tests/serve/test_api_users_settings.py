"""My account (wellbeing setting, own password), an administrator editing a user, and putting a
checked policy in force through the API (issue 23, finding 14)."""

from __future__ import annotations

from pathlib import Path

from tests.support.api import PASSWORD, api_env, login
from tests.support.govern import add_user_approved, second_admin

from facesearch.govern.audit import entries
from facesearch.govern.policy import default_policy
from facesearch.serve.api.security import CSRF_HEADER

NEW_PASSWORD = "a brand new passphrase 2026"


def _actions(env: object) -> list[tuple[str, str, dict[str, object]]]:
    with env.service.governance.session() as s:  # type: ignore[attr-defined]
        return [
            (e.actor, e.action, {k: v for k, v in e.details.items() if k != "auth"})
            for e in entries(s)
        ]


def test_wellbeing_defaults_then_changed_audited_and_csrf_protected(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin", "inv")) as env:
        inv = env.client("inv")
        me = inv.get("/api/v1/auth/me").json()
        assert me["wellbeing"] == {
            "greyscale": False,
            "blur_outside_face": True,
            "blur_forced": False,
        }
        wanted = {"greyscale": True, "blur_outside_face": False}
        no_csrf = inv.put("/api/v1/auth/me/wellbeing", json=wanted, headers={CSRF_HEADER: "forged"})
        assert no_csrf.status_code == 403
        r = inv.put("/api/v1/auth/me/wellbeing", json=wanted)
        assert r.status_code == 200, r.text
        assert r.json() == {**wanted, "blur_forced": False}
        assert inv.get("/api/v1/auth/me").json()["wellbeing"] == {**wanted, "blur_forced": False}
        # the login answer carries it too (the web app reads it from there)
        again = env.client()
        assert login(again, "inv")["user"]["wellbeing"]["greyscale"] is True
        # another user's setting is untouched
        assert env.client("admin").get("/api/v1/auth/me").json()["wellbeing"]["greyscale"] is False
        logged = [d for a, act, d in _actions(env) if act == "user.wellbeing"]
        assert logged == [
            {
                "user": "inv",
                "from": {"greyscale": False, "blur_outside_face": True},
                "to": wanted,
            }
        ]


def test_a_policy_forcing_the_blur_refuses_turning_it_off(tmp_path: Path) -> None:
    text = default_policy().text + "\n[wellbeing]\nforce_blur = true\n"
    with api_env(tmp_path, passwords=("admin", "inv"), policy_text=text) as env:
        inv = env.client("inv")
        assert inv.get("/api/v1/auth/me").json()["wellbeing"]["blur_forced"] is True
        r = inv.put(
            "/api/v1/auth/me/wellbeing", json={"greyscale": True, "blur_outside_face": False}
        )
        assert r.status_code == 403
        assert "force_blur" in r.json()["detail"]
        assert any(act == "user.wellbeing.refused" for _, act, _ in _actions(env))
        r = inv.put(
            "/api/v1/auth/me/wellbeing", json={"greyscale": True, "blur_outside_face": True}
        )
        assert r.status_code == 200 and r.json()["greyscale"] is True


def test_own_password_change_needs_the_current_one_and_ends_other_sessions(
    tmp_path: Path,
) -> None:
    with api_env(tmp_path, passwords=("admin", "inv")) as env:
        here, elsewhere = env.client("inv"), env.client("inv")
        body = {
            "current_password": "not my password at all",
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        }
        r = here.post("/api/v1/auth/me/password", json=body)
        assert r.status_code == 403 and "current password is wrong" in r.json()["detail"]
        r = here.post(
            "/api/v1/auth/me/password",
            json={**body, "current_password": PASSWORD, "new_password_again": "typo" * 4},
        )
        assert r.status_code == 422 and "differ" in r.json()["detail"]
        r = here.post(
            "/api/v1/auth/me/password",
            json={
                "current_password": PASSWORD,
                "new_password": "short",
                "new_password_again": "short",
            },
        )
        assert r.status_code == 403 and "12 characters" in r.json()["detail"]
        assert elsewhere.get("/api/v1/auth/me").status_code == 200  # nothing changed yet
        r = here.post("/api/v1/auth/me/password", json={**body, "current_password": PASSWORD})
        assert r.status_code == 200, r.text
        here.headers[CSRF_HEADER] = r.json()["csrf_token"]
        assert here.get("/api/v1/auth/me").status_code == 200  # this browser stays signed in
        assert here.put(
            "/api/v1/auth/me/wellbeing", json={"greyscale": True, "blur_outside_face": True}
        ).is_success
        assert elsewhere.get("/api/v1/auth/me").status_code == 401  # the other one ended
        fresh = env.client()
        bad = fresh.post("/api/v1/auth/login", json={"username": "inv", "password": PASSWORD})
        assert bad.status_code == 401
        login(fresh, "inv", NEW_PASSWORD)
        acts = [(a, act) for a, act, _ in _actions(env)]
        assert ("inv", "user.passwd") in [(str(a).split()[0], act) for a, act in acts]


def test_admin_edits_display_name_and_roles_under_the_two_person_rule(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin", "inv")) as env:
        admin = env.client("admin")
        r = admin.patch("/api/v1/users/inv", json={"display_name": "Ines Investigator"})
        assert r.status_code == 200 and r.json()["display_name"] == "Ines Investigator"
        renamed = [d for _, act, d in _actions(env) if act == "user.rename"]
        assert renamed == [{"user": "inv", "from": "", "to": "Ines Investigator"}]
        inv = env.client("inv")
        assert inv.patch("/api/v1/users/inv", json={"display_name": "me"}).status_code == 403
        # removing a role, adding auditor: at once
        r = admin.patch("/api/v1/users/sup", json={"roles": ["auditor"]})
        assert r.status_code == 200 and r.json()["roles"] == ["auditor"]
        assert r.json()["pending_changes"] == []
        # granting supervisor: pending until a second administrator approves
        r = admin.patch("/api/v1/users/inv", json={"roles": ["investigator", "supervisor"]})
        assert r.status_code == 200
        assert r.json()["roles"] == ["investigator"]
        (change,) = r.json()["pending_changes"]
        assert change["status"] == "pending" and change["kind"] == "user.roles"
        r = admin.post(f"/api/v1/changes/{change['id']}/approve", json={})
        assert r.status_code == 403 and "two-person rule" in r.json()["detail"]
        env.service.governance.approve_change(second_admin(env.service.governance), change["id"])
        users = {u["username"]: u for u in admin.get("/api/v1/users").json()["items"]}
        assert users["inv"]["roles"] == ["investigator", "supervisor"]
        assert users["inv"]["display_name"] == "Ines Investigator"
        # a reset: the user must choose a new password at sign-in
        r = admin.patch("/api/v1/users/inv", json={"password": NEW_PASSWORD})
        assert r.status_code == 200 and r.json()["must_change_password"] is True
        r = env.client().post(
            "/api/v1/auth/login", json={"username": "inv", "password": NEW_PASSWORD}
        )
        assert r.status_code == 403 and r.json()["password_change_required"] is True


def test_a_checked_policy_is_put_in_force_by_two_administrators(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin", "inv")) as env:
        gov = env.service.governance
        add_user_approved(gov, "admin", "boss", ["administrator"], PASSWORD)
        admin, boss = env.client("admin"), env.client("boss")
        before = admin.get("/api/v1/policy/in-force").json()
        assert before["since"] and before["activated_by"] and before["pending_change_id"] is None
        old = default_policy().text
        bad = admin.post("/api/v1/policy/request", json={"text": old + "\n[nonsense]\nx = 1\n"})
        assert bad.status_code == 422
        same = admin.post("/api/v1/policy/request", json={"text": old})
        assert same.status_code == 403 and "already in force" in same.json()["detail"]
        new = old.replace("max_candidates = 20", "max_candidates = 15")
        assert new != old
        assert (
            env.client("inv").post("/api/v1/policy/request", json={"text": new}).status_code == 403
        )
        r = admin.post("/api/v1/policy/request", json={"text": new})
        assert r.status_code == 202, r.text
        change = r.json()
        assert change["kind"] == "policy" and change["requested_by"] == "admin"
        shown = boss.get("/api/v1/policy/in-force").json()
        assert shown["pending_change_id"] == change["id"]
        assert "-max_candidates = 20" in shown["diff"] and "+max_candidates = 15" in shown["diff"]
        pending = boss.get("/api/v1/policy").json()["pending"]
        assert pending["recorded_by"] == "admin" and pending["approvals"] == ["admin"]
        assert admin.post(f"/api/v1/changes/{change['id']}/approve", json={}).status_code == 403
        r = boss.post(f"/api/v1/changes/{change['id']}/approve", json={})
        assert r.status_code == 200 and r.json()["status"] == "approved"
        now = admin.get("/api/v1/policy").json()
        assert now["search"]["max_candidates"] == 15 and now["pending"] is None
        after = admin.get("/api/v1/policy/in-force").json()
        assert after["sha256"] == now["sha256"] != before["sha256"]
        assert after["activated_by"] == "boss" and after["diff"] == ""
        acts = [act for _, act, _ in _actions(env)]
        assert "policy.requested" in acts and "change.approved" in acts
        assert acts.index("change.approved") < acts.index("policy.activate", 1)


def test_guessing_the_current_password_from_a_session_is_rate_limited(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin", "inv"), login_failures_per_minute=2) as env:
        inv = env.client("inv")
        wrong = {
            "current_password": "a guess of the password",
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        }
        for _ in range(2):
            assert inv.post("/api/v1/auth/me/password", json=wrong).status_code == 403
        r = inv.post("/api/v1/auth/me/password", json={**wrong, "current_password": PASSWORD})
        assert r.status_code == 429 and r.headers["Retry-After"]
        assert inv.get("/api/v1/auth/me").status_code == 200  # nothing changed

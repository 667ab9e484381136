"""The two-person rule: granting administrator or supervisor, re-enabling a user and putting a
new policy in force wait for a second administrator; passwords; disabling revokes tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from tests.support.govern import (  # noqa: F401
    PASSWORD,
    World,
    engine,
    make_world,
    policy_with,
    second_admin,
    world,
)

from facesearch.govern import AuthenticationError, Governance, RefusedError, Role, default_policy
from facesearch.govern.schema import PendingChange, PolicyVersion, Token, User
from facesearch.govern.users import PasswordChangeRequired


def _user(w: World, name: str) -> User | None:
    with w.sessions() as s:
        return s.execute(select(User).where(User.username == name)).scalar_one_or_none()


def test_one_admin_alone_cannot_make_a_supervisor_or_admin(engine: Engine) -> None:  # noqa: F811
    gov = Governance(sessionmaker(engine), default_policy())
    gov.add_user("root", "root", [Role.ADMINISTRATOR], None)  # the bootstrap: at once
    assert gov.add_user("root", "ivy", [Role.INVESTIGATOR]) is None  # no privilege: at once
    change = gov.add_user("root", "mallory", [Role.SUPERVISOR])
    assert change is not None and change.status == "pending"
    assert "only administrator" in change.message and "stays pending" in change.message
    with sessionmaker(engine)() as s:
        assert s.execute(select(User).where(User.username == "mallory")).first() is None
    # nobody else can approve, and the proposer cannot approve their own
    with pytest.raises(RefusedError, match="another administrator must approve"):
        gov.approve_change("root", change.id)
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.approve_change("ivy", change.id)
    with pytest.raises(RefusedError, match="already asks"):
        gov.add_user("root", "mallory", [Role.SUPERVISOR])
    with pytest.raises(RefusedError, match="unknown user 'mallory'"):
        gov.open_case("mallory", "C-1", "threat-to-life", "W", "a long enough reason")


def test_second_admin_approves_then_the_role_is_held(world: World) -> None:  # noqa: F811
    gov = world.gov
    other = second_admin(gov)
    change = gov.add_user("admin", "carol", [Role.ADMINISTRATOR], PASSWORD)
    assert change is not None and other in change.message
    assert [c.id for c in gov.list_changes(other)] == [change.id]
    assert [c.id for c in gov.list_changes("admin")] == [change.id]
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.list_changes("alice")
    done = gov.approve_change(other, change.id, "checked with HR")
    assert done.status == "approved" and done.decided_by == other
    carol = _user(world, "carol")
    assert carol is not None and carol.role_set == {"administrator"} and carol.active
    assert gov.authenticate_password("carol", PASSWORD) == "carol"
    with world.sessions() as s:  # the decided change keeps no password hash
        row = s.get(PendingChange, change.id)
        assert row is not None and "password_hash" not in row.payload
    actions = world.audit_actions()
    i = actions.index("user.add.requested")
    assert actions[i:][:3] == ["user.add.requested", "change.approved", "user.add"]
    assert world.last_entry("user.add").actor == other
    with pytest.raises(RefusedError, match="is approved, not pending"):
        gov.approve_change(other, change.id)
    assert gov.list_changes(other) == []


def test_role_change_to_supervisor_waits_and_demotion_is_immediate(
    world: World,  # noqa: F811
) -> None:
    gov = world.gov
    other = second_admin(gov)
    change = gov.set_roles("admin", "alice", ["investigator", "supervisor"])
    assert change is not None
    assert _user(world, "alice").role_set == {"investigator"}  # type: ignore[union-attr]
    assert world.last_entry().action == "user.roles.requested"
    gov.approve_change(other, change.id)
    assert _user(world, "alice").role_set == {"investigator", "supervisor"}  # type: ignore[union-attr]
    assert gov.set_roles("admin", "alice", ["investigator"]) is None  # taking away: at once
    assert _user(world, "alice").role_set == {"investigator"}  # type: ignore[union-attr]


def test_rejected_change_never_takes_effect(world: World) -> None:  # noqa: F811
    gov = world.gov
    other = second_admin(gov)
    change = gov.set_roles("admin", "bob", ["administrator"])
    assert change is not None
    rejected = gov.reject_change(other, change.id, "no reason given")
    assert rejected.status == "rejected"
    with pytest.raises(RefusedError, match="rejected, not pending"):
        gov.approve_change(other, change.id)
    assert _user(world, "bob").role_set == {"investigator"}  # type: ignore[union-attr]
    assert world.last_entry().action == "change.approve.refused"


def test_reenabling_needs_approval_and_tokens_stay_revoked(world: World) -> None:  # noqa: F811
    gov = world.gov
    other = second_admin(gov)
    token, token_id = gov.create_token("alice", "alice", "api")
    gov.disable_user("admin", "alice")
    entry = world.last_entry("user.disable")
    assert entry.details["tokens_revoked"] == [token_id]
    with world.sessions() as s:
        row = s.get(Token, token_id)
        assert row is not None and row.revoked_at is not None and row.revoked_by == "admin"
    change = gov.enable_user("admin", "alice")
    assert change is not None and change.kind == "user.enable"
    assert not _user(world, "alice").active  # type: ignore[union-attr]
    with pytest.raises(RefusedError, match="disabled"):
        gov.list_cases("alice")
    with pytest.raises(RefusedError, match="another administrator must approve"):
        gov.approve_change("admin", change.id)
    gov.approve_change(other, change.id)
    assert _user(world, "alice").active  # type: ignore[union-attr]
    gov.list_cases("alice")
    with pytest.raises(AuthenticationError, match="revoked"):  # re-enabling revives no token
        gov.authenticate_token(token)


def test_own_password_change_needs_the_current_one(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine, passwords=True)
    gov = w.gov
    before = _user(w, "alice").session_epoch  # type: ignore[union-attr]
    with pytest.raises(RefusedError, match="needs the current one"):
        gov.set_password("alice", "alice", "a brand new password")
    with pytest.raises(RefusedError, match="current password is wrong"):
        gov.set_password("alice", "alice", "a brand new password", current="not my password")
    assert w.last_entry().action == "user.passwd.refused"
    assert w.last_entry().details["reason"] == "the current password is wrong"
    assert gov.authenticate_password("alice", PASSWORD) == "alice"
    assert gov.set_password("alice", "alice", "a brand new password", current=PASSWORD) is False
    assert gov.authenticate_password("alice", "a brand new password") == "alice"
    assert _user(w, "alice").session_epoch == before + 1  # type: ignore[union-attr]
    assert w.last_entry().action == "user.passwd"


def test_admin_reset_forces_a_change_at_next_login(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine, passwords=True)
    gov = w.gov
    assert gov.set_password("admin", "bob", "temporary password 1") is True
    assert w.last_entry().action == "user.passwd.reset"
    with pytest.raises(PasswordChangeRequired, match="reset by an administrator"):
        gov.authenticate_password("bob", "temporary password 1")
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        gov.authenticate_password("bob", PASSWORD)  # the old one is gone
    with pytest.raises(RefusedError, match="must change their password first"):
        gov.list_cases("bob")  # whatever the credential (a token, the CLI)
    with pytest.raises(RefusedError, match="must differ"):
        gov.set_password("bob", "bob", "temporary password 1", current="temporary password 1")
    gov.set_password("bob", "bob", "bob's own password", current="temporary password 1")
    assert gov.authenticate_password("bob", "bob's own password") == "bob"
    gov.list_cases("bob")


def test_first_policy_in_force_changed_file_waits_for_two_admins(
    engine: Engine,  # noqa: F811
) -> None:
    w = make_world(engine)
    other = second_admin(w.gov)
    first = w.gov.policy
    changed = policy_with(**{"max_candidates = 20": "max_candidates = 3"})
    gov = Governance(sessionmaker(engine), changed, clock=w.clock)
    # the file differs from the policy in force: that stays in force
    assert gov.policy.sha256 == first.sha256 and gov.policy.search.max_candidates == 20
    status = gov.policy_status()
    change_id = status["pending_change"]
    assert change_id is not None and status["file"].sha256 == changed.sha256
    # recorded once, not on every open
    again = Governance(sessionmaker(engine), changed, clock=w.clock)
    assert again.policy.sha256 == first.sha256
    assert w.audit_actions().count("policy.requested") == 1
    # the first administrator's approval endorses it; a second one puts it in force
    endorsed = gov.approve_change("admin", change_id)
    assert endorsed.status == "pending" and gov.policy.sha256 == first.sha256
    with pytest.raises(RefusedError, match="another administrator must approve"):
        gov.approve_change("admin", change_id)
    done = gov.approve_change(other, change_id)
    assert done.status == "approved"
    assert gov.policy.sha256 == changed.sha256 and gov.policy.search.max_candidates == 3
    assert Governance(sessionmaker(engine), changed).policy.sha256 == changed.sha256
    with w.sessions() as s:
        latest = s.execute(select(PolicyVersion).order_by(PolicyVersion.id.desc())).scalar()
        assert latest is not None and latest.sha256 == changed.sha256
        assert latest.activated_by == other
    assert w.last_entry("policy.activate").details["change_id"] == change_id

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from tests.support.govern import PASSWORD, World, engine, make_world, world  # noqa: F401

from facesearch.govern import AuthenticationError, Governance, RefusedError, Role, default_policy
from facesearch.govern.schema import AuditEntry, Token, User


def test_first_user_must_be_administrator(engine: Engine) -> None:  # noqa: F811
    gov = Governance(sessionmaker(engine), default_policy())
    with pytest.raises(RefusedError, match="first user must be an administrator"):
        gov.add_user("eve", "eve", [Role.INVESTIGATOR], PASSWORD)
    gov.add_user("root", "root", [Role.ADMINISTRATOR], PASSWORD)
    with pytest.raises(RefusedError, match="unknown user 'nobody'"):
        gov.add_user("nobody", "eve", [Role.INVESTIGATOR], PASSWORD)
    with sessionmaker(engine)() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.seq))]
    assert actions == ["policy.activate", "user.add.refused", "user.add", "user.add.refused"]


def test_passwords_are_argon2_and_checked(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine, passwords=True)
    with w.sessions() as s:
        h = s.execute(select(User.password_hash).where(User.username == "alice")).scalar_one()
    assert h.startswith("$argon2id$") and PASSWORD not in h
    assert w.gov.authenticate_password("alice", PASSWORD) == "alice"
    with pytest.raises(AuthenticationError):
        w.gov.authenticate_password("alice", "wrong password!!")
    assert w.last_entry().action == "authenticate.refused"
    with pytest.raises(RefusedError, match="at least 12"):
        w.gov.set_password("alice", "alice", "short", current=PASSWORD)
    with pytest.raises(RefusedError, match="only an administrator"):
        w.gov.set_password("alice", "bob", "another long password")
    w.gov.set_password("bob", "bob", "another long password", current=PASSWORD)
    assert w.gov.authenticate_password("bob", "another long password") == "bob"


def test_roles_are_checked(world: World) -> None:  # noqa: F811
    with pytest.raises(RefusedError, match="lacks the role"):
        world.gov.add_user("alice", "mallory", [Role.ADMINISTRATOR], PASSWORD)
    assert world.last_entry().action == "user.add.refused"
    with pytest.raises(RefusedError, match="unknown role"):
        world.gov.add_user("admin", "x", ["wizard"], PASSWORD)
    with pytest.raises(RefusedError, match="lacks the role"):
        world.gov.verify_audit("alice")


def test_disabled_user_is_refused(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine, passwords=True)
    w.gov.disable_user("admin", "alice")
    with pytest.raises(RefusedError, match="disabled"):
        w.gov.open_case("alice", "C-9", "threat-to-life", "W-1", "a long enough reason")
    with pytest.raises(AuthenticationError, match="disabled"):
        w.gov.authenticate_password("alice", PASSWORD)


def test_token_create_list_revoke(world: World) -> None:  # noqa: F811
    gov = world.gov
    token, token_id = gov.create_token("alice", "alice", "api", expires_days=30)
    assert token.startswith("fst_") and len(token) > 40
    with world.sessions() as s:
        row = s.get(Token, token_id)
        assert row is not None and row.token_hash != token and token not in row.token_hash
        # the secret appears nowhere in the audit log
        assert all(token not in d for (d,) in s.execute(select(AuditEntry.details)))
    assert gov.authenticate_token(token) == "alice"
    assert gov.resolve_actor("alice", token) == "alice"
    with pytest.raises(AuthenticationError, match="belongs to 'alice'"):
        gov.resolve_actor("bob", token)
    listed = gov.list_tokens("alice")
    assert [t["id"] for t in listed] == [token_id] and "token_hash" not in listed[0]
    assert gov.list_tokens("bob") == []
    with pytest.raises(RefusedError, match="only an administrator"):
        gov.revoke_token("bob", token_id)
    gov.revoke_token("alice", token_id)
    with pytest.raises(AuthenticationError, match="revoked"):
        gov.authenticate_token(token)
    assert world.last_entry().action == "authenticate.refused"
    assert world.last_entry().details["prefix"] == token[:12]


def test_expired_and_unknown_tokens_are_refused(world: World) -> None:  # noqa: F811
    token, _ = world.gov.create_token("bob", "bob", "short-lived", expires_days=1)
    assert world.gov.authenticate_token(token) == "bob"
    world.clock.advance(days=1, seconds=1)
    with pytest.raises(AuthenticationError, match="expired"):
        world.gov.authenticate_token(token)
    with pytest.raises(AuthenticationError, match="unknown token"):
        world.gov.authenticate_token("fst_" + "A" * 43)
    with pytest.raises(RefusedError, match="only by its owner"):
        world.gov.create_token("bob", "alice", "x")

"""A Bearer token is checked once per request: the request guard checks it before the body is
read and leaves the principal for the route's dependency; a bad token is still refused at the
guard and counted. The API's auth methods are the application's (``govern/actor.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from tests.support.api import ApiEnv, api_env

from facesearch.govern.actor import AUTH_METHODS


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("auth-once"), passwords=()) as e:
        yield e


def token_checks(env: ApiEnv) -> tuple[list[str], Any]:
    """The token look-ups run on the catalog (statements reading ``gov_tokens`` by hash),
    recorded as they run; returns the list and the listener (to remove)."""
    with env.service.governance.session() as s:
        engine = s.get_bind().engine
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM gov_tokens" in statement and "token_hash" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    return seen, (engine, listener)


def test_token_is_checked_once_per_request(env: ApiEnv) -> None:
    token, _ = env.service.governance.create_token("aud", "aud", "once")
    client = env.client()
    auth = {"Authorization": f"Bearer {token}"}
    seen, (engine, listener) = token_checks(env)
    try:
        r = client.post("/api/v1/policy/validate", json={"text": "version = 1\n"}, headers=auth)
        assert r.status_code == 200 and r.json()["valid"] is False
        assert len(seen) == 1, seen  # the guard's check only (a body: the guard runs)
        seen.clear()
        r = client.get("/api/v1/auth/me", headers=auth)
        assert r.status_code == 200 and r.json()["auth"] == "token"
        assert len(seen) == 1, seen  # no body: the dependency's check only
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def counted(env: ApiEnv) -> int:
    """Anonymous refusals the RefusalLog counted so far (the first of each window and those
    counted after it)."""
    return sum(1 + w.count for w in env.app.state.refusals._windows.values())


def test_a_bad_token_is_refused_at_the_guard_and_counted(env: ApiEnv) -> None:
    before = counted(env)
    auth = {"Authorization": "Bearer fs_not-a-real-token"}
    r = env.client().post("/api/v1/policy/validate", json={"text": "x"}, headers=auth)
    assert r.status_code == 401  # by the guard, before the body
    r = env.client().get("/api/v1/auth/me", headers=auth)
    assert r.status_code == 401  # by the dependency
    assert counted(env) == before + 2


def test_auth_methods_come_from_one_place(env: ApiEnv) -> None:
    spec = env.client().get("/openapi.json").json()
    auth = spec["components"]["schemas"]["MeOut"]["properties"]["auth"]
    assert sorted(auth["enum"]) == sorted(AUTH_METHODS)
    assert "cli" not in AUTH_METHODS

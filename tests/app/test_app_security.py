"""Security fixes of issue 21 at the application layer: tokens minted only by their owner,
password logins that take as long for unknown users, and case numbers that stay reachable."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.govern import add_user_approved

from facesearch.app.service import Service
from facesearch.govern import AuthenticationError, RefusedError, Role
from facesearch.govern.audit import entries
from facesearch.settings import Settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def service(tmp_path: Path):
    s = Service(Settings(data_dir=tmp_path / "data"))
    s.library.initialise("admin")
    gov = s.governance
    gov.add_user("admin", "alice", [Role.INVESTIGATOR], None)
    add_user_approved(gov, "admin", "sam", [Role.SUPERVISOR], None)
    gov.add_user("admin", "pat", [Role.INVESTIGATOR], PASSWORD)
    yield s
    s.close()


def test_an_administrator_cannot_create_a_token_for_someone_else(service: Service) -> None:
    admin = service.accounts.principal("admin", "cli")
    sam = service.accounts.principal("sam", "cli")
    with pytest.raises(RefusedError, match="only by its owner"):
        service.accounts.create_token(admin, "sam", "as sam", None)
    with service.governance.session() as s:
        last = list(entries(s))[-1]
    assert last.action == "token.create.refused" and last.actor == "admin"
    assert last.details["user"] == "sam"
    assert service.accounts.list_tokens(admin, "sam") == []
    # the owner creates it; the administrator may still list and revoke it
    _, token_id = service.accounts.create_token(sam, None, "script", None)
    _, own_id = service.accounts.create_token(admin, "admin", "mine", None)
    assert [t["id"] for t in service.accounts.list_tokens(admin, "sam")] == [token_id]
    service.accounts.revoke_token(admin, token_id)
    assert service.accounts.list_tokens(sam)[0]["revoked_at"] is not None
    assert own_id != token_id


def _mean_failed_login(login: Callable[[], object]) -> float:
    took = []
    for _ in range(3):
        start = time.perf_counter()
        with pytest.raises(AuthenticationError, match="wrong username or password"):
            login()
        took.append(time.perf_counter() - start)
    return sum(took) / len(took)


def test_a_failed_login_takes_as_long_for_an_unknown_user(service: Service) -> None:
    accounts = service.accounts
    known = _mean_failed_login(lambda: accounts.login("pat", "not pat's password"))
    unknown = _mean_failed_login(lambda: accounts.login("nobody", "not pat's password"))
    # a token-only user (no password) is checked the same way
    no_password = _mean_failed_login(lambda: accounts.login("alice", "not pat's password"))
    for other in (unknown, no_password):
        assert known / 2 < other < known * 2, (known, unknown, no_password)
    # still logged, and the right password still signs in
    assert accounts.login("pat", PASSWORD).username == "pat"


@pytest.mark.parametrize(
    "number",
    ["OP-2024/017", "../C-1", "C-1\nforged", "C\t1", "C 1", "-C-1", "C" * 65, "é-1"],
)
def test_a_case_number_that_cannot_be_a_path_segment_is_refused(
    service: Service, number: str
) -> None:
    alice = service.accounts.principal("alice", "cli")
    with pytest.raises(RefusedError, match="invalid case number"):
        service.cases.open(alice, number, "threat-to-life", "Warrant 1", "a test case")
    with service.governance.session() as s:
        last = list(entries(s))[-1]
    assert last.action == "case.open.refused"
    assert [c.number for c in service.cases.summaries(alice)] == []


def test_case_numbers_in_use_are_accepted(service: Service) -> None:
    alice = service.accounts.principal("alice", "cli")
    for number in ("DEMO-20261207-015656-13584", "OP-2024-017", "T-1", "case_2.v1:a", "C" * 64):
        service.cases.open(alice, number, "threat-to-life", "Warrant 1", "a test case")
    assert len(service.cases.summaries(alice)) == 5


def _last(service: Service, action: str):
    with service.governance.session() as s:
        return [e for e in entries(s) if e.action == action][-1]


def test_every_audit_entry_says_how_and_from_where_the_actor_was_authenticated(
    service: Service,
) -> None:
    pat_password = service.accounts.login("pat", PASSWORD, origin="203.0.113.7")
    service.cases.open(
        pat_password, "CASE-PW", "cse-victim-id", "warrant 1", "a missing child seen in a photo"
    )
    entry = _last(service, "case.open")
    assert entry.actor == "pat"
    assert entry.details["auth"] == {"method": "password", "origin": "203.0.113.7"}

    token, token_id = service.accounts.create_token(pat_password, None, "script", None)
    by_token = service.accounts.from_token(token, origin="198.51.100.2")
    service.cases.open(
        by_token, "CASE-TOK", "cse-victim-id", "warrant 2", "a missing child seen in a photo"
    )
    auth = _last(service, "case.open").details["auth"]
    assert auth == {"method": "token", "token_id": token_id, "origin": "198.51.100.2"}

    # the command line names the OS account and host; a refusal records the same
    at_cli = service.accounts.for_cli(None, token)
    with pytest.raises(RefusedError):
        service.cases.decide(at_cli, "CASE-TOK", "approve", "")
    refused = _last(service, "case.approve.refused")
    assert refused.details["auth"]["method"] == "token"
    assert refused.details["auth"]["token_id"] == token_id
    assert refused.details["auth"]["origin"].startswith("cli uid=")

"""The CLI's principals on the application service: the user a credential proves, and the
local operator who may only read the figures, runs and policy (never act, never read cases)."""

from __future__ import annotations

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
    data = tmp_path / "data"
    s = Service(Settings(data_dir=data))
    s.library.initialise("admin")
    gov = s.governance
    gov.add_user("admin", "alice", [Role.INVESTIGATOR], PASSWORD)
    add_user_approved(gov, "admin", "sam", [Role.SUPERVISOR], PASSWORD)
    gov.open_case("alice", "C-1", "threat-to-life", "Warrant 1", "a test case")
    gov.approve_case("sam", "C-1", "ok")
    yield s
    s.close()


def _actions(service: Service) -> list[str]:
    with service.governance.session() as s:
        return [e.action for e in entries(s)]


def test_local_operator_reads_the_policy_and_nothing_else(service: Service) -> None:
    local = service.accounts.local_operator()
    assert local.via == "local" and not local.roles
    assert service.admin.show_policy(local).sha256 == service.governance.policy.sha256
    for act in (
        lambda: service.cases.summaries(local),
        lambda: service.accounts.list_users(local),
        lambda: service.cases.show(local, "C-1"),
        lambda: service.admin.verify_audit(local),
        lambda: service.admin.purge(local),
    ):
        with pytest.raises(RefusedError):
            act()
    refused = [a for a in _actions(service) if a.endswith(".refused")]
    assert len(refused) == 5  # each refusal is in the audit chain


def test_cli_principal_is_proven_and_carries_the_catalogs_roles(service: Service) -> None:
    alice = service.accounts.for_cli("Alice", password=PASSWORD)
    assert alice.username == "alice" and alice.roles == frozenset({Role.INVESTIGATOR})
    assert alice.via == "password" and alice.origin.startswith("cli uid=")
    # a name alone is no identity, and an unknown user's password is wrong: both refused, logged
    with pytest.raises(AuthenticationError, match="no identity"):
        service.accounts.for_cli("alice")
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        service.accounts.for_cli("ghost", password=PASSWORD)
    assert _actions(service)[-2:] == ["authenticate.refused", "authenticate.refused"]
    assert [c.number for c in service.cases.summaries(alice)] == ["C-1"]


def test_local_operator_reads_the_figures_and_runs(service: Service) -> None:
    local = service.accounts.local_operator()
    assert service.library.stats(local)["faces"] == 0
    assert service.library.runs(local) == []
    alice = service.accounts.for_cli("alice", password=PASSWORD)
    with pytest.raises(RefusedError, match="lacks the role"):
        service.library.runs(alice)  # administrators and auditors only
    assert _actions(service)[-1] == "ingest.runs.refused"

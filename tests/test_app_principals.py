"""The CLI's principals on the application service: the named user, and the local operator
who may only read the figures, runs and policy (never act, never read cases)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from facesearch.app.service import GovernanceOnly, Service
from facesearch.errors import ConfigError
from facesearch.govern import RefusedError, Role
from facesearch.settings import Settings
from test_govern_support import engine, make_world, open_approved_case  # noqa: F401


@pytest.fixture
def service(engine: Engine, tmp_path: Path):  # noqa: F811
    w = make_world(engine)
    open_approved_case(w)
    s = Service(Settings(data_dir=tmp_path), GovernanceOnly(w.gov))
    s.world = w  # type: ignore[attr-defined]
    yield s
    s.close()


def test_local_operator_reads_the_policy_and_nothing_else(service: Service) -> None:
    local = service.local_operator()
    assert local.via == "local" and not local.roles
    assert service.show_policy(local).sha256 == service.policy.sha256
    for act in (
        lambda: service.list_cases(local),
        lambda: service.list_users(local),
        lambda: service.show_case(local, "C-1"),
        lambda: service.verify_audit(local),
        lambda: service.purge(local),
    ):
        with pytest.raises(RefusedError):
            act()
    refused = [a for a in service.world.audit_actions() if a.endswith(".refused")]  # type: ignore[attr-defined]
    assert len(refused) == 5  # each refusal is in the audit chain


def test_cli_principal_carries_the_catalogs_roles(service: Service) -> None:
    alice = service.principal_for_cli("Alice", None)
    assert alice.username == "alice" and alice.roles == frozenset({Role.INVESTIGATOR})
    # a name that is not a user yet gets no role; governance refuses it with the reason
    ghost = service.principal_for_cli("ghost", None)
    assert not ghost.roles
    with pytest.raises(RefusedError, match="unknown user 'ghost'"):
        service.list_cases(ghost)
    assert [c.number for c in service.list_cases(alice)] == ["C-1"]


def test_without_a_gallery_the_engine_commands_say_so(service: Service) -> None:
    admin = service.principal_for_cli("admin", None)
    with pytest.raises(ConfigError, match="no gallery"):
        service.stats(admin)
    with pytest.raises(ConfigError, match="no gallery"):
        service.reindex(admin)

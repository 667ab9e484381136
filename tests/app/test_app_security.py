"""Security fixes of issue 21 at the application layer: tokens minted only by their owner,
password logins that take as long for unknown users, and case numbers that stay reachable."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.app.service import Service
from facesearch.govern import RefusedError, Role
from facesearch.govern.audit import entries
from facesearch.settings import Settings


@pytest.fixture
def service(tmp_path: Path):
    s = Service(Settings(data_dir=tmp_path / "data"))
    s.library.initialise("admin")
    gov = s.governance
    gov.add_user("admin", "alice", [Role.INVESTIGATOR], None)
    gov.add_user("admin", "sam", [Role.SUPERVISOR], None)
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

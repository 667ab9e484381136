"""Key rotation re-seals the vectors of other recognizers that standing data keeps during a
model migration (``moved-vectors``), so a switch after a rotation still opens them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.support.govern import (
    MODEL,
    PASSWORD,
    FakeBackend,
    add_user_approved,
    governed_photo_search,
    person_vec,
    probe_bytes,
)

from facesearch.app.keys import Keys
from facesearch.app.service import Service
from facesearch.govern import standing as st
from facesearch.govern import standing_moves as gsm
from facesearch.govern.moves_schema import StandingQueryVector
from facesearch.govern.schema import StandingQuery
from facesearch.govern.users import Role
from facesearch.settings import Settings
from facesearch.store.crypto import Cipher, generate_key, key_id_of, open_embedding, parse_key

OTHER = "agency-model@0123456789ab"


def test_rotation_reseals_a_standing_querys_vector_of_another_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = generate_key(), generate_key()
    data = tmp_path / "data"
    for name in ("FACESEARCH_OLD_ENCRYPTION_KEY", "FACESEARCH_ENCRYPTION_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", old)
    with Service.for_cli(Settings.load(data_dir=data)) as svc:
        svc.library.initialise("admin", PASSWORD)
        gov = svc.governance
        add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
        gov.add_user("admin", "inv", [Role.INVESTIGATOR])
        gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "rotation of moved vectors")
        gov.approve_case("sup", "C-1")
        out = governed_photo_search(gov, FakeBackend(gov.session), "inv", "C-1", probe_bytes(1))
        vectors = st.QueryVectors(MODEL, person_vec(1))
        query_id = gov.run(
            "inv",
            "standing.create",
            {},
            lambda s, a: st.create_query(
                s, a, gov.policy, gov.cipher, "inv", out.search_id, "find", vectors, 0,
                gov.clock(),
            ).id,
        )  # fmt: skip
        with gov.session() as s:
            gsm.store_query_vector(s, gov.cipher, query_id, OTHER, person_vec(3))
    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", new)
    monkeypatch.setenv("FACESEARCH_OLD_ENCRYPTION_KEY", old)
    with Service.for_cli(Settings.load(data_dir=data)) as svc:
        report = Keys(svc.ctx).rotate(svc.accounts.for_cli("admin", password=PASSWORD))
    assert report.counts["moved-vectors"] == 1
    monkeypatch.delenv("FACESEARCH_OLD_ENCRYPTION_KEY")
    cipher = Cipher(parse_key(new))
    with Service.for_cli(Settings.load(data_dir=data)) as svc, svc.governance.session() as s:
        row = s.get(StandingQueryVector, (query_id, OTHER))
        assert row is not None and key_id_of(row.embedding) == cipher.key_id
        vec = open_embedding(cipher, row.embedding, query_id, OTHER, st.EMBEDDING_COLUMN)
        np.testing.assert_allclose(vec, person_vec(3), atol=1e-6)
        # the switch moves the bytes as they are: the query opens them under its own id
        assert gsm.switch_queries(s, MODEL, OTHER) == 1
        query = s.get(StandingQuery, query_id)
        assert query is not None and query.model == OTHER and query.embedding is not None
        moved = open_embedding(cipher, query.embedding, query_id, OTHER, st.EMBEDDING_COLUMN)
        np.testing.assert_allclose(moved, person_vec(3), atol=1e-6)

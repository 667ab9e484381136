"""Key rotation re-seals what a standing query keeps (its vectors and its probe photo), so a
query made under the old key still runs once the old key is gone."""

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
from facesearch.govern.schema import StandingQuery
from facesearch.govern.users import Role
from facesearch.settings import Settings
from facesearch.store.crypto import Cipher, generate_key, key_id_of, parse_key


def test_rotation_reseals_standing_queries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = generate_key(), generate_key()
    data = tmp_path / "data"
    for name in ("FACESEARCH_OLD_ENCRYPTION_KEY", "FACESEARCH_ENCRYPTION_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", old)
    second = person_vec(2)
    with Service.for_cli(Settings.load(data_dir=data)) as svc:
        svc.library.initialise("admin", PASSWORD)
        gov = svc.governance
        add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
        gov.add_user("admin", "inv", [Role.INVESTIGATOR])
        gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "rotation of standing data")
        gov.approve_case("sup", "C-1")
        out = governed_photo_search(gov, FakeBackend(gov.session), "inv", "C-1", probe_bytes(1))
        vectors = st.QueryVectors(MODEL, person_vec(1), "dlib-test", second)
        query_id = gov.run(
            "inv",
            "standing.create",
            {},
            lambda s, a: (
                st.create_query(
                    s,
                    a,
                    gov.policy,
                    gov.cipher,
                    "inv",
                    out.search_id,
                    "find",
                    vectors,
                    0,
                    gov.clock(),
                ).id
            ),
        )
    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", new)
    monkeypatch.setenv("FACESEARCH_OLD_ENCRYPTION_KEY", old)
    with Service.for_cli(Settings.load(data_dir=data)) as svc:
        report = Keys(svc.ctx).rotate(svc.accounts.for_cli("admin", password=PASSWORD))
    assert report.counts["standing"] == 3  # two vectors and the probe
    monkeypatch.delenv("FACESEARCH_OLD_ENCRYPTION_KEY")
    cipher = Cipher(parse_key(new))
    with Service.for_cli(Settings.load(data_dir=data)) as svc:
        gov = svc.governance
        with gov.session() as s:
            row = s.get(StandingQuery, query_id)
            assert row is not None
            for blob in (row.embedding, row.second_embedding, row.probe):
                assert blob is not None and key_id_of(blob) == cipher.key_id
        (due,) = gov.run(
            "admin",
            "t",
            {},
            lambda s, a: st.expire_and_collect(s, a, gov.cipher, "admin", gov.clock()),
        )
    np.testing.assert_array_equal(due.vectors.embedding, person_vec(1))
    np.testing.assert_array_equal(due.vectors.second, second)
    assert due.probe == probe_bytes(1)

"""Over HTTP a write the storage refuses is a problem+json answer without internals (issue 22,
finding 5): 507 for a full disk, 503 with Retry-After for a locked catalog."""

from __future__ import annotations

import sqlite3

from tests.support.api import api_env
from tests.support.disk import fill, small_disk

from facesearch.serve.api.errors import PROBLEM_JSON

CASE = {
    "number": "C-1",
    "purpose": "threat-to-life",
    "legal_authority": "warrant 42",
    "justification": "a test case",
}


def _no_internals(detail: str, *paths: object) -> None:
    for hidden in ("sqlite", "Traceback", "OperationalError", *map(str, paths)):
        assert hidden not in detail, detail


def test_a_locked_catalog_is_503_with_retry_after(tmp_path):
    url = f"sqlite:///{tmp_path / 'data' / 'catalog.db'}?timeout=0.3"
    with api_env(tmp_path, url, passwords=("inv",)) as env:
        inv = env.client("inv")
        other = sqlite3.connect(tmp_path / "data" / "catalog.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            r = inv.post("/api/v1/cases", json=CASE)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.headers["retry-after"]
        detail = r.json()["detail"]
        assert detail == (
            "the server cannot write the catalog: another process holds its lock; "
            "nothing stored so far was lost"
        )
        _no_internals(detail, tmp_path)
        assert inv.post("/api/v1/cases", json=CASE).status_code == 201  # released: it works


def test_a_full_disk_is_507(tmp_path):
    with (
        small_disk(tmp_path / "disk", 8 * 1024) as disk,
        api_env(disk, passwords=("inv",)) as env,
    ):
        inv = env.client("inv")
        filler = fill(disk, leave=0)
        r = inv.post("/api/v1/cases", json=CASE)
        assert r.status_code == 507, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        detail = r.json()["detail"]
        assert detail.startswith("the server cannot write the catalog: the disk is full")
        _no_internals(detail, disk)
        filler.unlink()
        assert inv.post("/api/v1/cases", json=CASE).status_code == 201

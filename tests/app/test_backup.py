"""Backup and restore (issue 22): an online, checksummed copy of an installation that restores
to the same figures, the same search answers and an audit chain that verifies; a backup
altered after it was made is refused, naming the file; a backup made while searches run."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.atrest import fill, unit_vectors

from facesearch.app.backup import BackupError, Backups, restore
from facesearch.app.service import Service
from facesearch.govern import RefusedError, Role
from facesearch.govern.audit import entries
from facesearch.settings import Settings
from facesearch.store.crypto import generate_key
from facesearch.store.snapshot import MANIFEST_FILE, MANIFEST_HASH_FILE

KEY = generate_key()


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FACESEARCH_ENCRYPTION_KEY", "FACESEARCH_ENCRYPTION_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)


def settings(data: Path, key: str | None = None) -> Settings:
    return Settings(data_dir=data, encryption_key=key)


def installation(data: Path, key: str | None = None) -> np.ndarray:
    """An installation with an administrator, an investigator and 24 synthetic faces."""
    with Service(settings(data, key)) as service:
        service.library.initialise("admin")
        service.governance.add_user("admin", "ivy", [Role.INVESTIGATOR], None)
        return fill(service.gallery, 24)


def figures(data: Path, key: str | None = None) -> dict[str, Any]:
    with Service(settings(data, key)) as service:
        info = service.library.stats(service.accounts.local_operator())
    info.pop("data_dir")
    info.pop("warnings", None)
    info["backends"].pop("database")  # the catalog's path, in the data directory
    return info


def answers(data: Path, probes: np.ndarray, key: str | None = None) -> list[Any]:
    with Service(settings(data, key)) as service:
        hits = service.gallery.vectors.search(probes, 5)
        assert service.gallery.vectors.repairs == {}
    return [hits.ids.tolist(), np.round(hits.scores, 6).tolist()]


def audit_log(data: Path) -> list[Any]:
    with Service(settings(data)) as service, service.governance.session() as s:
        return list(entries(s))


def backup(data: Path, dest: Path, key: str | None = None, **kw: Any) -> Any:
    with Service(settings(data, key)) as service:
        admin = service.accounts.principal("admin", "cli", origin="test")
        return Backups(service.ctx).backup(admin, dest, **kw)


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "encrypted"])
def test_backup_then_restore_gives_the_same_installation(tmp_path: Path, key: str | None) -> None:
    data, dest, target = tmp_path / "data", tmp_path / "backup", tmp_path / "restored"
    vectors = installation(data, key)
    probes = np.vstack([vectors[:3], unit_vectors(2, vectors.shape[1], seed=99)])
    want_figures, want_answers = figures(data, key), answers(data, probes, key)
    stages: set[str] = set()

    report = backup(data, dest, key, on_progress=lambda stage, done, total: stages.add(stage))
    assert stages == {"catalog", "files"}
    assert report.encrypted is (key is not None)
    manifest = json.loads((dest / MANIFEST_FILE).read_text())
    listed = {f["path"] for f in manifest["files"]}
    assert {"catalog.db", "policy.toml", "gallery.json"} <= listed
    assert any(p.startswith("index/") for p in listed) and any(
        p.startswith("blobs/") for p in listed
    )
    assert (dest / MANIFEST_HASH_FILE).read_text().split()[0] == report.manifest_sha256
    # everything private; encrypted data copied as stored, and the key nowhere in the copy
    for path in [dest, *dest.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    blobs = [p for p in listed if p.startswith("blobs/")]
    assert all((dest / p).read_bytes() == (data / p).read_bytes() for p in blobs)
    if key is not None:
        assert manifest["encrypted"] is True
        assert any("key is not in the backup" in n for n in report.notes)
        for path in dest.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                assert key.encode() not in content and bytes.fromhex(key) not in content
    # the act is in the source's log, with the manifest's hash
    last = audit_log(data)[-1]
    assert last.action == "backup" and last.actor == "admin"
    assert last.details["manifest_sha256"] == report.manifest_sha256

    restored = restore(dest, target, settings=settings(target, key))
    assert restored.manifest_sha256 == report.manifest_sha256
    assert restored.audit_head_seq == report.audit_head_seq
    assert figures(target, key) == want_figures
    assert answers(target, probes, key) == want_answers
    log = audit_log(target)
    assert log[-1].action == "restore" and log[-1].actor == "(local)"
    assert log[-1].details["auth"]["origin"].startswith("cli uid=")
    assert log[-1].details["manifest_sha256"] == report.manifest_sha256
    with Service(settings(target, key)) as service:  # the restored users work, chain verifies
        result = service.admin.verify_audit(service.accounts.principal("admin", "cli"))
        assert result.ok and result.checked == len(log)
        assert [u["username"] for u in service.accounts.list_users(
            service.accounts.principal("admin", "cli"))] == ["admin", "ivy"]  # fmt: skip


def test_a_changed_missing_or_extra_file_is_refused_by_name(tmp_path: Path) -> None:
    data, dest = tmp_path / "data", tmp_path / "backup"
    installation(data)
    report = backup(data, dest)
    manifest = json.loads((dest / MANIFEST_FILE).read_text())
    blob = next(f["path"] for f in manifest["files"] if f["path"].startswith("blobs/"))

    original = (dest / blob).read_bytes()
    (dest / blob).write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(BackupError, match=f"{blob} in the backup .* was changed"):
        restore(dest, tmp_path / "t1", settings=settings(tmp_path / "t1"))
    assert not (tmp_path / "t1").exists()  # nothing restored
    (dest / blob).unlink()
    with pytest.raises(BackupError, match=f"{blob} is missing"):
        restore(dest, tmp_path / "t2", settings=settings(tmp_path / "t2"))
    (dest / blob).write_bytes(original)
    (dest / "blobs" / "planted").write_bytes(b"x")
    with pytest.raises(BackupError, match=r"blobs/planted .* is not in its manifest"):
        restore(dest, tmp_path / "t3", settings=settings(tmp_path / "t3"))
    (dest / "blobs" / "planted").unlink()
    # the manifest itself: edited (its hash file no longer matches), or not the audited one
    text = (dest / MANIFEST_FILE).read_text()
    (dest / MANIFEST_FILE).write_text(text.replace(blob, blob + "x"))
    with pytest.raises(BackupError, match=r"manifest\.json was changed"):
        restore(dest, tmp_path / "t4", settings=settings(tmp_path / "t4"))
    (dest / MANIFEST_FILE).write_text(text)
    with pytest.raises(BackupError, match="not the expected manifest"):
        restore(dest, tmp_path / "t5", settings=settings(tmp_path / "t5"), expected_sha256="0" * 64)
    # a target that is not empty is refused; intact, it restores
    (tmp_path / "t6").mkdir()
    (tmp_path / "t6" / "x").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        restore(dest, tmp_path / "t6", settings=settings(tmp_path / "t6"))
    done = restore(
        dest, tmp_path / "t7", settings=settings(tmp_path / "t7"),
        expected_sha256=report.manifest_sha256,
    )  # fmt: skip
    assert done.files == len(manifest["files"])


def test_only_an_administrator_backs_up_and_never_into_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    installation(data)
    with Service(settings(data)) as service:
        ivy = service.accounts.principal("ivy", "cli")
        with pytest.raises(RefusedError):
            Backups(service.ctx).backup(ivy, tmp_path / "b")
        admin = service.accounts.principal("admin", "cli")
        with pytest.raises(BackupError, match="overlap"):
            Backups(service.ctx).backup(admin, data / "backup")
    assert not (tmp_path / "b").exists() and not (data / "backup").exists()
    assert audit_log(data)[-1].action == "backup.refused"


def test_an_unfinished_backup_is_refused(tmp_path: Path) -> None:
    data, dest = tmp_path / "data", tmp_path / "backup"
    installation(data)
    backup(data, dest)
    (dest / MANIFEST_FILE).unlink()  # as if killed before the manifest was written
    with pytest.raises(BackupError, match="unfinished"):
        restore(dest, tmp_path / "t", settings=settings(tmp_path / "t"))


def test_backup_while_searches_run_and_another_process_ingests(tmp_path: Path) -> None:
    """A search thread runs throughout, and a second installation handle (its own database
    connection and index, as another process would have) keeps adding faces and saving its
    index: the backup succeeds, and its copy is consistent - the restored chain verifies and
    ends at the head the manifest recorded, every face of the copied catalog is searchable
    (the index brought up to date with it) and the probes find their own faces first."""
    data, dest, target = tmp_path / "data", tmp_path / "backup", tmp_path / "restored"
    vectors = installation(data)
    probes = vectors[:4]
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = {"searches": 0, "writes": 0}

    def guarded(step: Any, counter: str) -> Any:
        def loop() -> None:
            while not stop.is_set():
                try:
                    step()
                except BaseException as exc:
                    errors.append(exc)
                    return
                counts[counter] += 1

        return loop

    with Service(settings(data)) as service, Service(settings(data)) as other:
        first = answers(data, probes)[0]

        def search() -> None:
            with service.ctx.engine_lock.read():
                hits = service.gallery.vectors.search(probes, 5)
            assert hits.ids[:, 0].tolist() == [row[0] for row in first]

        def ingest() -> None:
            fill(other.gallery, 2, seed=1000 + counts["writes"])

        threads = [
            threading.Thread(target=guarded(search, "searches")),
            threading.Thread(target=guarded(ingest, "writes")),
        ]
        for t in threads:
            t.start()
        try:
            while (not counts["searches"] or not counts["writes"]) and not errors:
                os.sched_yield()
            at_start = dict(counts)
            held: list[int] = []

            def hold(stage: str, done: int, total: int) -> None:
                """After the catalog was copied, before the files: wait until the other
                handle has added faces and saved its index again, and a search has run."""
                if stage != "files" or held:
                    return
                held.append(1)
                seen, deadline = dict(counts), time.monotonic() + 60
                while time.monotonic() < deadline and not errors:
                    if counts["writes"] > seen["writes"] and counts["searches"] > seen["searches"]:
                        return
                    time.sleep(0.01)

            admin = service.accounts.principal("admin", "cli")
            report = Backups(service.ctx).backup(admin, dest, on_progress=hold)
            at_end = dict(counts)
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert errors == []
    # both went on while the backup ran, between its catalog copy and its file copies
    assert at_end["searches"] > at_start["searches"] and at_end["writes"] > at_start["writes"]
    manifest = json.loads((dest / MANIFEST_FILE).read_text())
    restored = restore(dest, target, settings=settings(target))
    assert restored.audit_head_seq == manifest["audit_head"]["seq"] == report.audit_head_seq
    with Service(settings(target)) as service:
        info = service.gallery.stats()
        assert info["indexed_faces"] == info["faces"] >= 24
        hits = service.gallery.vectors.search(probes, 5)
        assert hits.ids[:, 0].tolist() == [row[0] for row in first]
        assert np.allclose(hits.scores[:, 0], 1.0, atol=1e-4)

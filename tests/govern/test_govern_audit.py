from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from tests.support.cli import init_args, init_input, make_token
from tests.support.govern import (  # noqa: F401
    World,
    allow_tampering,
    engine,
    make_world,
    open_approved_case,
    probe_bytes,
)

from facesearch.govern import PolicyError, default_policy, parse_policy
from facesearch.govern.audit import entry_hash, verify
from facesearch.govern.checkpoint import (
    KEY_ENV,
    KEY_PEM_ENV,
    Checkpoint,
    CheckpointError,
    generate_key_files,
    load_public_key,
    load_signing_key,
)
from facesearch.govern.policy import Policy
from facesearch.govern.schema import AuditEntry, AuditHead

COLUMNS = ("ts", "actor", "action", "case_number", "details", "prev_hash", "hash")


@pytest.fixture
def logged(engine: Engine) -> Iterator[World]:  # noqa: F811
    """A world with a realistic log: users, a case, searches, reviews, a report."""
    w = make_world(engine)
    open_approved_case(w)
    o = w.search("alice", "C-1", probe_bytes(3))
    w.gov.review("alice", o.search_id, o.candidates[0].face_id, "possible_match", "note")
    w.search("alice", "C-1", probe_bytes(4))
    w.gov.case_report("sam", "C-1", "html")
    w.gov.close_case("sam", "C-1")
    assert _verify(w).ok
    yield w


def _verify(w: World):  # type: ignore[no-untyped-def]
    with w.sessions() as s:
        return verify(s)


def _row(w: World, seq: int) -> AuditEntry:
    with w.sessions() as s:
        row = s.get(AuditEntry, seq)
        assert row is not None
        s.expunge(row)
        return row


def _set(w: World, seq: int, **values: object) -> None:
    with w.sessions() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(**values))
        s.commit()


def _flip(value: str, pos: int) -> str:
    return value[:pos] + chr(ord(value[pos]) ^ 1) + value[pos + 1 :]


def test_log_verifies_and_is_append_only(logged: World, engine: Engine) -> None:  # noqa: F811
    result = _verify(logged)
    assert result.ok and result.first_bad_seq is None
    assert result.checked == result.head_seq == len(logged.audit_actions())
    with engine.connect() as conn:
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("UPDATE gov_audit SET actor = 'x' WHERE seq = 3"))
        conn.rollback()
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("DELETE FROM gov_audit WHERE seq = 3"))


def test_changing_any_single_byte_of_an_entry_is_detected(
    logged: World,
    engine: Engine,  # noqa: F811
) -> None:
    allow_tampering(engine)
    seq = next(
        e.seq
        for e in _entries(logged)
        if e.action == "case.assign"  # a short entry: every byte of every column is tried
    )
    original = _row(logged, seq)
    tried = 0
    for column in COLUMNS:
        value = getattr(original, column)
        for pos in range(len(value)):
            _set(logged, seq, **{column: _flip(value, pos)})
            result = _verify(logged)
            assert not result.ok, (column, pos)
            assert result.first_bad_seq == seq, (column, pos, result.problems)
            tried += 1
        _set(logged, seq, **{column: value})
    assert tried > 150
    # and a byte every few positions of a long search entry
    search = next(e for e in _entries(logged) if e.action == "search")
    details = _row(logged, search.seq).details
    for pos in range(0, len(details), 5):
        _set(logged, search.seq, details=_flip(details, pos))
        assert _verify(logged).first_bad_seq == search.seq, pos
    _set(logged, search.seq, details=details)
    assert _verify(logged).ok  # everything restored


def test_changing_a_search_entry_is_detected(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    search = next(e for e in _entries(logged) if e.action == "search")
    row = _row(logged, search.seq)
    # hide a candidate shown, as someone covering their tracks would
    forged = row.details.replace('"candidates":[{', '"candidates":[{"x":0,', 1)
    _set(logged, search.seq, details=forged)
    result = _verify(logged)
    assert result.first_bad_seq == search.seq and "modified" in (result.problem or "")
    # ... and recomputing that entry's own hash only moves the break to the next link
    _set(
        logged,
        search.seq,
        hash=entry_hash(
            row.seq, row.ts, row.actor, row.action, row.case_number, forged, row.prev_hash
        ),
    )
    result = _verify(logged)
    assert result.first_bad_seq == search.seq + 1 and "link is broken" in (result.problem or "")


def test_deleted_entries_are_detected(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    head_seq = _verify(logged).head_seq
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM gov_audit WHERE seq = 5"))
    result = _verify(logged)
    assert result.first_bad_seq == 5 and "#5 are missing (deleted)" in (result.problem or "")
    # deleting the last entries is caught by the head row
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM gov_audit WHERE seq >= {head_seq - 1}"))
    problems = dict(_verify(logged).problems)
    assert "entries at the end were deleted" in problems[head_seq - 1]
    # deleting the first entry
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM gov_audit WHERE seq = 1"))
    assert _verify(logged).first_bad_seq == 1


def test_reordered_entries_are_detected(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    with engine.begin() as conn:  # swap entries 7 and 9 by renumbering them
        conn.execute(text("UPDATE gov_audit SET seq = -7 WHERE seq = 7"))
        conn.execute(text("UPDATE gov_audit SET seq = 7 WHERE seq = 9"))
        conn.execute(text("UPDATE gov_audit SET seq = 9 WHERE seq = -7"))
    result = _verify(logged)
    assert result.first_bad_seq == 7 and not result.ok


def test_inserted_entry_is_detected(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    head_seq = _verify(logged).head_seq
    with engine.begin() as conn:  # make room after entry 6 and insert a well-formed forgery
        for seq in range(head_seq, 6, -1):
            conn.execute(text(f"UPDATE gov_audit SET seq = {seq + 1} WHERE seq = {seq}"))
    prev = _row(logged, 6)
    details = '{"case":"C-1","user":"mallory"}'
    h = entry_hash(7, prev.ts, "sam", "case.assign", "C-1", details, prev.hash)
    with logged.sessions() as s:
        s.add(
            AuditEntry(
                seq=7,
                ts=prev.ts,
                actor="sam",
                action="case.assign",
                case_number="C-1",
                details=details,
                prev_hash=prev.hash,
                hash=h,
            )
        )
        s.commit()
    result = _verify(logged)
    assert result.first_bad_seq == 8  # the shifted original no longer matches its number
    assert not result.ok


def test_full_rewrite_is_caught_by_an_anchor(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    anchor = _verify(logged)
    anchors = {anchor.head_seq: anchor.head_hash}
    # rewrite entry 5 and recompute every later hash and the head, as a thorough forger would
    with logged.sessions() as s:
        rows = list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
        prev = rows[3].hash
        for row in rows[4:]:
            if row.seq == 5:
                row.actor = "someone-else"
            row.prev_hash = prev
            row.hash = entry_hash(
                row.seq, row.ts, row.actor, row.action, row.case_number, row.details, prev
            )
            prev = row.hash
        head = s.get(AuditHead, 1)
        assert head is not None
        head.hash = prev
        s.commit()
    assert _verify(logged).ok  # undetectable from inside the database alone ...
    with logged.sessions() as s:
        result = verify(s, anchors)  # ... but not against a head published earlier
    assert not result.ok and result.first_bad_seq == anchor.head_seq


def test_record_for_other_components(logged: World) -> None:
    e = logged.gov.record("ingest-bot", "ingest.run", {"collection": "web", "images": 12})
    assert e.seq == _verify(logged).head_seq and e.details["images"] == 12
    assert _verify(logged).ok


def _entries(w: World):  # type: ignore[no-untyped-def]
    from facesearch.govern.audit import entries

    with w.sessions() as s:
        return list(entries(s))


# --- signed checkpoints (issue 9, defect 5) --------------------------------------------------


@pytest.fixture
def signer(tmp_path: Path) -> tuple[Path, Ed25519PrivateKey, Ed25519PublicKey]:
    """A key pair made as `audit keygen` makes it, outside any data directory."""
    key_path, pub_path, _ = generate_key_files(tmp_path / "keys" / "audit.key")
    return key_path, load_signing_key(key_path, env={}), load_public_key(pub_path)


def _checkpoint(w: World, tmp_path: Path, key: Ed25519PrivateKey, name: str = "cp.json") -> Path:
    out = tmp_path / "checkpoints" / name
    w.gov.checkpoint("audrey", out, key)
    return out


def _verify_with(w: World, trusted: Ed25519PublicKey, *files: Path):  # type: ignore[no-untyped-def]
    return w.gov.verify_audit("audrey", checkpoints=list(files), trusted_key=trusted)


def _drop_last_and_move_head(engine: Engine) -> int:  # noqa: F811
    """Delete the newest entry and point the head row at the one before, as an insider with
    the database file would. Returns the deleted entry's number."""
    with engine.begin() as conn:
        last = conn.execute(text("SELECT max(seq) FROM gov_audit")).scalar_one()
        prev_hash = conn.execute(
            text("SELECT hash FROM gov_audit WHERE seq = :s"), {"s": last - 1}
        ).scalar_one()
        conn.execute(text("DELETE FROM gov_audit WHERE seq = :s"), {"s": last})
        conn.execute(
            text("UPDATE gov_audit_head SET seq = :s, hash = :h WHERE id = 1"),
            {"s": last - 1, "h": prev_hash},
        )
    return int(last)


def test_checkpoint_file_is_signed_json_of_the_head(logged: World, tmp_path: Path, signer) -> None:  # type: ignore[no-untyped-def]
    key_path, key, trusted = signer
    assert key_path.stat().st_mode & 0o777 == 0o600
    head_seq = _verify(logged).head_seq
    out = _checkpoint(logged, tmp_path, key)
    doc = json.loads(out.read_text())
    assert doc["seq"] == head_seq and doc["entry_hash"] == _row(logged, head_seq).hash
    assert doc["entry_ts"] == _row(logged, head_seq).ts
    assert doc["fingerprint"] == Checkpoint.read(out).fingerprint
    assert Checkpoint.read(out).problems(trusted) == []
    assert logged.last_entry().action == "audit.checkpoint"  # the act is logged
    result = _verify_with(logged, trusted, out)
    assert result.ok and result.checkpoints_verified == [str(out)]
    assert "1 signed checkpoint held" in result.summary()


def test_deleting_the_newest_entries_is_caught_only_by_a_checkpoint(
    logged: World,
    engine: Engine,  # noqa: F811
    tmp_path: Path,
    signer,  # type: ignore[no-untyped-def]
) -> None:
    _, key, trusted = signer
    out = _checkpoint(logged, tmp_path, key)
    checkpointed = Checkpoint.read(out).seq
    allow_tampering(engine)
    deleted = _drop_last_and_move_head(engine)  # the audit.checkpoint entry
    deleted = _drop_last_and_move_head(engine)  # and the checkpointed head itself
    assert deleted == checkpointed
    assert _verify(logged).ok  # the chain alone cannot tell ...
    result = _verify_with(logged, trusted, out)  # ... the signed checkpoint can
    assert not result.ok and not result.problems
    missing, behind = result.checkpoint_problems
    assert {missing.source, behind.source} == {str(out)}
    assert not missing.forged and not behind.forged
    assert f"no longer holds checkpointed entry #{checkpointed}" in missing.problem
    assert f"head #{checkpointed - 1} is behind" in behind.problem
    assert str(out) in result.summary() and "FAILS checkpoint" in result.summary()


def test_a_shortened_log_written_on_is_caught_by_its_checkpoint(
    logged: World,
    engine: Engine,  # noqa: F811
    tmp_path: Path,
    signer,  # type: ignore[no-untyped-def]
) -> None:
    _, key, trusted = signer
    out = _checkpoint(logged, tmp_path, key)
    allow_tampering(engine)
    _drop_last_and_move_head(engine)
    _drop_last_and_move_head(engine)
    logged.gov.record("admin", "user.list", {"count": 6})  # a new entry takes the number
    result = _verify_with(logged, trusted, out)
    assert not result.ok
    assert "differs from the checkpointed one" in result.checkpoint_problems[0].problem


@pytest.mark.parametrize(
    "tamper",
    ["edit", "delete-middle", "re-time", "re-attribute"],
)
def test_every_kind_of_tampering_is_detected_with_checkpoints(
    logged: World,
    engine: Engine,  # noqa: F811
    tmp_path: Path,
    signer,  # type: ignore[no-untyped-def]
    tamper: str,
) -> None:
    _, key, trusted = signer
    out = _checkpoint(logged, tmp_path, key)
    allow_tampering(engine)
    search = next(e for e in _entries(logged) if e.action == "search")
    row = _row(logged, search.seq)
    if tamper == "edit":
        _set(logged, search.seq, details=row.details.replace('"k":', '"k":1', 1))
    elif tamper == "delete-middle":
        with engine.begin() as conn:
            conn.execute(text(f"DELETE FROM gov_audit WHERE seq = {search.seq}"))
    elif tamper == "re-time":
        _set(logged, search.seq, ts=row.ts.replace(row.ts[:4], "2019", 1))
    else:
        _set(logged, search.seq, actor="bob")
    result = _verify_with(logged, trusted, out)
    assert not result.ok and result.first_bad_seq == search.seq, result.problems
    assert "TAMPERED" in result.summary()


def test_forged_checkpoints_are_refused(logged: World, tmp_path: Path, signer) -> None:  # type: ignore[no-untyped-def]
    _, key, trusted = signer
    genuine = _checkpoint(logged, tmp_path, key)
    # signed by another key: a forger's own, embedded in the file
    other = _checkpoint(logged, tmp_path, Ed25519PrivateKey.generate(), "other.json")
    # a genuine checkpoint with its number or hash edited
    doc = json.loads(genuine.read_text())
    edited_seq = tmp_path / "edited-seq.json"
    edited_seq.write_text(json.dumps({**doc, "seq": doc["seq"] - 3}))
    edited_hash = tmp_path / "edited-hash.json"
    edited_hash.write_text(json.dumps({**doc, "entry_hash": _row(logged, 2).hash}))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    result = _verify_with(logged, trusted, genuine, other, edited_seq, edited_hash, garbage)
    assert not result.ok and result.checkpoints_verified == [str(genuine)]
    found = {p.source: p for p in result.checkpoint_problems}
    assert set(found) == {str(other), str(edited_seq), str(edited_hash), str(garbage)}
    assert all(p.forged for p in found.values())
    assert "signed by another key" in found[str(other)].problem
    assert "signature does not verify" in found[str(edited_seq)].problem
    assert "signature does not verify" in found[str(edited_hash)].problem
    assert "not JSON" in found[str(garbage)].problem
    # without a trusted key, a checkpoint is not checked against its own key
    with pytest.raises(CheckpointError, match="trusted public key"):
        logged.gov.verify_audit("audrey", checkpoints=[genuine])


def test_signing_key_is_refused_inside_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key_path, _, _ = generate_key_files(data / "audit.key")
    with pytest.raises(CheckpointError, match="inside the data directory"):
        load_signing_key(key_path, env={}, protected=[data])
    with pytest.raises(CheckpointError, match="no signing key"):
        load_signing_key(None, env={})
    pem = key_path.read_text()
    assert isinstance(load_signing_key(None, env={KEY_PEM_ENV: pem}), Ed25519PrivateKey)
    with pytest.raises(CheckpointError, match="refusing to overwrite"):
        generate_key_files(data / "audit.key")


def _auto_policy(folder: Path, entries: int, minutes: int = 0) -> Policy:
    text_ = default_policy().text + (
        f'\n[audit]\ncheckpoint_folder = "{folder}"\n'
        f"checkpoint_every_entries = {entries}\ncheckpoint_every_minutes = {minutes}\n"
    )
    return parse_policy(text_, "<test>")


def test_automatic_checkpoints_every_n_entries(
    engine: Engine,  # noqa: F811
    tmp_path: Path,
    signer,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_path, _, trusted = signer
    folder = tmp_path / "auto"
    w = make_world(engine, _auto_policy(folder, entries=5), signing_env={KEY_ENV: str(key_path)})
    open_approved_case(w)
    for i in range(3):
        w.search("alice", "C-1", probe_bytes(i + 1))
    files = sorted(folder.iterdir())
    assert files and all(f.name.startswith("checkpoint-") for f in files)  # no temporary left
    seqs = [Checkpoint.read(f).seq for f in files]
    assert seqs == sorted(seqs) and all(b - a >= 5 for a, b in itertools.pairwise(seqs))
    assert files[-1].name == f"checkpoint-{seqs[-1]:012d}.json"
    recorded = [e for e in _entries(w) if e.action == "audit.checkpoint"]
    assert [e.details["seq"] for e in recorded] == seqs
    assert all(e.details["automatic"] for e in recorded)
    assert _verify_with(w, trusted, *files).ok
    # the case report carries the latest one
    # the newest file (verifying is logged too, and may have been checkpointed)
    latest = Checkpoint.read(sorted(folder.iterdir())[-1])
    html = w.gov.case_report("sam", "C-1", "html").decode()
    assert f"Latest signed checkpoint: entry #{latest.seq} {latest.entry_hash}" in html
    assert latest.fingerprint[:16] in html
    pdfium = pytest.importorskip("pypdfium2")
    doc = pdfium.PdfDocument(w.gov.case_report("sam", "C-1", "pdf"))
    try:
        text_ = " ".join(
            "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).split()
        )
    finally:
        doc.close()
    assert f"Latest signed checkpoint: entry #{latest.seq}" in text_
    assert latest.fingerprint[:16] in text_


def test_automatic_checkpoints_by_time(
    engine: Engine,  # noqa: F811
    tmp_path: Path,
    signer,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_path, _, _ = signer
    folder = tmp_path / "auto"
    w = make_world(
        engine, _auto_policy(folder, entries=0, minutes=30), signing_env={KEY_ENV: str(key_path)}
    )
    first = sorted(folder.iterdir())
    assert len(first) == 1  # the first entry finds no checkpoint: one is due at once
    w.gov.record("admin", "user.list", {"count": 6})
    assert sorted(folder.iterdir()) == first  # not due yet
    w.clock.advance(minutes=31)
    w.gov.record("admin", "user.list", {"count": 6})
    assert len(sorted(folder.iterdir())) == 2


def test_automatic_checkpoint_failure_loses_nothing_and_is_logged(
    engine: Engine,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = make_world(engine, _auto_policy(tmp_path / "auto", entries=3))  # no signing key
    open_approved_case(w)  # every operation still commits
    failed = [e for e in _entries(w) if e.action == "audit.checkpoint.failed"]
    assert len(failed) == 1 and "no signing key" in failed[0].details["reason"]
    assert _verify(w).ok and not (tmp_path / "auto").exists()


def test_audit_policy_section_is_validated() -> None:
    bad = default_policy().text + (
        '\n[audit]\ncheckpoint_folder = ""\ncheckpoint_every_entries = -1\nsigning_key = "x"\n'
    )
    with pytest.raises(PolicyError) as err:
        parse_policy(bad, "<test>")
    assert set(err.value.fields) == {
        "audit.checkpoint_folder",
        "audit.checkpoint_every_entries",
        "audit.checkpoint_every_minutes",
        "audit.signing_key",
    }
    assert default_policy().audit is None


def test_cli_detects_a_shortened_log_with_a_checkpoint(tmp_path: Path) -> None:
    """The issue's 'done when': `audit verify --checkpoint` detects a shortened log, made
    directly in the SQLite file as an insider would (triggers dropped)."""
    from typer.testing import CliRunner

    from facesearch.cli import app

    runner = CliRunner()
    data, keys = tmp_path / "data", tmp_path / "keys"

    env: dict[str, str | None] = {"FACESEARCH_USER": None, "FACESEARCH_TOKEN": None}

    def run(*args: str, code: int = 0, stdin: str | None = None) -> str:
        result = runner.invoke(app, ["-d", str(data), *args], env=env, input=stdin)
        assert result.exit_code == code, result.output
        return result.output

    run(*init_args("admin"), stdin=init_input("admin"))
    env["FACESEARCH_TOKEN"] = make_token(data, "admin")  # the administrator's credential
    out = run("audit", "keygen", "--out", str(keys / "audit.key"))
    assert "BEGIN PUBLIC KEY" in out and (keys / "audit.key.pub").exists()
    run("audit", "keygen", "--out", str(data / "inside.key"))
    out = run(
        "audit",
        "checkpoint",
        "--out",
        str(tmp_path / "x.json"),
        "--key",
        str(data / "inside.key"),
        code=1,
    )  # never signed with a key kept in the data directory
    assert "inside the data directory" in out and not (tmp_path / "x.json").exists()
    run("user", "add", "ivy", "--role", "investigator", "--no-password")
    cp = tmp_path / "cps" / "head.json"
    out = run("audit", "checkpoint", "--out", str(cp), "--key", str(keys / "audit.key"))
    seq = json.loads(cp.read_text())["seq"]
    assert f"entry #{seq}" in out
    verify_args = ["audit", "verify", "--checkpoint", str(cp)]
    trusted = ["--public-key", str(keys / "audit.key.pub")]
    assert "1 signed checkpoint held" in run(*verify_args, *trusted)
    assert "trusted public key" in run(*verify_args, code=1)  # never its own embedded key

    catalog = create_engine(f"sqlite:///{data / 'catalog.db'}")
    allow_tampering(catalog)
    with catalog.begin() as conn:  # keep entries up to just before the checkpointed head
        conn.execute(text("DELETE FROM gov_audit WHERE seq >= :s"), {"s": seq})
        prev = conn.execute(
            text("SELECT hash FROM gov_audit WHERE seq = :s"), {"s": seq - 1}
        ).scalar_one()
        conn.execute(
            text("UPDATE gov_audit_head SET seq = :s, hash = :h"), {"s": seq - 1, "h": prev}
        )
    catalog.dispose()
    assert "audit log intact" in run("audit", "verify")  # the chain alone is fooled
    out = run(*verify_args, *trusted, code=3)
    # (the plain verify above was itself logged as a new #seq: the log was written on)
    assert f"FAILS checkpoint {cp}" in out and f"entry #{seq} differs" in out

    forged = tmp_path / "forged.json"
    forged.write_text(cp.read_text().replace(f'"seq": {seq}', f'"seq": {seq - 1}'))
    out = run("audit", "verify", "--checkpoint", str(forged), *trusted, code=1)
    assert f"REFUSED checkpoint {forged}" in out and "signature does not verify" in out

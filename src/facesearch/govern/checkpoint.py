"""Signed audit checkpoints: the log's head, signed with an Ed25519 key kept elsewhere.

The hash chain proves the order of the entries it holds, not that none are missing at the
end: someone with write access to the database who deletes the newest entries and moves the
head row back leaves a chain that verifies. A checkpoint records the head at a moment
(sequence number, entry hash, entry time, time signed) with an Ed25519 signature over the
canonical JSON of those fields and the signer's public key. Kept outside the data directory,
it lets :func:`check_log` prove later that the log still holds that entry, unchanged, and has
not shrunk below it.

A checkpoint is only as good as the key it is checked against: :meth:`Checkpoint.problems`
takes a *trusted* public key (a file written by :func:`generate_key_files`, kept apart from
the checkpoints), never the key embedded in the checkpoint, which a forger would simply
replace with their own.

Files are JSON (never pickle), written atomically (temporary file, then rename) and named by
sequence number in a checkpoint folder (``checkpoint-000000001234.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import canonical_json, format_ts, head, parse_ts
from facesearch.govern.errors import GovernanceError
from facesearch.govern.schema import AuditEntry

FORMAT = "facesearch-audit-checkpoint/1"
KEY_ENV = "FACESEARCH_AUDIT_KEY"  # path of the private key PEM
KEY_PEM_ENV = "FACESEARCH_AUDIT_KEY_PEM"  # the private key PEM itself
PUBLIC_KEY_ENV = "FACESEARCH_AUDIT_PUBLIC_KEY"  # path of the trusted public key PEM
FILE_PREFIX = "checkpoint-"
_HEX64 = frozenset("0123456789abcdef")


class CheckpointError(GovernanceError):
    """A key or checkpoint file is missing, unreadable, misplaced or malformed."""


# --- keys ------------------------------------------------------------------------------------


def public_key_hex(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key as hex (what a checkpoint embeds)."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def fingerprint(public_hex: str) -> str:
    """SHA-256 of the raw public key, hex: short enough to compare by eye (first 16 digits)."""
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()


def generate_key_files(out: Path) -> tuple[Path, Path, str]:
    """Write a new private key PEM to ``out`` (mode 0600, never overwritten) and its public key
    PEM to ``out.pub``; return both paths and the key's fingerprint."""
    public_path = out.with_name(out.name + ".pub")
    for path in (out, public_path):
        if path.exists():
            raise CheckpointError(f"{path} exists: refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(public_pem(key.public_key()))
    return out, public_path, fingerprint(public_key_hex(key.public_key()))


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _inside(path: Path, folders: Iterable[Path]) -> Path | None:
    resolved = path.resolve()
    for folder in folders:
        if resolved.is_relative_to(folder.resolve()):
            return folder
    return None


def load_signing_key(
    path: Path | None = None,
    *,
    env: Mapping[str, str],
    protected: Iterable[Path] = (),
) -> Ed25519PrivateKey:
    """The signing key from ``path``, else ``env``'s ``FACESEARCH_AUDIT_KEY`` (a file) or
    ``FACESEARCH_AUDIT_KEY_PEM`` (the PEM text); ``env`` is the typed settings'
    ``audit_key_environ()``. A key file inside one of the ``protected``
    folders (the data directory) is refused: a key kept beside the log protects nothing."""
    if path is None and env.get(KEY_ENV):
        path = Path(env[KEY_ENV])
    if path is not None:
        folder = _inside(path, protected)
        if folder is not None:
            raise CheckpointError(
                f"the signing key {path} is inside the data directory {folder}: keep it "
                "elsewhere (anyone who can alter the log could use it to sign a forged head)"
            )
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"cannot read the signing key {path}: {exc.strerror}") from None
        source = str(path)
    elif env.get(KEY_PEM_ENV):
        pem, source = env[KEY_PEM_ENV].encode("ascii", "replace"), f"${KEY_PEM_ENV}"
    else:
        raise CheckpointError(
            f"no signing key: give --key FILE or set {KEY_ENV} (a file) or {KEY_PEM_ENV} "
            "('facesearch audit keygen --out FILE' makes one)"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{source} is not an unencrypted private key PEM: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{source} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A trusted public key PEM (as ``keygen`` writes beside the private key, ``KEY.pub``)."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read the public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise CheckpointError(f"{path} is not a public key PEM: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path} is not an Ed25519 public key")
    return key


# --- checkpoints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The audit log's head at a moment, signed."""

    seq: int
    entry_hash: str
    entry_ts: str  # the entry's own timestamp
    signed_at: str  # when the checkpoint was made (UTC, audit timestamp format)
    public_key: str  # raw Ed25519 public key, hex
    signature: str  # Ed25519 signature of signed_bytes(), hex

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def signed_bytes(self) -> bytes:
        """The canonical encoding the signature covers: every field but the signature."""
        return canonical_json(
            {
                "format": FORMAT,
                "seq": self.seq,
                "entry_hash": self.entry_hash,
                "entry_ts": self.entry_ts,
                "signed_at": self.signed_at,
                "public_key": self.public_key,
            }
        ).encode("utf-8")

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "seq": self.seq,
            "entry_hash": self.entry_hash,
            "entry_ts": self.entry_ts,
            "signed_at": self.signed_at,
            "public_key": self.public_key,
            "fingerprint": self.fingerprint,
            "signature": self.signature,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "<checkpoint>") -> Checkpoint:
        """Parse a checkpoint file; :class:`CheckpointError` names the file and the field."""
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint {source} is not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CheckpointError(f"checkpoint {source} is not a {FORMAT} file")
        problems = []
        seq = doc.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            problems.append(f"seq must be a positive integer, got {seq!r}")
        for name, length in (("entry_hash", 64), ("public_key", 64), ("signature", 128)):
            value = doc.get(name)
            if not isinstance(value, str) or len(value) != length or not set(value) <= _HEX64:
                problems.append(f"{name} must be {length} lower-case hex digits")
        for name in ("entry_ts", "signed_at"):
            if not isinstance(doc.get(name), str):
                problems.append(f"{name} must be a string")
        if problems:
            raise CheckpointError(f"checkpoint {source}: " + "; ".join(problems))
        return cls(
            seq=int(doc["seq"]),
            entry_hash=doc["entry_hash"],
            entry_ts=doc["entry_ts"],
            signed_at=doc["signed_at"],
            public_key=doc["public_key"],
            signature=doc["signature"],
        )

    @classmethod
    def read(cls, path: Path) -> Checkpoint:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
        return cls.from_json(text, str(path))

    def problems(self, trusted: Ed25519PublicKey) -> list[str]:
        """Why this checkpoint cannot be trusted under ``trusted`` (empty: it can)."""
        trusted_hex = public_key_hex(trusted)
        if self.public_key != trusted_hex:
            return [
                f"signed by another key (fingerprint {self.fingerprint[:16]}, trusted key "
                f"{fingerprint(trusted_hex)[:16]}): not a checkpoint of this log's signer"
            ]
        try:
            trusted.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except InvalidSignature:
            return ["the signature does not verify: the checkpoint was altered or forged"]
        return []


def sign_head(
    key: Ed25519PrivateKey, seq: int, entry_hash: str, entry_ts: str, signed_at: datetime
) -> Checkpoint:
    unsigned = Checkpoint(
        seq, entry_hash, entry_ts, format_ts(signed_at), public_key_hex(key.public_key()), ""
    )
    signature = key.sign(unsigned.signed_bytes()).hex()
    return Checkpoint(**{**unsigned.__dict__, "signature": signature})


def head_entry(session: Session) -> AuditEntry | None:
    """The entry the head row points at (None for an empty log or a head without its entry)."""
    seq, _ = head(session)
    return session.get(AuditEntry, seq) if seq else None


def check_log(session: Session, cp: Checkpoint) -> list[str]:
    """What is wrong with the log against a (trusted) checkpoint: the log must still hold the
    checkpointed entry, with that hash, and its head must not be behind it."""
    row = session.execute(
        select(AuditEntry.hash, AuditEntry.ts).where(AuditEntry.seq == cp.seq)
    ).one_or_none()
    head_seq, _ = head(session)
    last = session.execute(
        select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)
    ).scalar_one_or_none()
    problems = []
    if row is None:
        problems.append(
            f"the log no longer holds checkpointed entry #{cp.seq} (it ends at #{last or 0}): "
            "entries were deleted"
        )
    elif row.hash != cp.entry_hash:
        problems.append(
            f"entry #{cp.seq} differs from the checkpointed one (hash {row.hash[:16]}... "
            f"instead of {cp.entry_hash[:16]}...): the log was rewritten, or shortened and "
            "written on"
        )
    if head_seq < cp.seq:
        problems.append(
            f"the log's head #{head_seq} is behind checkpointed entry #{cp.seq}: "
            "the log was shortened"
        )
    return problems


def checkpoint_name(seq: int) -> str:
    return f"{FILE_PREFIX}{seq:012d}.json"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename, so a
    reader never sees half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def latest_in_folder(folder: Path) -> Checkpoint | None:
    """The checkpoint with the highest sequence number in ``folder`` (by file name)."""
    if not folder.is_dir():
        return None
    names = sorted(
        p.name for p in folder.iterdir() if p.name.startswith(FILE_PREFIX) and p.suffix == ".json"
    )
    for name in reversed(names):
        try:
            return Checkpoint.read(folder / name)
        except CheckpointError:
            continue  # a damaged file: fall back to the previous one
    return None


class AutoCheckpointer:
    """Decides when an automatic checkpoint is due: every ``every_entries`` entries and/or
    every ``every_minutes`` minutes since the last one in ``folder``. The check is two
    comparisons; the folder is read once, on first use."""

    def __init__(self, folder: Path, every_entries: int, every_minutes: int) -> None:
        self.folder = folder
        self.every_entries = every_entries
        self.every_minutes = every_minutes
        self._last: Checkpoint | None = None
        self._loaded = False
        self.disabled_reason: str | None = None  # set after a failure that will not go away

    @property
    def last(self) -> Checkpoint | None:
        if not self._loaded:
            self._last = latest_in_folder(self.folder)
            self._loaded = True
        return self._last

    def due(self, seq: int, now: datetime) -> bool:
        if self.disabled_reason is not None:
            return False
        last = self.last
        if last is None:
            return True
        if seq <= last.seq:
            return False
        if self.every_entries and seq - last.seq >= self.every_entries:
            return True
        if self.every_minutes:
            elapsed = (now - parse_ts(last.signed_at)).total_seconds()
            return elapsed >= 60 * self.every_minutes
        return False

    def write(self, cp: Checkpoint) -> Path:
        path = self.folder / checkpoint_name(cp.seq)
        write_atomically(path, cp.to_json())
        self._last, self._loaded = cp, True
        return path


def latest_recorded(session: Session) -> Checkpoint | None:
    """The latest checkpoint the log records (an ``audit.checkpoint`` entry), as signed."""
    details = session.execute(
        select(AuditEntry.details)
        .where(AuditEntry.action == "audit.checkpoint")
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if details is None:
        return None
    try:
        return Checkpoint.from_json(details, "the audit log")
    except CheckpointError:
        return None

"""Where the encryption key comes from: the environment, a key file or a KMS-style command.

Exactly one of the settings ``encryption_key`` (``FACESEARCH_ENCRYPTION_KEY``),
``encryption_key_file`` (``FACESEARCH_ENCRYPTION_KEY_FILE``) and ``key_command``
(``FACESEARCH_KEY_COMMAND``) may be set; none means encryption is off.

- A key file must be private to its owner (no group or other permission bits: ``chmod 600``)
  and must not lie inside the data directory (a copy of the data must not carry its key).
- A key command is split with :func:`shlex.split` and run without a shell, with no input and
  a timeout (``key_command_timeout``, default 10 s); its standard output, stripped, is the
  key (e.g. ``vault kv get -field=key secret/facesearch`` or ``aws secretsmanager
  get-secret-value --secret-id facesearch --query SecretString --output text``). A command
  that cannot be started, times out or exits non-zero is a clear
  :class:`~facesearch.errors.EncryptionError` (its standard error is shown, cut short).
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from facesearch.errors import EncryptionError

if TYPE_CHECKING:
    from facesearch.settings import Settings

KEY_SOURCES = (
    "FACESEARCH_ENCRYPTION_KEY",
    "FACESEARCH_ENCRYPTION_KEY_FILE",
    "FACESEARCH_KEY_COMMAND",
)


def key_text(settings: Settings) -> str | None:
    """The key's text from the one source the settings name (None: encryption off)."""
    env = settings.encryption_key.get_secret_value() if settings.encryption_key else ""
    file = settings.encryption_key_file
    command = (settings.key_command or "").strip()
    given = [name for name, v in zip(KEY_SOURCES, (env.strip(), file, command), strict=True) if v]
    if len(given) > 1:
        raise EncryptionError(f"set only one key source, not {' and '.join(given)}")
    if env.strip():
        return env
    if file is not None:
        return read_key_file(Path(file), settings.data_dir)
    if command:
        return run_key_command(command, settings.key_command_timeout)
    return None


def read_key_file(path: Path, data_dir: Path | None = None) -> str:
    """The key in ``path``; refused when group or others may use it, or inside the data
    directory."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise EncryptionError(f"cannot read the key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise EncryptionError(f"the key file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise EncryptionError(
            f"the key file {path} is readable by others (mode {oct(mode)}): chmod 600 it"
        )
    if data_dir is not None:
        resolved, root = path.resolve(), Path(data_dir).resolve()
        if resolved == root or root in resolved.parents:
            raise EncryptionError(
                f"the key file {path} lies inside the data directory {root}: keep the key "
                "apart from the data it protects"
            )
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise EncryptionError(f"cannot read the key file {path}: {exc}") from None
    if not text:
        raise EncryptionError(f"the key file {path} is empty")
    return text


def run_key_command(command: str, timeout: float = 10.0) -> str:
    """Run the key command (no shell) and return its standard output, stripped."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise EncryptionError(f"FACESEARCH_KEY_COMMAND cannot be parsed: {exc}") from None
    if not argv:
        raise EncryptionError("FACESEARCH_KEY_COMMAND is empty")
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise EncryptionError(f"the key command {argv[0]!r} was not found") from None
    except PermissionError:
        raise EncryptionError(f"the key command {argv[0]!r} may not be run") from None
    except subprocess.TimeoutExpired:
        raise EncryptionError(
            f"the key command {argv[0]!r} did not answer within {timeout:g} s"
        ) from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = (err[-1] if err else "")[:200]
        raise EncryptionError(
            f"the key command {argv[0]!r} failed (exit {done.returncode})"
            + (f": {tail}" if tail else "")
        )
    text = done.stdout.decode("utf-8", "replace").strip()
    if not text:
        raise EncryptionError(f"the key command {argv[0]!r} printed no key")
    return text

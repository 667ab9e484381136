"""The data directory is private to the account that runs facesearch: folders 0700, files
0600. The CLI and the server also set the process umask to 0o077 at start; these helpers
make the files private where they are created, so a library user (no CLI) gets the same."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700 folders (existing ones are left)."""
    path = Path(path)
    missing = []
    at = path
    while not at.exists():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    return path


def make_private(path: Path) -> None:
    """Make the file at ``path`` readable and writable by its owner only (if it exists)."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, PRIVATE_FILE)


def open_private(path: Path) -> int:
    """Open ``path`` for writing (created 0600, truncated); returns the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return fd


def open_private_new(path: Path) -> int:
    """Create ``path`` (which must not exist) as a private 0600 file; returns the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return fd


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite catalog URL (None for other databases or an in-memory one)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def loose_permissions(data_dir: Path, catalog: Path | None = None) -> list[str]:
    """Warnings for the data directory and its catalog file when group or others may use
    them (empty when both are private or absent)."""
    warnings = []
    for path, kind in ((Path(data_dir), "data directory"), (catalog, "catalog file")):
        if path is None:
            continue
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            warnings.append(
                f"the {kind} {path} is open to other local accounts (mode {oct(mode)}): "
                f"chmod {oct(PRIVATE_DIR if kind == 'data directory' else PRIVATE_FILE)[2:]} it"
            )
    return warnings

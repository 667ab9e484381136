"""Where facesearch keeps its data, from options and the environment."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "FACESEARCH_DATA"
DATABASE_URL_ENV = "FACESEARCH_DATABASE_URL"
DEFAULT_DATA_DIR = Path("facesearch-data")


def resolve_data_dir(path: Path | str | None = None) -> Path:
    """The option if given, else $FACESEARCH_DATA, else ./facesearch-data."""
    if path is not None:
        return Path(path)
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR


def resolve_database_url(data_dir: Path, url: str | None = None) -> str:
    """The option if given, else $FACESEARCH_DATABASE_URL, else SQLite in the data directory."""
    if url:
        return url
    env = os.environ.get(DATABASE_URL_ENV)
    if env:
        return env
    return f"sqlite:///{(data_dir / 'catalog.db').resolve()}"

"""``facesearch serve`` caps glibc's malloc arenas (flat memory under many clients)."""

from __future__ import annotations

import platform

import pytest

from facesearch.cli.serve import limit_malloc_arenas
from facesearch.settings import Settings


def test_the_arena_cap_follows_the_settings(tmp_path) -> None:
    assert limit_malloc_arenas(Settings(data_dir=tmp_path, malloc_arenas=0)) is False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt(M_ARENA_MAX) is glibc's")
    assert limit_malloc_arenas(Settings(data_dir=tmp_path, search_workers=2)) is True
    assert limit_malloc_arenas(Settings(data_dir=tmp_path, malloc_arenas=4)) is True


def test_a_negative_arena_count_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="malloc_arenas"):
        Settings(data_dir=tmp_path, malloc_arenas=-1)

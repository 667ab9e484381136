"""Manifest rows and the ingest roots (issue 21): with roots, every row's path is resolved
against the manifest's folder and a row outside all roots is refused with its line; without
roots (the local CLI) a manifest reads any file, as before."""

from __future__ import annotations

import json
import os
from pathlib import Path

from facesearch.ingest.sources import iter_manifest, iter_path, iter_sources


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "allowed"
    (root / "batch").mkdir(parents=True)
    (root / "batch" / "inside.jpg").write_bytes(b"inside")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "outside.jpg").write_bytes(b"outside")
    os.symlink(tmp_path / "secret" / "outside.jpg", root / "batch" / "link.jpg")
    rows = [
        {"path": "inside.jpg"},
        {"path": str(tmp_path / "secret" / "outside.jpg")},
        {"path": "../../secret/outside.jpg"},
        {"path": "link.jpg"},  # a link inside the roots to a file outside them
        {"path": str(root / "batch" / ".." / "batch" / "inside.jpg")},
    ]
    manifest = root / "batch" / "list.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root, manifest


def test_rows_outside_the_roots_are_refused_with_their_line(tmp_path: Path) -> None:
    root, manifest = _layout(tmp_path)
    items = list(iter_manifest(manifest, [root]))
    assert [i.error is None for i in items] == [True, False, False, False, True]
    for line in (2, 3, 4):
        error = items[line - 1].error
        assert error is not None and error.startswith(f"{manifest}:{line}: refused")
    read = items[0].read
    assert read is not None and read() == b"inside"
    # the same rule when the manifest is named as a path or given beside the paths
    assert [i.error is None for i in iter_path(manifest, roots=[root])] == [
        True, False, False, False, True,
    ]  # fmt: skip
    assert sum(i.error is None for i in iter_sources([], manifest, [root])) == 2


def test_no_roots_means_no_rule_and_no_root_refuses_every_row(tmp_path: Path) -> None:
    _root, manifest = _layout(tmp_path)
    assert all(i.error is None for i in iter_manifest(manifest))
    assert all(i.error is not None for i in iter_manifest(manifest, []))

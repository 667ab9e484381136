"""Gallery originals: the backfill that stores, in the blob store, the original of every image
ingested before originals were kept (revision 0012) or while they were off, where it can still
be read; and marks those that cannot, so the viewer says so (``app/faces.py``).

Administrators only; audited (``originals.backfill``, with its counts). Resumable: every group
of images is committed as it is done, and a run stopped half-way (Ctrl-C) is taken up where it
stopped by the next, since it only looks at images that have no original and were never tried.
Holds the data directory's writer lock, so no removal deletes an image under it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from facesearch.app.context import AppContext
from facesearch.app.faces import original_from_source
from facesearch.app.principal import Principal
from facesearch.errors import ConfigError
from facesearch.govern.users import Role
from facesearch.store import originals as store
from facesearch.store.records import ORIGINAL_LOST, ORIGINAL_TOO_LARGE, source_label

#: (done, total) as the backfill goes
BackfillProgress = Callable[[int, int], None]
GROUP = 64


@dataclass
class BackfillReport:
    total: int = 0  # images that had no original when the run started
    stored: int = 0
    stored_bytes: int = 0
    lost: int = 0  # no longer readable (or changed) where they were ingested from
    too_large: int = 0
    interrupted: bool = False
    lost_examples: list[str] = field(default_factory=list)  # the first few, to show

    def counts(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "stored": self.stored,
            "stored_bytes": self.stored_bytes,
            "lost": self.lost,
            "too_large": self.too_large,
            "interrupted": self.interrupted,
        }


class Originals:
    """The originals resource (the backfill and the figures)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def summary(self, who: Principal) -> dict[str, int]:
        """How many originals are kept, their bytes, and the images without one (and why)."""
        self.ctx.require(who, "gallery.stats")
        return store.originals_summary(self.ctx.gallery.catalog)

    def backfill(
        self,
        who: Principal,
        *,
        retry_lost: bool = False,
        on_progress: BackfillProgress | None = None,
    ) -> BackfillReport:
        """Store the original of every image with faces that has none, where it is still
        readable and unchanged (its SHA-256); mark the others ``lost`` (``retry_lost``: try
        those again, e.g. after a folder was put back)."""
        ctx = self.ctx
        settings = ctx.settings
        asked = {"retry_lost": retry_lost}
        ctx.governance.require_role(who.username, "originals.backfill", Role.ADMINISTRATOR, asked)
        if not settings.keep_originals:
            raise ConfigError(
                "originals are off (FACESEARCH_KEEP_ORIGINALS=false): nothing to backfill"
            )
        gallery = ctx.gallery
        catalog, blobs, most = gallery.catalog, gallery.blobs, settings.max_original_bytes
        report = BackfillReport()
        with ctx.writing("originals backfill"):
            report.total = store.count_missing(catalog, retry_lost)
            if on_progress is not None:
                on_progress(0, report.total)
            after, done = 0, 0
            try:
                while group := store.missing_originals(catalog, after, GROUP, retry_lost):
                    found: list[tuple[int, str | None, str | None]] = []
                    for image in group:
                        found.append(self._one(image, blobs, most, report))
                    store.record_originals(catalog, found)
                    after = group[-1].image_id
                    done += len(group)
                    if on_progress is not None:
                        on_progress(done, report.total)
            except KeyboardInterrupt:
                report.interrupted = True
        ctx.governance.record(who.username, "originals.backfill", {**asked, **report.counts()})
        return report

    @staticmethod
    def _one(
        image: store.MissingOriginal, blobs: Any, most: int, report: BackfillReport
    ) -> tuple[int, str | None, str | None]:
        if image.size > most:
            report.too_large += 1
            return image.image_id, None, ORIGINAL_TOO_LARGE
        row = _Row(image)
        data = original_from_source(row, most)
        if data is None:
            report.lost += 1
            if len(report.lost_examples) < 10:
                report.lost_examples.append(row.image_path)
            return image.image_id, None, ORIGINAL_LOST
        key = blobs.put(data)
        report.stored += 1
        report.stored_bytes += len(data)
        return image.image_id, key, None


class _Row:
    """A missing original as ``original_from_source`` reads a stored face's image."""

    def __init__(self, image: store.MissingOriginal) -> None:
        self.image_file = image.path
        self.image_member = image.member
        self.image_path = source_label(image.path, image.member)
        self.image_sha256 = image.sha256

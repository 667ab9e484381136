"""The victim-identification service: media sets governed by their case, hash sets, persons.

Every method is one governed act (:mod:`facesearch.media.access`): the acting user is checked
(media of a case are for its assigned investigators and for supervisors; not for auditors or
administrators, who see the audit log but never the material), the act and its audit entry
commit together, and a refusal is logged and raised as :class:`RefusedError`. The acts are
grouped by responsibility:

* :class:`~facesearch.media.material.CaseMaterial` - import, summary, files, sets, export of
  new material (:mod:`.material`), and the cross-case check and alerts (:mod:`.alerts`);
* :class:`~facesearch.media.hashset_library.HashSetLibrary` - known-image hash sets;
* :class:`~facesearch.media.review.PersonReview` - clustering, persons, video appearances and
  review decisions (the clustering itself: :mod:`.persons`);
* :class:`~facesearch.media.wellbeing.Pictures` - a face's picture, shielded unless revealed;
* :class:`~facesearch.media.uploads.MediaUploads` - media uploaded from the browser (jobs).

    media = MediaService(governance, gallery, MediaSettings.from_settings(settings))
    report = media.import_media("ivy", "CASE-1", [Path("seized/phone")])
    media.cluster("ivy", "CASE-1")
    clusters = media.clusters("ivy", "CASE-1")
"""

from __future__ import annotations

from facesearch.media.config import MediaSettings
from facesearch.media.hashset_library import HashSetLibrary
from facesearch.media.material import CaseMaterial
from facesearch.media.review import PersonReview
from facesearch.media.uploads import MediaUploads
from facesearch.media.wellbeing import Pictures

__all__ = ["MediaService", "MediaSettings"]


class MediaService(CaseMaterial, HashSetLibrary, PersonReview, Pictures, MediaUploads):
    """Every governed act on media sets, hash sets and persons (see the groups above)."""

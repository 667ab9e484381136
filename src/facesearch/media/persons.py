"""The persons found in a case's media: clustering its faces (again, keeping people's
decisions), the clusters as shown, and the review decisions on them (merge, split, move, name,
hide, show). Sessions in, plain data out; access checks and the audit are the caller's
(:mod:`facesearch.media.review`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import Case
from facesearch.media.cluster import ClusterSettings, cluster_vectors
from facesearch.media.schema import MediaCluster, MediaFace, MediaFile
from facesearch.media.vectors import face_vectors
from facesearch.store.crypto import Cipher


@dataclass(frozen=True)
class ClusterFace:
    face_id: int
    file: str
    frame_ms: int | None


@dataclass(frozen=True)
class ClusterView:
    cluster: int
    name: str | None
    hidden: bool
    reviewed: bool
    faces: list[ClusterFace]
    best_face: int | None = None  # the face of the best quality: the person's picture


@dataclass(frozen=True)
class DecisionView:
    """One recorded review decision; ``details`` as :func:`apply_decision` answered it."""

    decision_id: int
    action: str
    actor: str
    at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class ClusterRun:
    faces: int
    flagged_aside: int
    clusters: int
    new_clusters: int
    kept_by_decision: int  # faces pinned by a person's decision, left where they were


def _load_face_vectors(rows: Sequence[MediaFace], cipher: Cipher | None) -> np.ndarray:
    return face_vectors(cipher, ((r.id, r.model, r.embedding) for r in rows))


def _photo_key(f: MediaFace) -> tuple[int, int]:
    return (f.file_id, -1 if f.frame_ms is None else f.frame_ms)


def recluster(s: Session, c: Case, settings: ClusterSettings, cipher: Cipher | None) -> ClusterRun:
    """Cluster every searchable face of the case again, keeping people's decisions.

    Faces pinned by a decision (merge, split, move, name) stay in their cluster. Each new group
    that holds pinned faces joins the cluster most of them are in, so a named person gathers
    their new photos and keeps their name and id; a group without pinned faces takes over the
    unreviewed cluster most of its faces were in before (stable ids), else a new one. A face
    never joins a cluster that already holds a face of its photo. Flagged faces (low quality)
    are kept aside, in no cluster. ``cipher``: the key the faces' vectors are sealed with.
    """
    rows = list(
        s.execute(
            select(MediaFace).where(MediaFace.case_id == c.id).order_by(MediaFace.id)
        ).scalars()
    )
    usable = [f for f in rows if f.searchable]
    aside = [f for f in rows if not f.searchable]
    for f in aside:  # kept aside, unless a person put it in a cluster
        if not f.pinned:
            f.cluster_id = None
    if not usable:
        return ClusterRun(0, len(aside), 0, 0, 0)
    photo_ids: dict[tuple[int, int], int] = {}
    photos = np.array([photo_ids.setdefault(_photo_key(f), len(photo_ids)) for f in usable])
    labels = cluster_vectors(_load_face_vectors(usable, cipher), photos, settings)
    clusters = {
        cl.id: cl
        for cl in s.execute(select(MediaCluster).where(MediaCluster.case_id == c.id)).scalars()
    }
    photos_in: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for f in usable:
        if f.pinned and f.cluster_id is not None:
            photos_in[f.cluster_id].add(_photo_key(f))
    groups: dict[int, list[MediaFace]] = defaultdict(list)
    for f, lab in zip(usable, labels.tolist(), strict=True):
        groups[lab].append(f)
    claimed: set[int] = set()
    new_clusters = 0

    def fresh() -> MediaCluster:
        nonlocal new_clusters
        cl = MediaCluster(case_id=c.id)
        s.add(cl)
        s.flush()
        clusters[cl.id] = cl
        new_clusters += 1
        return cl

    for lab in sorted(groups):
        faces = groups[lab]
        pinned = Counter(f.cluster_id for f in faces if f.pinned and f.cluster_id is not None)
        loose = [f for f in faces if not (f.pinned and f.cluster_id is not None)]
        target: int | None = None
        if pinned:
            target = min(pinned, key=lambda k: (-pinned[k], k))
        else:
            before = Counter(
                f.cluster_id
                for f in loose
                if f.cluster_id is not None
                and f.cluster_id in clusters
                and not clusters[f.cluster_id].reviewed
                and f.cluster_id not in claimed
            )
            if before:
                target = min(before, key=lambda k: (-before[k], k))
        if target is None:
            target = fresh().id
        claimed.add(target)
        overflow: list[MediaFace] = []
        for f in loose:
            key = _photo_key(f)
            if key in photos_in[target]:
                overflow.append(f)
                continue
            f.cluster_id = target
            photos_in[target].add(key)
        if overflow:
            spill = fresh().id
            for f in overflow:
                f.cluster_id = spill
                photos_in[spill].add(_photo_key(f))
    s.flush()
    used = {f.cluster_id for f in usable}
    for cid, cl in list(clusters.items()):
        if cid not in used and not cl.reviewed:
            s.delete(cl)
    s.flush()
    return ClusterRun(
        faces=len(usable),
        flagged_aside=len(aside),
        clusters=len(used),
        new_clusters=new_clusters,
        kept_by_decision=sum(1 for f in usable if f.pinned),
    )


def cluster_views(s: Session, c: Case, *, include_hidden: bool = False) -> list[ClusterView]:
    rows = s.execute(
        select(MediaFace, MediaFile.path)
        .join(MediaFile, MediaFile.id == MediaFace.file_id)
        .where(MediaFace.case_id == c.id, MediaFace.cluster_id.is_not(None))
        .order_by(MediaFace.id)
    ).all()
    members: dict[int, list[ClusterFace]] = defaultdict(list)
    best: dict[int, tuple[float, int]] = {}
    for f, path in rows:
        assert f.cluster_id is not None
        members[f.cluster_id].append(ClusterFace(int(f.id), path, f.frame_ms))
        if f.cluster_id not in best or f.quality > best[f.cluster_id][0]:
            best[f.cluster_id] = (f.quality, int(f.id))
    clusters = {
        cl.id: cl
        for cl in s.execute(select(MediaCluster).where(MediaCluster.case_id == c.id)).scalars()
    }
    views = [
        ClusterView(
            cid,
            clusters[cid].name,
            clusters[cid].hidden,
            clusters[cid].reviewed,
            faces,
            best[cid][1],
        )
        for cid, faces in members.items()
        if include_hidden or not clusters[cid].hidden
    ]
    views.sort(key=lambda v: (-len(v.faces), v.cluster))
    return views


def _cluster_or_refuse(s: Session, c: Case, action: str, cid: int | None) -> MediaCluster:
    cl = s.get(MediaCluster, cid) if cid is not None else None
    if cl is None or cl.case_id != c.id:
        raise RefusedError(action, f"case {c.number!r} has no cluster {cid}")
    return cl


def _faces_of(s: Session, cluster_id: int) -> list[MediaFace]:
    return list(
        s.execute(
            select(MediaFace).where(MediaFace.cluster_id == cluster_id).order_by(MediaFace.id)
        ).scalars()
    )


def apply_decision(
    s: Session,
    c: Case,
    audit_action: str,
    action: str,
    cluster: int | None,
    other: int | None,
    faces: list[int],
    name: str | None,
) -> dict[str, Any]:
    """Apply one decision (see :meth:`PersonReview.decide`); returns what it did."""
    target = _cluster_or_refuse(s, c, audit_action, cluster)
    members = _faces_of(s, target.id)
    if action == "name":
        if not name or not name.strip():
            raise RefusedError(audit_action, "a name is needed")
        previous = target.name
        target.name = name.strip()[:200]
        target.reviewed = True
        for f in members:
            f.pinned = True
        return {"cluster": target.id, "name": target.name, "previous": previous}
    if action in ("hide", "show"):
        target.hidden = action == "hide"
        target.reviewed = True
        for f in members:
            f.pinned = True
        return {"cluster": target.id, "hidden": target.hidden}
    if action == "merge":
        src = _cluster_or_refuse(s, c, audit_action, other)
        if src.id == target.id:
            raise RefusedError(audit_action, "cannot merge a cluster into itself")
        moving = _faces_of(s, src.id)
        shared = {_photo_key(f) for f in members} & {_photo_key(f) for f in moving}
        if shared:
            raise RefusedError(
                audit_action,
                f"clusters {target.id} and {src.id} hold faces of the same photo "
                f"({len(shared)}): one person cannot appear twice in one photo",
            )
        for f in members + moving:
            f.cluster_id, f.pinned = target.id, True
        target.reviewed = True
        if target.name is None and src.name is not None:
            target.name = src.name
        s.flush()
        s.delete(src)
        return {"cluster": target.id, "merged": src.id, "faces": [int(f.id) for f in moving]}
    if action in ("split", "move"):
        if not faces:
            raise RefusedError(audit_action, "name the faces (face ids)")
        picked = list(
            s.execute(
                select(MediaFace).where(MediaFace.id.in_(faces), MediaFace.case_id == c.id)
            ).scalars()
        )
        missing = sorted(set(faces) - {int(f.id) for f in picked})
        if missing:
            raise RefusedError(audit_action, f"case {c.number!r} has no faces {missing}")
        if action == "split":
            outside = [int(f.id) for f in picked if f.cluster_id != target.id]
            if outside:
                raise RefusedError(audit_action, f"faces {outside} are not in cluster {target.id}")
            new = MediaCluster(case_id=c.id, reviewed=True)
            s.add(new)
            s.flush()
            for f in members:
                f.pinned = True
            for f in picked:
                f.cluster_id = new.id
            target.reviewed = True
            return {"cluster": target.id, "new_cluster": new.id, "faces": sorted(faces)}
        keys = {_photo_key(f) for f in members}
        clash = [int(f.id) for f in picked if _photo_key(f) in keys and f.cluster_id != target.id]
        if clash:
            raise RefusedError(
                audit_action,
                f"cluster {target.id} already holds a face of the photo of faces {clash}",
            )
        moved_from = sorted({f.cluster_id for f in picked if f.cluster_id is not None})
        for f in members:
            f.pinned = True
        for f in picked:
            f.cluster_id, f.pinned = target.id, True
        target.reviewed = True
        return {"cluster": target.id, "faces": sorted(faces), "from": moved_from}
    raise RefusedError(
        audit_action, f"unknown decision {action!r}: merge, split, move, name, hide, show"
    )

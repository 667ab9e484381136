"""Media uploaded over the API into a new media set (``POST /cases/{n}/media/upload``), run as
a background job (``GET /cases/{n}/media/jobs``); and the wellbeing setting applied by the
server to a media face's picture. Real models, SQLite."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests.support.api import api_env, open_case

from facesearch.govern.audit import entries

pytestmark = pytest.mark.slow  # real models: an import of two photos

UPLOAD = "/api/v1/cases/C-1/media/upload"
JOBS = "/api/v1/cases/C-1/media/jobs"
FORM = {"label": "phone-2", "note": "Seized under warrant 42, exhibit 7"}


def _jpeg(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def _audited(env: Any, action: str) -> list[Any]:
    with env.service.governance.session() as s:
        return [e for e in entries(s) if e.action == action]


def test_upload_rules_job_and_wellbeing(
    tmp_path: Path,
    pipeline: Any,
    astronaut: np.ndarray,
    other_faces: list[np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = {"DCIM/astronaut.jpg": _jpeg(astronaut), "DCIM/hopper.jpg": _jpeg(other_faces[0])}
    archive = _zip(photos)
    limit = 4 * len(archive)
    with api_env(
        tmp_path,
        passwords=("inv", "inv2", "sup"),
        pipeline=pipeline,
        max_archive_bytes=limit,
    ) as env:
        open_case(env, "C-1", "inv")
        inv, inv2, sup = env.client("inv"), env.client("inv2"), env.client("sup")
        zipped = {"files": ("seized.zip", archive, "application/zip")}

        # who: only the case's investigators (a supervisor, an investigator of no case, and
        # nobody signed in are refused; every refusal is logged)
        assert env.client().post(UPLOAD, files=zipped, data=FORM).status_code == 401
        for client in (sup, inv2):
            r = client.post(UPLOAD, files=zipped, data=FORM)
            assert r.status_code in (403, 404), r.text
        refused = _audited(env, "media.upload.refused")
        assert sorted(e.actor for e in refused) == ["inv2", "sup"]
        assert not list((env.settings.data_dir / "media-uploads").glob("*/*"))

        # what: a photo, a video or an archive of them, within the limits, with label and note
        text = {"files": ("notes.txt", b"not a photo at all", "text/plain")}
        assert inv.post(UPLOAD, files=text, data=FORM).status_code == 415
        broken = {"files": ("x.zip", b"PK\x03\x04" + b"\x00" * 100, "application/zip")}
        assert inv.post(UPLOAD, files=broken, data=FORM).status_code == 415
        empty = {"files": ("docs.zip", _zip({"readme.txt": b"hello"}), "application/zip")}
        r = inv.post(UPLOAD, files=empty, data=FORM)
        assert r.status_code == 422 and "holds no photo or video" in r.json()["detail"]
        big = {"files": ("big.jpg", _jpeg(astronaut) + b"\x00" * limit, "image/jpeg")}
        assert inv.post(UPLOAD, files=big, data=FORM).status_code == 413
        r = inv.post(UPLOAD, files=zipped, data={"label": "phone-2"})
        assert r.status_code == 422 and "note" in r.text
        assert not list((env.settings.data_dir / "media-uploads").glob("*/*"))
        assert inv.get(JOBS).json() == []

        # an archive of two photos: queued, imported and clustered in the background
        r = inv.post(UPLOAD, files=zipped, data=FORM)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] in ("queued", "running") and job["media_set"] == "phone-2"
        assert job["files"] == ["seized.zip"] and job["note"] == FORM["note"]
        assert env.service.media_jobs.wait(job["id"]) == "completed"
        (done,) = inv.get(JOBS).json()
        assert done["status"] == "completed" and done["error"] is None, done
        assert done["files_done"] == 2 and done["faces"] >= 2 and done["import_id"]
        assert sup.get(JOBS).status_code == 200  # the case's supervisor follows it too
        assert inv2.get(JOBS).status_code in (403, 404)
        assert [e.actor for e in _audited(env, "media.upload.jobs.refused")] == ["inv2"]
        (mset,) = inv.get("/api/v1/cases/C-1/media").json()
        assert mset["name"] == "phone-2" and mset["files_by_status"] == {"faces": 2}
        clusters = inv.get("/api/v1/cases/C-1/media/clusters").json()
        files = {f["file"] for c in clusters for f in c["faces"]}
        assert files == {"seized.zip!DCIM/astronaut.jpg", "seized.zip!DCIM/hopper.jpg"}
        assert all(c["best_face"] in {f["face_id"] for f in c["faces"]} for c in clusters)
        assert not list((env.settings.data_dir / "media-uploads").glob("*/*"))  # removed

        # audited: the upload with its note, then the import and the clustering, by inv
        (upload,) = _audited(env, "media.upload")
        assert upload.actor == "inv" and upload.details["media_set"] == "phone-2"
        assert upload.details["note"] == FORM["note"] and upload.details["job"] == job["id"]
        (started,) = _audited(env, "media.import.start")
        (imported,) = _audited(env, "media.import")
        assert started.actor == imported.actor == "inv" and imported.details["faces"] >= 2
        assert _audited(env, "media.cluster")[-1].actor == "inv"

        # a label already used: uploads go into a new media set
        r = inv.post(UPLOAD, files=zipped, data=FORM)
        assert r.status_code == 403 and "already has a media set" in r.json()["detail"]

        # wellbeing, decided by the server from the user's setting: by default colour and
        # blurred outside the face; greyscale when asked; unblurred when blur is off
        face = clusters[0]["best_face"]
        picture = f"/api/v1/cases/C-1/media/faces/{face}/picture"
        revealed = _rgb(inv.post(f"/api/v1/cases/C-1/media/faces/{face}/reveal").content)
        default = _rgb(inv.get(picture).content)
        spread = np.abs(default[..., 0] - default[..., 1]).max()
        assert spread > 30 and np.abs(default - revealed).mean() > 1  # colour, blurred
        me = "/api/v1/auth/me/wellbeing"  # the user's own setting, as the web app changes it
        assert inv.put(me, json={"greyscale": True, "blur_outside_face": True}).status_code == 200
        grey = _rgb(inv.get(picture).content)
        assert np.abs(grey[..., 0] - grey[..., 1]).max() <= 2
        assert inv.put(me, json={"greyscale": False, "blur_outside_face": False}).status_code == 200
        plain = inv.get(picture)
        assert plain.headers["x-wellbeing"] == "greyscale=0; blur=0"
        assert np.abs(_rgb(plain.content) - revealed).mean() < 1  # the picture as it is
        crop = _rgb(inv.get(picture, params={"crop": True}).content)
        assert crop.shape[0] < revealed.shape[0] and crop.shape[1] < revealed.shape[1]
        views = _audited(env, "media.face.view")[-4:]
        assert [(v.details["greyscale"], v.details["blurred"]) for v in views] == [
            (False, True),
            (True, True),
            (False, False),
            (False, False),
        ]
        assert views[-1].details["crop"] is True


def test_a_job_whose_server_died_is_shown_interrupted(tmp_path: Path) -> None:
    """Upload jobs are catalog rows: one left running by a dead server process is marked
    interrupted, with the reason, by the next process on the catalog."""
    import socket

    from sqlalchemy import select

    from facesearch.govern.schema import Case
    from facesearch.media.schema import MediaUploadJob

    with api_env(tmp_path, passwords=("inv", "sup")) as env:
        open_case(env, "C-1", "inv")
        with env.service.governance.session() as s:
            case_id = s.scalar(select(Case.id).where(Case.number == "C-1"))
            s.add(
                MediaUploadJob(
                    case_id=case_id,
                    set_name="phone-9",
                    note="warrant 9",
                    files=["a.zip"],
                    status="running",
                    created_by="inv",
                    files_total=10,
                    files_done=3,
                    faces=1,
                    owner_host=socket.gethostname(),
                    owner_pid=2**22 + 17,  # no such process
                    owner_started="@1",
                )
            )
            s.commit()
        inv = env.client("inv")
        assert inv.get(JOBS).json()[0]["status"] == "running"
        assert len(env.service.media_jobs.recover()) == 1
        (job,) = inv.get(JOBS).json()
        assert job["status"] == "interrupted" and "stopped" in job["error"]
        assert job["finished_at"] and job["files_done"] == 3
        assert env.service.media_jobs.recover() == []  # once


def test_the_upload_route_takes_archive_sized_bodies(tmp_path: Path) -> None:
    """The request guard caps a media upload at the archive limit, not at the JSON limit."""
    from facesearch.serve.api.guard import MULTIPART_SLACK, body_cap
    from facesearch.settings import Settings

    settings = Settings(data_dir=tmp_path, max_archive_bytes=50 * 1024 * 1024)
    assert body_cap(settings, UPLOAD) == settings.max_archive_bytes + MULTIPART_SLACK
    assert body_cap(settings, JOBS) == settings.max_request_bytes < settings.max_archive_bytes


def test_an_uploaded_file_keeps_its_own_name_and_nothing_else() -> None:
    """An upload's file name is stored without any folder, control character or dot-name."""
    from types import SimpleNamespace

    from facesearch.serve.api.media_upload import _name

    taken: set[str] = set()
    names = ["../../etc/x.jpg", "..", ".", "a\x00b.jpg", "IMG.jpg", "IMG.jpg", ""]
    shown = [_name(SimpleNamespace(filename=n), taken) for n in names]  # type: ignore[arg-type]
    assert shown == ["x.jpg", "upload", "upload-2", "a_b.jpg", "IMG.jpg", "IMG-2.jpg", "upload-3"]

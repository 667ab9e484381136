"""The HTTP API of media sets (read-only) and multi-probe searches: several ``probe`` files as
one query, a media cluster as the probes, and an investigator of another case refused at every
media endpoint. Real models, a real gallery from the shared CFP photos, SQLite."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image
from tests.support.api import api_env, open_case
from tests.support.media import cfp_frontal

from facesearch.app.media import MediaSettings, media_service
from facesearch.govern.audit import entries

# real models and a gallery ingested from the shared photos: tens of seconds each
pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def test_media_endpoints_and_multi_probe_searches(tmp_path, pipeline, shared_faces) -> None:
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for p in (30, 31, 32, 33):
        shutil.copy(cfp_frontal(shared_faces, p, 8), gallery / f"p{p}_8.jpg")
    media_options = {"media_pdq_threshold": 24, "media_video_fps": 3.0}
    with api_env(
        tmp_path, passwords=("inv", "inv2", "sup"), pipeline=pipeline, **media_options
    ) as env:
        admin = env.service.accounts.principal("admin", "cli")
        assert not env.service.library.ingest(admin, [gallery], workers=0).failures
        open_case(env, "C-1", "inv")
        open_case(env, "C-2", "inv2")
        seized_1, seized_2 = tmp_path / "s1", tmp_path / "s2"
        seized_1.mkdir()
        seized_2.mkdir()
        for k in (1, 2):
            shutil.copy(cfp_frontal(shared_faces, 31, k), seized_1 / f"one-{k}.jpg")
        shutil.copy(cfp_frontal(shared_faces, 31, 3), seized_2 / "two-secret.jpg")
        media = media_service(env.service)  # as the routers make it: the server's settings
        assert media.settings == MediaSettings.from_settings(env.settings)
        assert media.settings.elimination.pdq_threshold == 24 and media.settings.video.fps == 3.0
        media.import_media("inv", "C-1", [seized_1], workers=0)
        media.import_media("inv2", "C-2", [seized_2], workers=0)
        media.cluster("inv", "C-1")

        inv, inv2 = env.client("inv"), env.client("inv2")
        sets = inv.get("/api/v1/cases/C-1/media")
        assert sets.status_code == 200, sets.text
        assert sets.json()[0]["files"] == 2 and sets.json()[0]["files_by_status"] == {"faces": 2}
        summary = inv.get("/api/v1/cases/C-1/media/summary").json()
        assert summary["faces"] == 2 and summary["eliminated"] == 0
        clusters = inv.get("/api/v1/cases/C-1/media/clusters").json()
        assert len(clusters) == 1 and len(clusters[0]["faces"]) == 2
        alerts = inv.get("/api/v1/cases/C-1/media/alerts").json()
        assert [a["other_case"] for a in alerts] == ["C-2"] and alerts[0]["supervisor"] == "sup"
        assert "two-secret" not in str(alerts)
        (alert_2,) = inv2.get("/api/v1/cases/C-2/media/alerts").json()
        assert alert_2["other_case"] == "C-1" and "one-" not in str(alert_2)
        face = clusters[0]["faces"][0]["face_id"]
        for path in ("", "/summary", "/clusters", "/alerts", f"/faces/{face}/picture"):
            r = inv2.get(f"/api/v1/cases/C-1/media{path}")
            assert r.status_code in (403, 404), (path, r.status_code)
            assert "one-" not in r.text
        r = inv2.post(f"/api/v1/cases/C-1/media/faces/{face}/reveal")
        assert r.status_code in (403, 404) and "one-" not in r.text

        # a face's picture: blurred outside the face by default (the default wellbeing
        # setting: colour, blurred; tests/serve/test_api_media_upload.py tries the others);
        # as it is only on a logged reveal
        shown = inv.get(f"/api/v1/cases/C-1/media/faces/{face}/picture")
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        assert shown.headers["x-wellbeing"] == "greyscale=0; blur=1"
        shielded = np.asarray(Image.open(io.BytesIO(shown.content)).convert("RGB")).astype(int)
        assert inv.get(f"/api/v1/cases/C-1/media/faces/{face}/reveal").status_code in (404, 405)
        revealed = inv.post(f"/api/v1/cases/C-1/media/faces/{face}/reveal")
        assert revealed.status_code == 200
        colour = np.asarray(Image.open(io.BytesIO(revealed.content)).convert("RGB")).astype(int)
        assert colour.shape == shielded.shape and np.abs(colour - shielded).mean() > 1
        with env.service.governance.session() as s:
            log = [e for e in entries(s) if e.action.startswith("media.face.")]
            assert [(e.action, e.actor) for e in log] == [
                ("media.face.view.refused", "inv2"),  # refusals are logged too
                ("media.face.reveal.refused", "inv2"),
                ("media.face.view", "inv"),
                ("media.face.reveal", "inv"),
            ]
            assert log[-1].details["face"] == face and log[-1].details["case"] == "C-1"

        files = [
            ("probe", (f"{k}.jpg", cfp_frontal(shared_faces, 32, k).read_bytes(), "image/jpeg"))
            for k in (1, 2, 3)
        ]
        r = inv.post("/api/v1/cases/C-1/searches", files=files, data={"k": "3"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["multi_probe"] and [p["label"] for p in body["probes"]] == [
            "1.jpg",
            "2.jpg",
            "3.jpg",
        ]
        top = body["candidates"][0]
        assert top["provenance"][0]["path"].endswith("p32_8.jpg")
        assert top["matched_probes"] == [1, 2, 3] and top["best_score"] >= top["score"] - 1
        again = inv.get(f"/api/v1/searches/{body['search_id']}").json()
        assert again["multi_probe"] and again["candidates"][0]["matched_probes"] == [1, 2, 3]
        listed = inv.get("/api/v1/cases/C-1/searches").json()["items"]
        assert listed[0]["multi_probe"] and len(listed[0]["probes"]) == 3

        cid = clusters[0]["cluster"]
        r = inv.post(f"/api/v1/cases/C-1/media/clusters/{cid}/searches", json={"k": 2})
        assert r.status_code == 201, r.text
        assert r.json()["cluster"] == cid and len(r.json()["probes"]) == 2
        assert r.json()["candidates"][0]["provenance"][0]["path"].endswith("p31_8.jpg")
        for number in ("C-1", "C-2"):
            r = inv2.post(f"/api/v1/cases/{number}/media/clusters/{cid}/searches", json={})
            assert r.status_code in (403, 404) and "one-" not in r.text


def test_person_review_over_the_api(tmp_path, pipeline, shared_faces) -> None:
    """Name, split, move and list decisions: what each decision answered, as the API shows it
    (``previous`` as ``previous_name``, ``from`` as ``from_clusters``)."""
    with api_env(tmp_path, passwords=("inv", "sup"), pipeline=pipeline) as env:
        open_case(env, "C-1", "inv")
        seized = tmp_path / "seized"
        seized.mkdir()
        for k in (1, 2):
            shutil.copy(cfp_frontal(shared_faces, 34, k), seized / f"p-{k}.jpg")
        media = media_service(env.service)
        media.import_media("inv", "C-1", [seized], workers=0)
        media.cluster("inv", "C-1")
        inv = env.client("inv")
        base = "/api/v1/cases/C-1/media"
        (person,) = inv.get(f"{base}/clusters").json()
        cid, (f1, f2) = person["cluster"], [f["face_id"] for f in person["faces"]]
        assert (
            person["faces"][0]["file"].endswith(".jpg") and person["faces"][0]["frame_ms"] is None
        )

        def decide(body: dict) -> dict:
            r = inv.post(f"{base}/clusters/{cid}/decisions", json=body)
            assert r.status_code == 201, r.text
            return r.json()

        named = decide({"action": "name", "name": "Kim", "note": "first"})
        assert (named["name"], named["previous_name"], named["at"]) == ("Kim", None, None)
        renamed = decide({"action": "name", "name": "Kim L."})
        assert renamed["previous_name"] == "Kim" and renamed["actor"] == "inv"
        split = decide({"action": "split", "faces": [f2]})
        assert split["faces"] == [f2] and split["new_cluster"] not in (None, cid)
        moved = decide({"action": "move", "faces": [f2]})
        assert moved["from_clusters"] == [split["new_cluster"]] and moved["faces"] == [f2]
        r = inv.post(f"{base}/clusters/{cid}/decisions", json={"action": "name", "bogus": 1})
        assert r.status_code == 422  # extra fields are refused
        listed = inv.get(f"{base}/decisions").json()
        assert [d["action"] for d in listed] == ["name", "name", "split", "move"]
        assert [d["decision_id"] for d in listed] == [
            named["decision_id"],
            renamed["decision_id"],
            split["decision_id"],
            moved["decision_id"],
        ]
        assert listed[0]["note"] == "first" and listed[1]["previous_name"] == "Kim"
        assert listed[3]["from_clusters"] == [split["new_cluster"]]
        assert all(d["at"] for d in listed) and all(d["cluster"] == cid for d in listed)
        (again,) = inv.get(f"{base}/clusters").json()
        assert again["name"] == "Kim L." and {f["face_id"] for f in again["faces"]} == {f1, f2}

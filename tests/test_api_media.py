"""The HTTP API of media sets (read-only) and multi-probe searches: several ``probe`` files as
one query, a media cluster as the probes, and an investigator of another case refused at every
media endpoint. Real models, a real gallery from the shared CFP photos, SQLite."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image
from tests.api_support import api_env, open_case
from tests.victim_support import cfp_frontal

from facesearch.govern.audit import entries
from facesearch.media.service import MediaService

# real models and a gallery ingested from the shared photos: tens of seconds each
pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def test_media_endpoints_and_multi_probe_searches(tmp_path, pipeline, shared_faces) -> None:
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for p in (30, 31, 32, 33):
        shutil.copy(cfp_frontal(shared_faces, p, 8), gallery / f"p{p}_8.jpg")
    with api_env(tmp_path, passwords=("inv", "inv2", "sup")) as env:
        env.service.gallery.pipeline = pipeline
        admin = env.service.principal("admin", "cli")
        assert not env.service.ingest(admin, [gallery], workers=0).failures
        open_case(env, "C-1", "inv")
        open_case(env, "C-2", "inv2")
        seized_1, seized_2 = tmp_path / "s1", tmp_path / "s2"
        seized_1.mkdir()
        seized_2.mkdir()
        for k in (1, 2):
            shutil.copy(cfp_frontal(shared_faces, 31, k), seized_1 / f"one-{k}.jpg")
        shutil.copy(cfp_frontal(shared_faces, 31, 3), seized_2 / "two-secret.jpg")
        media = MediaService(env.service.governance, env.service.gallery)
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

        # a face's picture: greyscale and blurred by default; as it is only on a logged reveal
        shown = inv.get(f"/api/v1/cases/C-1/media/faces/{face}/picture")
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        grey = np.asarray(Image.open(io.BytesIO(shown.content)).convert("RGB")).astype(int)
        assert np.abs(grey[..., 0] - grey[..., 1]).max() <= 2
        assert inv.get(f"/api/v1/cases/C-1/media/faces/{face}/reveal").status_code in (404, 405)
        revealed = inv.post(f"/api/v1/cases/C-1/media/faces/{face}/reveal")
        assert revealed.status_code == 200
        colour = np.asarray(Image.open(io.BytesIO(revealed.content)).convert("RGB")).astype(int)
        assert colour.shape == grey.shape and np.abs(colour - grey).mean() > 1
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

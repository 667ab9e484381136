"""``GET /models/migration`` and ``POST /models/migration/switch | switch-back`` over HTTP on a
real gallery (CFP photos, SFace) migrated to the suite's ``test-resnet``: the status before
(ready to switch), the switch, the status after (the previous model, switch back possible),
the switch back; 409 with why when it cannot; auditors read, investigators are refused."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.support.api import api_env
from tests.support.media import cfp_frontal
from tests.support.switching import AGENCY, add_agency_model

SFACE = "sface-2021dec-int8bq"


def test_switch_and_back_over_http(
    tmp_path: Path, pipeline: Any, agency_model: Any, shared_faces: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for person in (1, 2, 3):
        shutil.copy(cfp_frontal(shared_faces, person, 1), photos / f"p{person}.jpg")
    with api_env(tmp_path, passwords=(), pipeline=pipeline) as env:
        env.ingest([photos], workers=0)
        target = add_agency_model(env.settings.data_dir, agency_model, calibrate=True)
        gov = env.service.governance
        tokens = {n: gov.create_token(n, n, "models")[0] for n in ("admin", "aud", "inv")}

        def call(role: str, method: str, path: str, **kw: Any) -> Any:
            c = env.client()
            c.headers["Authorization"] = f"Bearer {tokens[role]}"
            return c.request(method, f"/api/v1/models/migration{path}", **kw)

        r = call("aud", "GET", "")
        assert r.status_code == 200, r.text
        assert r.json()["active"] == SFACE and r.json()["migration"] is None
        assert "no model migration was started" in r.json()["switch_blockers"]
        r = call("admin", "POST", "/switch", json={"target": AGENCY})
        assert r.status_code == 409 and "3 searchable faces" in r.json()["detail"]

        admin = env.service.accounts.principal("admin", "cli")
        assert env.service.migrations.start_or_resume(admin, AGENCY, workers=0).state == "ready"
        status = call("admin", "GET", "").json()
        assert status["can_switch"] and status["migration"]["done"] == 3
        assert call("inv", "POST", "/switch", json={"target": AGENCY}).status_code == 403
        r = call("admin", "POST", "/switch", json={"target": AGENCY})
        assert r.status_code == 200, r.text
        assert r.json()["target_model_key"] == target and r.json()["moved"] == 3
        status = call("aud", "GET", "").json()
        assert status["active"] == AGENCY and status["previous"] == SFACE
        assert status["can_switch_back"] and status["migration"]["state"] == "switched"
        assert not status["can_switch"]
        r = call("admin", "POST", "/switch-back")
        assert r.status_code == 200, r.text
        assert r.json()["action"] == "models.switch_back" and r.json()["target"] == SFACE
        assert call("aud", "GET", "").json()["active"] == SFACE

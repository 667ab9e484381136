"""Server state that outlives a process (issue 22, "nothing lost, nothing stale"): web sessions,
failed-login counts and ingest jobs are rows of the catalog, so a restart keeps everyone signed
in, two server processes on one catalog share sessions, lockouts and the job list, job ids go
on after a restart, and jobs (and runs) a dead server left are interrupted and resumable.

Each "restart" here is a second service and application opened on the same data directory
(the first closed, or still open as a second replica); ``test_serve_kill.py`` kills a real
``facesearch serve`` with SIGKILL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from tests.conftest import write_image
from tests.support.api import PASSWORD, ApiEnv, api_env, login

from facesearch.app import Service
from facesearch.govern.schema import AuditEntry
from facesearch.serve.api.app import create_app
from facesearch.serve.api.security import SESSION_COOKIE
from facesearch.store.jobs import JobTable, Owner


@contextmanager
def replica(env: ApiEnv, pipeline: Any) -> Iterator[tuple[Service, TestClient]]:
    """A second service and application on ``env``'s data directory (a restarted server, or
    a second replica while the first is still open)."""
    service = Service(env.settings, pipeline=pipeline)
    app = create_app(env.settings, service=service, static_dir=env.static_dir)
    try:
        yield service, TestClient(app, base_url="http://testserver")
    finally:
        service.close()


def audit(service: Service, action: str) -> list[dict[str, Any]]:
    with service.governance.session() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()
        return [{"actor": r.actor, **json.loads(r.details)} for r in rows]


def test_a_restart_keeps_the_session_and_replicas_share_it(tmp_path: Path, pipeline: Any) -> None:
    with api_env(tmp_path, passwords=("inv",), pipeline=pipeline) as env:
        first = env.client("inv")
        cookie = first.cookies[SESSION_COOKIE]
        csrf = first.get("/api/v1/auth/me").json()["csrf_token"]
        with replica(env, pipeline) as (_, client):
            client.cookies.set(SESSION_COOKIE, cookie)
            me = client.get("/api/v1/auth/me")
            assert me.status_code == 200 and me.json()["username"] == "inv"
            assert me.json()["csrf_token"] == csrf  # the same session, not a new one
            # a log-out on one replica ends the session on the other
            r = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
            assert r.status_code == 204
        assert first.get("/api/v1/auth/me").status_code == 401
        cookie = env.client("inv").cookies[SESSION_COOKIE]
    # the first service closed, a new one started on the data directory: still signed in
    with replica(env, pipeline) as (service, client):
        client.cookies.set(SESSION_COOKIE, cookie)
        assert client.get("/api/v1/auth/me").status_code == 200
        # the raw id is nowhere in the table: only its HMAC
        keys = service.web_state.sessions.keys()
        assert keys and cookie.rpartition(".")[0] not in keys


def test_the_login_lockout_is_counted_across_replicas(tmp_path: Path, pipeline: Any) -> None:
    with api_env(tmp_path, passwords=("inv", "sup"), pipeline=pipeline) as env:
        assert env.settings.login_failures_per_minute == 5
        one = env.client()
        with replica(env, pipeline) as (_, two):
            for client in (one, two, one, two):
                r = client.post("/api/v1/auth/login", json={"username": "sup", "password": "no"})
                assert r.status_code == 401
            # the fifth failure, wherever it is made, locks the account on both replicas
            r = two.post("/api/v1/auth/login", json={"username": "sup", "password": "no"})
            assert r.status_code == 401
            for client in (one, two):
                r = client.post(
                    "/api/v1/auth/login", json={"username": "sup", "password": PASSWORD}
                )
                assert r.status_code == 429
            login(two, "inv")  # another account is not locked out


def test_job_ids_continue_after_a_restart_and_replicas_list_every_job(
    tmp_path: Path, pipeline: Any
) -> None:
    empty = tmp_path / "roots" / "empty"
    empty.mkdir(parents=True)
    with api_env(
        tmp_path, passwords=("admin",), pipeline=pipeline, ingest_roots=[tmp_path / "roots"]
    ) as env:
        admin = env.client("admin")
        r = admin.post("/api/v1/ingest/jobs", json={"path": str(empty)})
        assert r.status_code == 202
        first = r.json()["id"]
        assert env.service.library.jobs.wait(first, 60).status == "completed"  # type: ignore[union-attr]
        with replica(env, pipeline) as (_, client):
            login(client, "admin")
            listed = client.get("/api/v1/ingest/jobs").json()["items"]
            assert [(j["id"], j["status"]) for j in listed] == [(first, "completed")]
    with replica(env, pipeline) as (_, admin):
        login(admin, "admin")
        r = admin.post("/api/v1/ingest/jobs", json={"path": str(empty)})
        assert r.json()["id"] == first + 1  # not 1 again
        assert {j["id"] for j in admin.get("/api/v1/ingest/jobs").json()["items"]} == {
            first,
            first + 1,
        }


def _photos_zip(folder: Path, faces: list[np.ndarray]) -> Path:
    pics = [write_image(folder / f"p{i}.png", img) for i, img in enumerate(faces)]
    archive = folder / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in pics:
            z.write(p, p.name)
    for p in pics:
        p.unlink()
    return archive


def test_jobs_of_a_dead_server_are_interrupted_and_resumed(
    tmp_path: Path, pipeline: Any, other_faces: list[np.ndarray]
) -> None:
    with api_env(tmp_path, passwords=("admin", "inv"), pipeline=pipeline) as env:
        upload = env.service.library.upload_dir()
        archive = _photos_zip(upload, other_faces[1:4])
        catalog = env.service.gallery.catalog
        table = JobTable(sessionmaker(catalog.engine, expire_on_commit=False))
        me = Owner.current()
        namespace = me.started.rpartition("@")[0]
        dead = Owner(me.host, me.pid, f"{namespace}@0")  # this pid, another start: reused
        elsewhere = Owner("replica-b.example", 4242, "1")  # alive on another host
        gone = Owner("replica-c.example", 4343, "1")  # another host, silent for minutes

        crashed = table.add(dead, [str(archive)], "seized", "admin", [str(upload)])["id"]
        run = catalog.start_run([str(archive)], "seized")
        table.write(crashed, status="running", run_id=run)
        stray_run = catalog.start_run(["/some/cli/folder"], None)  # a killed CLI ingest
        live = table.add(elsewhere, ["/x"], None, "admin", [])["id"]
        table.write(live, status="running")
        given_up = env.service.library.upload_dir()
        silent = table.add(gone, ["/y"], None, "admin", [str(given_up)])["id"]
        table.write(silent, heartbeat=time.time() - 600)
        queued = table.add(elsewhere, ["/z"], None, "admin", [])["id"]  # queued on replica b

        with replica(env, pipeline) as (service, client):
            login(client, "admin")
            jobs = {j["id"]: j for j in client.get("/api/v1/ingest/jobs").json()["items"]}
            assert jobs[crashed]["status"] == "interrupted" and jobs[crashed]["resumable"]
            assert f"pid {me.pid} on {me.host}" in jobs[crashed]["error"]
            assert jobs[silent]["status"] == "interrupted"
            assert jobs[live]["status"] == "running"  # another replica's live job: untouched
            # a cancel reaches a job another replica holds: a queued one ends at once (its
            # owner will not start it), a running one is flagged for its next progress report
            assert client.post(f"/api/v1/ingest/jobs/{queued}/cancel").json()["status"] == (
                "cancelled"
            )
            assert not table.claim(queued, elsewhere)
            client.post(f"/api/v1/ingest/jobs/{live}/cancel")
            assert table.write(live, files_done=1)  # what the owner reads with its progress
            runs = {r["id"]: r for r in client.get("/api/v1/ingest/runs").json()["items"]}
            assert runs[run]["status"] == "interrupted"
            assert f"ingest job {crashed}" in runs[run]["reason"]
            assert runs[stray_run]["status"] == "interrupted" and runs[stray_run]["reason"]
            assert upload.exists()  # the upload is kept while its job is interrupted
            # an interrupted job cancelled is given up: its upload goes
            assert given_up.exists()
            r = client.post(f"/api/v1/ingest/jobs/{silent}/cancel")
            assert r.json()["status"] == "cancelled" and not r.json()["resumable"]
            assert not given_up.exists()

            r = client.post(f"/api/v1/ingest/jobs/{crashed}/resume")
            assert r.status_code == 202, r.text
            new = r.json()
            assert new["resumes"] == crashed and new["sources"] == [str(archive)]
            done = service.library.jobs.wait(new["id"], 120)
            assert done is not None and done.status == "completed", done
            assert done.counts is not None and done.counts["images_new"] == 3
            assert not upload.exists()  # removed once the resumed job completed
            old = client.get(f"/api/v1/ingest/jobs/{crashed}").json()
            assert old["resumed_by"] == new["id"] and not old["resumable"]
            # resumed once only; a job that is not interrupted is not resumable
            assert client.post(f"/api/v1/ingest/jobs/{crashed}/resume").status_code == 403
            assert client.post(f"/api/v1/ingest/jobs/{new['id']}/resume").status_code == 403
            assert client.post("/api/v1/ingest/jobs/999999/resume").status_code == 404
            logged = audit(service, "ingest.resume")
            assert logged[-1]["actor"] == "admin" and logged[-1]["job"] == crashed
            assert logged[-1]["new_job"] == new["id"]
        # an investigator may not resume (refused before anything is looked at)
        r = env.client("inv").post(f"/api/v1/ingest/jobs/{silent}/resume")
        assert r.status_code == 403
        assert audit(env.service, "ingest.refused")[-1]["actor"] == "inv"


def test_the_owner_of_a_job_is_alive_only_as_itself() -> None:
    me = Owner.current()
    now = time.time()
    namespace, _, ticks = me.started.rpartition("@")
    assert me.alive(None, now)
    if ticks:  # Linux: the same pid with another start time is another process
        assert not Owner(me.host, me.pid, f"{namespace}@0").alive(None, now)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    assert not Owner(me.host, int(gone.stdout), me.started).alive(now, now)
    # another host, or another PID namespace on this one (a container): by the heartbeat
    for other in (
        Owner(socket.gethostname() + ".elsewhere", os.getpid(), me.started),
        Owner(me.host, os.getpid(), f"pid:[1]@{ticks}"),
    ):
        assert other.alive(now - 5, now) and not other.alive(now - 600, now)
        assert not other.alive(None, now)


@pytest.mark.postgres
def test_replicas_share_sessions_lockouts_and_jobs_on_postgresql(
    tmp_path: Path, postgres_url: str, pipeline: Any
) -> None:
    empty = tmp_path / "roots" / "empty"
    empty.mkdir(parents=True)
    with api_env(
        tmp_path,
        postgres_url,
        passwords=("admin", "sup"),
        pipeline=pipeline,
        ingest_roots=[tmp_path / "roots"],
    ) as env:
        admin = env.client("admin")
        first = admin.post("/api/v1/ingest/jobs", json={"path": str(empty)}).json()["id"]
        assert env.service.library.jobs.wait(first, 60).status == "completed"  # type: ignore[union-attr]
        table = JobTable(sessionmaker(env.service.gallery.catalog.engine, expire_on_commit=False))
        me = Owner.current()
        reused = Owner(me.host, me.pid, me.started.rpartition("@")[0] + "@0")  # a reused pid
        crashed = table.add(reused, [str(empty)], None, "admin", [])["id"]
        table.write(crashed, status="running")
        one = env.client()
        with replica(env, pipeline) as (service, two):
            two.cookies.set(SESSION_COOKIE, admin.cookies[SESSION_COOKIE])
            two.headers["X-CSRF-Token"] = admin.headers["X-CSRF-Token"]
            jobs = {j["id"]: j["status"] for j in two.get("/api/v1/ingest/jobs").json()["items"]}
            assert jobs == {first: "completed", crashed: "interrupted"}
            r = two.post(f"/api/v1/ingest/jobs/{crashed}/resume")
            assert r.status_code == 202 and r.json()["id"] == crashed + 1
            assert service.library.jobs.wait(crashed + 1, 60).status == "completed"  # type: ignore[union-attr]
            for client in (one, two, one, two, one):
                r = client.post("/api/v1/auth/login", json={"username": "sup", "password": "no"})
                assert r.status_code == 401
            r = two.post("/api/v1/auth/login", json={"username": "sup", "password": PASSWORD})
            assert r.status_code == 429

"""Ingest jobs (administrators): a server path the settings allow, or an uploaded archive;
run in the background one at a time, progress by polling, cancel, and resume of a job its
server left interrupted. Jobs are rows of the catalog: every server process on it lists them
all, and they outlive a restart."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from facesearch.app.results import IngestJob
from facesearch.app.service import Service
from facesearch.app.types import is_archive as is_archive_name
from facesearch.serve.api.deps import (
    CurrentPrincipal,
    PageDep,
    PathId,
    ServiceDep,
    SettingsDep,
    page,
)
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas import (
    FailureOut,
    IngestPathIn,
    IngestRunOut,
    Page,
)
from facesearch.serve.api.schemas_ingest import IngestJobStateOut, IngestRootsOut
from facesearch.serve.api.uploads import (
    ArchiveLimits,
    check_archive,
    check_content_length,
    is_archive,
    save_upload,
)
from facesearch.serve.api.views import job_out as plain_job_out

router = APIRouter(prefix="/ingest", tags=["ingest"])


def job_out(job: IngestJob, service: Service) -> IngestJobStateOut:
    """The job as sent, with where it stands (phase, rate, estimated end)."""
    state = service.library.jobs.state(job)
    return IngestJobStateOut.model_validate({**plain_job_out(job).model_dump(), **state})


@router.get("/roots", response_model=IngestRootsOut)
def ingest_roots(who: CurrentPrincipal, service: ServiceDep) -> IngestRootsOut:
    """The server folders a job may ingest from (administrators)."""
    return IngestRootsOut(roots=service.library.ingest_roots(who))


@router.post("/jobs", response_model=IngestJobStateOut, status_code=202)
def start_from_path(
    body: IngestPathIn, who: CurrentPrincipal, service: ServiceDep
) -> IngestJobStateOut:
    path = service.library.allowed_ingest_path(who, body.path)
    return job_out(service.library.start_job(who, [str(path)], body.collection), service)


@router.post("/jobs/upload", response_model=IngestJobStateOut, status_code=202)
def start_from_upload(
    request: Request,
    who: CurrentPrincipal,
    service: ServiceDep,
    settings: SettingsDep,
    archive: Annotated[UploadFile, File(description="A zip or tar archive of photos.")],
    collection: Annotated[str | None, Form(max_length=200)] = None,
) -> IngestJobStateOut:
    check_content_length(request, settings.max_archive_bytes, "archive")
    service.library.may_upload(who)
    name = Path(archive.filename or "upload.zip").name
    if not is_archive(archive.file, name):
        raise ApiError(415, "the upload must be a zip or tar archive of photos")
    folder = service.library.upload_dir()

    target = folder / (name if is_archive_name(Path(name)) else "upload.zip")
    try:
        save_upload(archive.file, target, settings.max_archive_bytes, "archive")
        check_archive(target, ArchiveLimits.of(settings))  # before any photo of it is read
    except ApiError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    job = service.library.start_job(
        who, [str(target)], collection or None, [str(folder)], names={str(target): name}
    )
    return job_out(job, service)


@router.get("/jobs", response_model=Page[IngestJobStateOut])
def list_jobs(who: CurrentPrincipal, service: ServiceDep, params: PageDep) -> dict[str, Any]:
    return page([job_out(j, service) for j in service.library.list_jobs(who)], params)


@router.get("/jobs/{job_id}", response_model=IngestJobStateOut)
def get_job(job_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> IngestJobStateOut:
    return job_out(service.library.job(who, job_id), service)


@router.post("/jobs/{job_id}/cancel", response_model=IngestJobStateOut)
def cancel_job(job_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> IngestJobStateOut:
    service.library.cancel_job(who, job_id)
    # read again: a job another server process holds is changed in the catalog, not in place
    return job_out(service.library.job(who, job_id), service)


@router.post("/jobs/{job_id}/resume", response_model=IngestJobStateOut, status_code=202)
def resume_job(job_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> IngestJobStateOut:
    """Queue a new job of an interrupted job's sources, linked to it (``resumes``); photos
    already stored are skipped, so nothing is doubled."""
    return job_out(service.library.jobs.resume(who, job_id), service)


@router.get("/runs", response_model=Page[IngestRunOut])
def list_runs(who: CurrentPrincipal, service: ServiceDep, params: PageDep) -> dict[str, Any]:
    return page(service.library.runs(who), params)


@router.get("/runs/{run_id}/failures", response_model=Page[FailureOut])
def run_failures(
    run_id: PathId, who: CurrentPrincipal, service: ServiceDep, params: PageDep
) -> dict[str, Any]:
    rows = [{"path": p, "reason": r} for p, r in service.library.run_failures(who, run_id)]
    return page(rows, params)

"""Authorisations of a case's searches (with the document's scan), urgent-use deadlines and
their enforcement, deletion receipts, and the Art. 12(3) record of a search."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile

from facesearch.app.types import MAX_SCAN, NewAuthorisation, as_utc
from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.schemas_authorisations import (
    AuthorisationOut,
    ReceiptDocumentOut,
    ReceiptOut,
    SearchRecordOut,
)
from facesearch.serve.api.uploads import check_content_length

router = APIRouter(tags=["authorisations"])


@router.get("/cases/{number}/authorisations", response_model=list[AuthorisationOut])
def case_authorisations(
    number: str, who: CurrentPrincipal, service: ServiceDep
) -> list[AuthorisationOut]:
    """The case's authorisations, oldest first (readers of the case). An urgent use past its
    deadline is enforced first: its searches deleted, a receipt written."""
    found = service.authorisations.of_case(who, number)
    return [AuthorisationOut.model_validate(a) for a in found]


@router.post("/cases/{number}/authorisations", response_model=AuthorisationOut, status_code=201)
def record_authorisation(
    number: str,
    request: Request,
    who: CurrentPrincipal,
    service: ServiceDep,
    kind: Annotated[str, Form(max_length=40)],
    authority: Annotated[str, Form(max_length=2000)] = "",
    reference: Annotated[str, Form(max_length=2000)] = "",
    issued_on: Annotated[str, Form(max_length=40, description="ISO 8601 date")] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    granted: Annotated[bool, Form()] = True,
    scan: Annotated[
        UploadFile | None, File(description="The document's scan: PDF, JPEG or PNG.")
    ] = None,
) -> AuthorisationOut:
    """Record an authorisation (the case's requester, assigned investigators, supervisors;
    audited): a judicial warrant or binding administrative authorisation (granted or refused,
    with authority, reference, date and scan), urgent use (starts the deadline) or not
    required (with the reason). A refusal deletes the searches of a pending urgent use."""
    check_content_length(request, MAX_SCAN, "scan")
    data = None
    if scan is not None:
        data = scan.file.read(MAX_SCAN + 1)
        if len(data) > MAX_SCAN:
            raise ApiError(413, f"the scan is larger than {MAX_SCAN} bytes")
        if not data.startswith((b"%PDF", b"\xff\xd8\xff", b"\x89PNG")):
            raise ApiError(415, "the scan must be a PDF, JPEG or PNG file")
    try:
        when = as_utc(datetime.fromisoformat(issued_on)) if issued_on.strip() else None
    except ValueError:
        raise ApiError(422, "issued_on must be an ISO 8601 date") from None
    new = NewAuthorisation(kind, authority, reference, when, reason, granted, data or None)
    return AuthorisationOut.model_validate(service.authorisations.record(who, number, new))


@router.post("/authorisations/{authorisation_id}/validate", response_model=AuthorisationOut)
def validate_authorisation(
    authorisation_id: PathId, who: CurrentPrincipal, service: ServiceDep
) -> AuthorisationOut:
    """A supervisor (not the one who recorded it) confirms the record matches its document."""
    return AuthorisationOut.model_validate(service.authorisations.validate(who, authorisation_id))


@router.get("/authorisations/{authorisation_id}/scan", response_class=Response)
def authorisation_scan(
    authorisation_id: PathId, who: CurrentPrincipal, service: ServiceDep
) -> Response:
    """The document's scan, decrypted (readers of the case; audited)."""
    data, media_type = service.authorisations.scan(who, authorisation_id)
    ext = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(media_type, "bin")
    headers = {
        "Cache-Control": "no-store",
        # an uploaded document: downloaded, never rendered as part of the app's origin
        "Content-Disposition": f'attachment; filename="authorisation-{authorisation_id}.{ext}"',
    }
    return Response(content=data, media_type=media_type, headers=headers)


@router.get("/authorisations/deadlines", response_model=list[AuthorisationOut])
def deadlines(who: CurrentPrincipal, service: ServiceDep) -> list[AuthorisationOut]:
    """Urgent uses awaiting their authorisation, nearest deadline first (supervisors,
    administrators, auditors)."""
    return [AuthorisationOut.model_validate(a) for a in service.authorisations.deadlines(who)]


@router.post("/authorisations/enforce", response_model=list[ReceiptOut])
def enforce(who: CurrentPrincipal, service: ServiceDep) -> list[ReceiptOut]:
    """Delete the searches of every urgent use past its deadline, each with a signed receipt
    (administrators; also run by ``facesearch purge`` and on reading a case)."""
    return [ReceiptOut.model_validate(r) for r in service.authorisations.enforce(who)]


@router.get("/receipts", response_model=list[ReceiptOut])
def receipts(
    who: CurrentPrincipal,
    service: ServiceDep,
    case: Annotated[str | None, Query(max_length=100)] = None,
) -> list[ReceiptOut]:
    """Deletion receipts, newest first (supervisors, administrators, auditors)."""
    return [ReceiptOut.model_validate(r) for r in service.authorisations.receipts(who, case)]


@router.get("/receipts/{receipt_id}", response_model=ReceiptDocumentOut)
def receipt(receipt_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> Response:
    """The signed deletion receipt, as a file (verify it with ``facesearch receipts verify``)."""
    document = service.authorisations.receipt(who, receipt_id)
    return Response(
        content=json.dumps(document, indent=2, sort_keys=True),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="receipt-{receipt_id}.json"'},
    )


@router.get("/searches/{search_id}/record", response_model=SearchRecordOut)
def search_record(search_id: PathId, who: CurrentPrincipal, service: ServiceDep) -> SearchRecordOut:
    """The Art. 12(3) record of a search: start and end, the gallery's generation and the
    collections searched, the probe's hash and face, the candidates, reviewers and
    verifiers, the authorisation (readers of the case; audited)."""
    return SearchRecordOut.model_validate(service.authorisations.search_record(who, search_id))

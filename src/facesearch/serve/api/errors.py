"""Errors as RFC 9457 problem details (``application/problem+json``), one clear message each."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facesearch.app.concurrency import BusyError
from facesearch.app.types import (
    AuthenticationError,
    NotVisibleError,
    PolicyError,
    QuotaExceededError,
    RefusedError,
)
from facesearch.errors import (
    WRITE_ONLY_ERRNOS,
    DecodeError,
    FacesearchError,
    NoFaceError,
    OriginalUnavailableError,
    StorageError,
    storage_error,
)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_STORAGE = "30"  # seconds: a locked catalog or a read-only disk, at a guess
log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status, raised by routers and dependencies."""

    def __init__(
        self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem(
    request: Request,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _not_found_reason(reason: str) -> bool:
    return reason.startswith(
        (
            "no search",
            "no case",
            "no face",
            "no incident",
            "no authorisation",
            "no receipt",
            "no alert",
            "no standing query",
            "no collection",
            "no image",
            "no ingest job",
            "no removal request",
            "no token",
            "unknown user",
        )
    )


def _refused_write(request: Request, exc: StorageError) -> JSONResponse:
    """The disk is full (507 Insufficient Storage), or read-only, or the catalog is locked
    (503, try again later): the path and the driver's words stay in the server's log."""
    log.error("write refused on %s %s: %s", request.method, request.url.path, exc)
    if exc.kind == "full":
        return problem(request, 507, exc.public)
    return problem(request, 503, exc.public, {"Retry-After": RETRY_AFTER_STORAGE})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(request, exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(AuthenticationError)
    async def auth_error(request: Request, exc: AuthenticationError) -> JSONResponse:
        return problem(request, 401, exc.reason, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(QuotaExceededError)
    async def quota_error(request: Request, exc: QuotaExceededError) -> JSONResponse:
        return problem(request, 429, exc.reason, {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(NotVisibleError)
    async def not_visible(request: Request, exc: NotVisibleError) -> JSONResponse:
        # the same answer as for a case (or search) that does not exist: nobody learns which
        # case numbers exist; the audit log has the real reason
        search_id = request.path_params.get("search_id")
        shown = f"no search {search_id}" if search_id is not None else exc.shown
        return problem(request, 404, shown, action=exc.action)

    @app.exception_handler(RefusedError)
    async def refused(request: Request, exc: RefusedError) -> JSONResponse:
        # a face another case returned is "not found", so face ids cannot be probed
        hidden = exc.action.startswith("face.") and exc.action != "face.reveal"
        status = 404 if hidden or _not_found_reason(exc.reason) else 403
        # the reason in words for the user; the governed action it refused (e.g. "case.view")
        # stays machine-readable in "action" and in the audit log, not in the sentence
        return problem(request, status, exc.reason, action=exc.action)

    @app.exception_handler(PolicyError)
    async def policy_error(request: Request, exc: PolicyError) -> JSONResponse:
        errors = [{"loc": [f], "msg": m} for f, m in exc.problems]
        return problem(request, 422, str(exc), errors=errors)

    @app.exception_handler(BusyError)
    async def busy(request: Request, exc: BusyError) -> JSONResponse:
        return problem(request, 503, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(StorageError)
    async def refused_write(request: Request, exc: StorageError) -> JSONResponse:
        return _refused_write(request, exc)

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError) -> JSONResponse:
        # a write no store translated (e.g. an upload spooled to a full temporary folder)
        refused = storage_error(exc, "a file") if exc.errno in WRITE_ONLY_ERRNOS else None
        if refused is not None:
            return _refused_write(request, refused)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(request, 500, "internal error; it has been logged on the server")

    @app.exception_handler(NoFaceError)
    async def no_face(request: Request, exc: NoFaceError) -> JSONResponse:
        return problem(request, 422, str(exc))

    @app.exception_handler(DecodeError)
    async def decode_error(request: Request, exc: DecodeError) -> JSONResponse:
        return problem(request, 415, f"the upload is not a readable image: {exc}")

    @app.exception_handler(OriginalUnavailableError)
    async def original_gone(request: Request, exc: OriginalUnavailableError) -> JSONResponse:
        return problem(request, 410, str(exc))

    @app.exception_handler(FacesearchError)
    async def facesearch_error(request: Request, exc: FacesearchError) -> JSONResponse:
        return problem(request, 400, str(exc))

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        return problem(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        loc: list[str] = list(errors[0]["loc"]) if errors else []
        msg = str(errors[0]["msg"]) if errors else "invalid request"
        detail = f"{'.'.join(loc)}: {msg}" if loc else msg
        return problem(request, 422, detail, errors=errors)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(request, 500, "internal error; it has been logged on the server")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(request, exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)

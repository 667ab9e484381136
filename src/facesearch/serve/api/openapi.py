"""The OpenAPI document declares every error answer an operation can give.

FastAPI documents only the success and the 422 of its own validation (as ``application/json``
with its own shape). Every error here is an RFC 9457 problem (``application/problem+json``,
:mod:`facesearch.serve.api.errors`), so the document is post-processed once: each operation
gets the statuses it can answer, each with the ``Problem`` schema:

- 401 and 403 on every protected operation (no or bad credentials; a role, the policy, a
  failed CSRF check), 401 and 429 on login (wrong password; too many failures);
- 404 where the path names something (a case, search, face, job, user, token...);
- 400, 413 and 422 where there is a body (malformed, over the route's cap, invalid fields),
  422 also where there are parameters; 415 on uploads (not an image or archive);
- 429 and 503 where the route declared them (search quota, search queue).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from facesearch.serve.api.guard import PROBLEM_JSON, is_protected

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "Always 'about:blank'."},
        "title": {"type": "string", "description": "The status's phrase."},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, in words."},
        "instance": {"type": "string", "description": "The path asked."},
        "action": {
            "type": "string",
            "description": "On a refusal: the governed action refused (as in the audit log).",
        },
        "errors": {
            "type": "array",
            "description": "On 422: each invalid field.",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
LOGIN = "/api/v1/auth/login"
PASSWORD = "/api/v1/auth/password"


def error_statuses(path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses ``operation`` at ``path`` can answer (see the module docstring)."""
    statuses = {int(code) for code in operation.get("responses", {}) if str(code)[0] in "45"}
    body = operation.get("requestBody", {}).get("content", {})
    if is_protected(path):
        statuses |= {401, 403}
    if path in (LOGIN, PASSWORD):
        statuses |= {401, 403, 429}  # 403: a password reset by an administrator must change
    if "{" in path:
        statuses.add(404)
    if body:
        statuses |= {400, 413, 422}
    if operation.get("parameters"):
        statuses.add(422)
    if "multipart/form-data" in body:
        statuses.add(415)
    return statuses


def add_problem_answers(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every operation's error answers declared as problems (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(path, operation)):
                answer = responses.setdefault(str(status), {})
                answer.setdefault("description", HTTPStatus(status).phrase)
                answer["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the post-processed document at ``/openapi.json`` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_answers(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

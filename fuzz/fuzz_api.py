"""Fuzz API request parsing: the pydantic request models of serve/api/schemas.py, the search
form's filters, the upload checks of serve/api/uploads.py and the ASGI guard of
serve/api/guard.py with raw headers.

The first byte, modulo ``len(HANDLERS)``, chooses what the rest is given to:

- 0-14: a JSON body to a request model (``model_validate_json``, as FastAPI reads a body):
  a model or pydantic's ValidationError (answered 422), never another exception;
- 15: the search form's filters, four NUL-separated texts (collection, captured_from,
  captured_to, source_prefix) to ``search_filters``: filters or ValueError (422);
- 16: a probe upload to ``read_image``: the bytes, or ApiError (413/415/422);
- 17: an archive upload to ``is_archive``, ``save_upload`` and ``check_archive``: ApiError
  (413/415) or a member count;
- 18: a request to the guard: the first line ``METHOD PATH``, then ``name: value`` header
  lines, an empty line, the body (framed as an HTTP/1.1 server does: all of it with a
  Transfer-Encoding header, else as many bytes as Content-Length says, else none). The
  guard answers 400, 401 or 413 itself, or passes the request on with at most the route's
  cap of body; it never raises. Its collaborators (the
  token check, sessions, the refusal log) are small stand-ins; the guard itself is the real one.

    python fuzz/fuzz_api.py fuzz/corpus/api -max_total_time=600 -rss_limit_mb=2048
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import fuzz, instrumented, scratch

with instrumented(__name__, "starlette"):
    from fastapi import UploadFile
    from pydantic import BaseModel, ValidationError

    from facesearch.app.governed import search_filters
    from facesearch.govern.errors import AuthenticationError
    from facesearch.ingest.archives import ArchiveLimits
    from facesearch.serve.api import schemas
    from facesearch.serve.api.errors import ApiError
    from facesearch.serve.api.guard import RequestGuard, body_cap
    from facesearch.serve.api.uploads import check_archive, is_archive, read_image, save_upload
    from facesearch.settings import Settings

MODELS: tuple[type[BaseModel], ...] = (
    schemas.LoginIn,
    schemas.UserIn,
    schemas.UserPatch,
    schemas.ChangeDecisionIn,
    schemas.PasswordChangeIn,
    schemas.TokenIn,
    schemas.IngestPathIn,
    schemas.CaseIn,
    schemas.NoteIn,
    schemas.AssignIn,
    schemas.ReviewIn,
    schemas.ClusterSearchIn,
    schemas.RevealIn,
    schemas.RemovalApplyIn,
    schemas.PolicyTextIn,
)
KB = 1024
LIMITS = ArchiveLimits(members=1000, member_bytes=256 * KB, expanded_bytes=1024 * KB, ratio=100)
SETTINGS = Settings(max_request_bytes=2 * KB, max_probe_bytes=4 * KB, max_archive_bytes=64 * KB)


def _model(cls: type[BaseModel]) -> Callable[[bytes], None]:
    def check(body: bytes) -> None:
        try:
            value = cls.model_validate_json(body)
        except ValidationError:
            return
        value.model_dump_json()

    return check


def _filters(body: bytes) -> None:
    texts = [*body.decode("utf-8", "replace").split("\x00"), "", "", "", ""]
    with contextlib.suppress(ValueError):  # answered 422
        search_filters(*(t or None for t in texts[:4]))


def _probe(body: bytes) -> None:
    try:
        data = read_image(UploadFile(io.BytesIO(body), filename="probe.jpg"), 4 * KB)
    except ApiError:
        return
    if data != body:
        raise AssertionError("read_image returned other bytes")


def _archive(body: bytes) -> None:
    stream = io.BytesIO(body)
    if not is_archive(stream, "upload.zip"):
        return
    target = scratch() / "upload.zip"
    try:
        save_upload(stream, target, 64 * KB, "archive")
        check_archive(target, LIMITS)
    except ApiError as exc:
        if exc.status not in (413, 415):
            raise AssertionError(f"answered {exc.status}") from exc


class _Accounts:
    def from_token(self, token: str, origin: str, log: bool) -> object:
        if token != "good-token":
            raise AuthenticationError("the token is not valid")
        return object()


class _Refusals:
    def refused(self, address: str, reason: str, method: str, path: str) -> None:
        pass


STATE = SimpleNamespace(
    settings=SETTINGS,
    service=SimpleNamespace(accounts=_Accounts()),
    sessions={"live-session": object()},
    refusals=_Refusals(),
)


def guard_answer(raw: bytes) -> tuple[int | None, int | None, int]:
    """The guard's answer to a raw request: its status, the body bytes the app behind it got
    (None if it did not run) and the route's cap."""
    head, _, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    method, _, path = lines[0].decode("latin-1").partition(" ")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "app": SimpleNamespace(state=STATE),
        "client": ("192.0.2.1", 1234),
    }
    # the body as an HTTP/1.1 server frames it: streamed with Transfer-Encoding, else
    # Content-Length bytes of it, else none
    names = {name for name, _ in headers}
    if b"transfer-encoding" not in names:
        length = dict(headers).get(b"content-length", b"").strip()
        body = body[: int(length)] if re.fullmatch(rb"[0-9]{1,18}", length) else b""
    chunks = [body[i : i + 700] for i in range(0, len(body), 700)] or [b""]
    passed: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got = 0
        while True:
            message = await receive()
            got += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        passed.append(got)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    asyncio.run(RequestGuard(app)(scope, receive, send))  # type: ignore[arg-type]
    status = sent[0]["status"] if sent else None
    return status, passed[0] if passed else None, body_cap(SETTINGS, path)


def _guard(raw: bytes) -> None:
    status, passed, cap = guard_answer(raw)
    if status not in (200, 400, 401, 413):
        raise AssertionError(f"the guard answered {status}")
    if passed is not None and passed > cap:
        raise AssertionError(f"{passed} bytes passed a cap of {cap}")


HANDLERS: tuple[Callable[[bytes], None], ...] = (
    *(_model(m) for m in MODELS),
    _filters,
    _probe,
    _archive,
    _guard,
)


def TestOneInput(data: bytes) -> None:
    if data:
        HANDLERS[data[0] % len(HANDLERS)](data[1:])


if __name__ == "__main__":
    fuzz(TestOneInput)

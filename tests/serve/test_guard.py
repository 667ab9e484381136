"""The request guard (serve/api/guard.py): credentials and Content-Length are checked before a
body is read, streamed bodies are cut at the route's cap. Against a real uvicorn server on a
raw socket: an anonymous 800 MB upload is answered 401 before its body is sent."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from tests.support.api import ApiEnv, api_env

from facesearch.serve.api.security import SESSION_COOKIE

UPLOAD = "/api/v1/ingest/jobs/upload"
HUGE = 800 * 1024 * 1024


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("guard"), passwords=("admin",)) as e:
        yield e


@pytest.fixture(scope="module")
def server(env: ApiEnv) -> Iterator[tuple[str, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        env.app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="guard-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(10)


def raw_request(
    address: tuple[str, int], head: str, body_sent: bytes = b"", wait: float = 10.0
) -> tuple[bytes, int]:
    """Send the request head and a little of the body (never all of it), then read the
    answer; returns (answer, body bytes sent)."""
    with socket.create_connection(address, timeout=wait) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n")
        sock.sendall(body_sent)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer, len(body_sent)


def upload_head(port: int, length: int, extra: str = "") -> str:
    return (
        f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {length}\r\n{extra}"
    )


def test_anonymous_huge_upload_is_401_before_the_body(
    server: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where a body would be spooled
    started = time.monotonic()
    answer, sent = raw_request(server, upload_head(server[1], HUGE), b"--xyz\r\n" + b"x" * 4096)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"application/problem+json" in answer and b"www-authenticate: Bearer" in answer
    assert sent < 5000  # answered with 800 MB still unsent
    assert time.monotonic() - started < 5
    assert list(spool.iterdir()) == []  # nothing spooled


def test_declared_length_over_the_cap_is_413_before_the_body(
    env: ApiEnv, server: tuple[str, int]
) -> None:
    cookie = env.client("admin").cookies[SESSION_COOKIE]
    over = env.settings.max_archive_bytes + 1024 * 1024
    head = upload_head(server[1], over, f"Cookie: {SESSION_COOKIE}={cookie}\r\n")
    answer, sent = raw_request(server, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent == 0
    # within the cap, the same credentials get as far as the route (which reads the body)
    small = f"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Length: {over}\r\n"
    assert raw_request(server, small + f"Cookie: {SESSION_COOKIE}={cookie}\r\n")[0].startswith(
        b"HTTP/1.1 413"
    )


def test_a_forged_or_ended_session_cookie_is_401_before_the_body(
    server: tuple[str, int],
) -> None:
    head = upload_head(server[1], HUGE, f"Cookie: {SESSION_COOKIE}=forged.cookie\r\n")
    answer, _ = raw_request(server, head)
    assert answer.startswith(b"HTTP/1.1 401")
    head = upload_head(server[1], HUGE, "Authorization: Basic YWRtaW46eA==\r\n")
    assert raw_request(server, head)[0].startswith(b"HTTP/1.1 401")
    head = upload_head(server[1], HUGE, "Authorization: Bearer fst_not-a-token\r\n")
    assert raw_request(server, head)[0].startswith(b"HTTP/1.1 401")


def test_streamed_body_is_cut_at_the_cap(env: ApiEnv) -> None:
    client = env.client("admin")
    cap = env.settings.max_request_bytes
    consumed = 0

    def body() -> Iterator[bytes]:
        nonlocal consumed
        for _ in range(4 * cap // 65536):
            consumed += 65536
            yield b" " * 65536

    r = client.post("/api/v1/cases", content=body(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert str(cap) in r.json()["detail"]
    # a small streamed body goes through to the route (here: invalid fields, 422)
    r = client.post(
        "/api/v1/cases", content=iter([b"{}"]), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422


def test_requests_without_a_body_are_untouched(env: ApiEnv) -> None:
    client = env.client()
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/cases").status_code == 401  # the route's own refusal
    # login takes a body without credentials (it is public)
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong user name or password"


def test_a_probe_or_a_scan_over_the_json_cap_reaches_its_route(env: ApiEnv) -> None:
    """Finding a probe's faces takes the photo a search takes (10 MiB, not the 1 MiB of a JSON
    body), and an authorisation's scan its own 10 MiB: the guard caps each route by what it
    takes. A 3 MiB body that is not an image reaches the route, which refuses it in words (415,
    or a refusal of the case), never the guard's 413."""
    token = env.service.governance.create_token("inv", "inv", "guard")[0]
    client = env.client()
    client.headers["Authorization"] = f"Bearer {token}"
    big = b"x" * (3 * 1024 * 1024)
    assert env.settings.max_request_bytes < len(big) < env.settings.max_probe_bytes
    r = client.post("/api/v1/cases/C-1/probe-faces", files={"probe": ("p.jpg", big, "image/jpeg")})
    assert r.status_code != 413, r.text
    r = client.post(
        "/api/v1/cases/C-1/authorisations",
        data={"kind": "judicial_warrant", "authority": "court", "reference": "W-1"},
        files={"scan": ("warrant.pdf", b"%PDF-1.4\n" + big, "application/pdf")},
    )
    assert r.status_code != 413, r.text

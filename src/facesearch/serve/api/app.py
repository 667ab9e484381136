"""The FastAPI application factory. No work at import time and no module-level state: all of
it (settings, the service, sessions, the login limiter) lives on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from facesearch import __version__
from facesearch.app import Service
from facesearch.serve.api.errors import install_error_handlers
from facesearch.serve.api.routers import (
    audit,
    auth,
    cases,
    gallery,
    health,
    ingest,
    media,
    persons,
    policy,
    removals,
    searches,
    users,
)
from facesearch.serve.api.security import (
    LoginRateLimiter,
    SecurityHeadersMiddleware,
    SessionStore,
)
from facesearch.settings import Settings

API_PREFIX = "/api/v1"


def default_static_dir() -> Path:
    return Path(str(resources.files("facesearch.serve") / "web" / "static"))


class SinglePageApp(StaticFiles):
    """Static files, answering ``index.html`` for any other path outside ``/api/`` (the web
    app routes on the client)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except StarletteHTTPException as exc:
            if exc.status_code != 404 or path.startswith("api/") or path == "api":
                raise
            return await super().get_response("index.html", scope)


def create_app(
    settings: Settings,
    *,
    service: Service | None = None,
    static_dir: Path | None = None,
) -> FastAPI:
    """The server for ``settings``; refuses to build outside development with a default or
    missing secret. ``service`` may be given (tests share one); else one is opened at startup
    and closed at shutdown."""
    settings.check_for_start()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.service is None
        if owned:
            app.state.service = Service.open(settings)
        _set_session_timeouts(app)
        try:
            yield
        finally:
            if owned:
                app.state.service.close()
                app.state.service = None

    app = FastAPI(
        title="facesearch",
        version=__version__,
        description="Face search for accountable investigations. See docs/api.md.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.sessions = SessionStore(timedelta(minutes=30), timedelta(hours=12))
    app.state.login_limiter = LoginRateLimiter(settings.login_failures_per_minute, 60.0)
    if service is not None:
        _set_session_timeouts(app)
    install_error_handlers(app)
    for module in (
        health,
        auth,
        users,
        gallery,
        ingest,
        cases,
        searches,
        media,
        persons,
        audit,
        removals,
        policy,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.add_middleware(SecurityHeadersMiddleware)
    root = static_dir or default_static_dir()
    app.mount("/", SinglePageApp(directory=root, html=True, check_dir=False), name="web")
    return app


def _set_session_timeouts(app: FastAPI) -> None:
    """Session timeouts from the policy in force."""
    service = app.state.service
    access = service.admin.show_policy(service.accounts.local_operator()).access
    app.state.sessions.idle = timedelta(minutes=access.session_idle_minutes)
    app.state.sessions.absolute = timedelta(hours=access.session_absolute_hours)

"""The FastAPI application factory. No work at import time and no module-level state: all of
it (settings, the service, sessions, the login limiter, the anonymous refusal log) lives on
``app.state``; sessions and failed-login counts are kept in the service's catalog.

Middleware, outermost first: trusted proxy headers (the client's address and scheme), the
security headers, then the request guard (credentials and size before any body is read)."""

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

from facesearch.app import Service
from facesearch.serve.api.errors import install_error_handlers
from facesearch.serve.api.guard import RequestGuard
from facesearch.serve.api.openapi import install_openapi
from facesearch.serve.api.proxy import TrustedProxyMiddleware
from facesearch.serve.api.refusals import RefusalLog
from facesearch.serve.api.routers import (
    audit,
    auth,
    authorisations,
    cases,
    compare,
    gallery,
    health,
    identifications,
    incidents,
    ingest,
    media,
    model_migration,
    models,
    persons,
    policy,
    probes,
    profiles,
    removals,
    reports,
    searches,
    standing,
    users,
)
from facesearch.serve.api.security import (
    LoginRateLimiter,
    SecurityHeadersMiddleware,
    SessionStore,
)
from facesearch.settings import Settings

API_PREFIX = "/api/v1"
API_VERSION = "1"  # the document's version; the server's own is told only to signed-in callers


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
        app.state.service.authorisations.enforce_due()  # urgent-use deadlines passed meanwhile
        try:
            yield
        finally:
            app.state.refusals.flush()  # the counts of the last window
            if owned:
                app.state.service.close()
                app.state.service = None

    app = FastAPI(
        title="facesearch",
        version=API_VERSION,
        description="Face search for accountable investigations. See docs/api.md.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = service
    # sessions and failed-login counts: in the catalog, shared with every other server
    # process on it (the service is opened at start-up, so its tables are looked up at use)
    app.state.sessions = SessionStore(
        timedelta(minutes=30),
        timedelta(hours=12),
        secret=settings.secret_key.get_secret_value(),
        records=lambda: app.state.service.web_state.sessions,
    )
    app.state.login_limiter = LoginRateLimiter(
        settings.login_failures_per_minute,
        60.0,
        address_limit=settings.login_failures_per_address,
        counters=lambda: app.state.service.web_state.logins,
    )
    app.state.refusals = RefusalLog(
        lambda actor, action, details: app.state.service.governance.record(actor, action, details),
        settings.refusal_summary_seconds,
    )
    if service is not None:
        _set_session_timeouts(app)
    install_error_handlers(app)
    for module in (
        health,
        auth,
        users,
        gallery,
        model_migration,  # before any /models/{name} route: /models/migration is its own
        ingest,
        cases,
        searches,
        standing,
        compare,
        probes,
        identifications,
        incidents,
        reports,
        authorisations,
        media,
        persons,
        audit,
        models,
        removals,
        policy,
        profiles,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    install_openapi(app)
    app.add_middleware(RequestGuard)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies)
    root = static_dir or default_static_dir()
    app.mount("/", SinglePageApp(directory=root, html=True, check_dir=False), name="web")
    return app


def _set_session_timeouts(app: FastAPI) -> None:
    """Session timeouts from the policy in force."""
    service = app.state.service
    access = service.admin.show_policy(service.accounts.local_operator()).access
    app.state.sessions.idle = timedelta(minutes=access.session_idle_minutes)
    app.state.sessions.absolute = timedelta(hours=access.session_absolute_hours)

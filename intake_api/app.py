"""The FastAPI application: `uvicorn intake_api.app:create_app --factory`.

API under /api/v1, interactive docs at /docs, Open311 under /open311 (when its module
exists), health at /healthz and the built static site at /.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from . import errors
from .auth import TokenStore
from .catalog import Catalog, load_catalog
from .clock import Clock
from .deps import Runtime
from .idempotency import IdempotencyRecords
from .limits import BodyLimitMiddleware, FailureLimiter
from .routes import actions, health, queues, reference, rulings, site, tickets, warnings
from .scheduler import Scheduler
from .server import ApiSettings
from .service import Service
from .settings import Settings
from .views import Publisher

log = logging.getLogger(__name__)

DESCRIPTION = """\
Intake and dispatch API of the 12345 citizen hotline (12345·首发).

* File a ticket (`POST /api/v1/tickets`, operator token): it is dispatched by the duty list
  in milliseconds, with the rule that decided it, and answered with a private tracking code.
* Follow it (`GET /api/v1/tickets/{id}`): the public (redacted) view for anyone, the
  citizen's view with `X-Tracking-Code`, the full view with a staff token.
* Move it on (`POST /api/v1/tickets/{id}/actions`): one workflow step per call.

Tokens: `shoufa token create --role operator|department|supervisor|editor|admin`.
Errors are always `{"error": {"code": "...", "message": "..."}}`.
"""

# Operations that work without a token too (public or citizen access).
OPTIONAL_AUTH = {
    ("/api/v1/tickets/{ticket_id}", "get"),
    ("/api/v1/tickets/{ticket_id}/actions", "post"),
}


def build_runtime(
    settings: ApiSettings, clock: Clock | None, catalog: Catalog | None = None
) -> Runtime:
    service = Service(
        data_dir=settings.data_dir,
        catalog=catalog or load_catalog(settings.catalog_path),
        clock=clock,
        durable=settings.durable,
        background_links=True,
    )
    now = service.clock.now
    records = IdempotencyRecords(
        settings.secrets_path / "idempotency",
        clock=service.clock,
        ttl_hours=settings.idempotency_ttl_hours,
        durable=settings.durable,
    )
    return Runtime(
        settings=settings,
        service=service,
        tokens=TokenStore(settings.secrets_path, clock=service.clock),
        records=records,
        publisher=Publisher(
            catalog=service.catalog, store=service.store, time_budget=settings.redaction_seconds
        ),
        limiter=FailureLimiter(
            limit=settings.tracking_failures,
            window_seconds=settings.tracking_window_seconds,
            now=now,
        ),
        scheduler=Scheduler(service, interval=settings.tick_seconds, records=records),
        writers=CapacityLimiter(settings.write_threads),
    )


def _include_optional(app: FastAPI, module: str, *, prefix: str) -> None:
    """Mount a router that another part of the project provides, once it exists."""
    if importlib.util.find_spec(module) is None:
        return
    app.include_router(importlib.import_module(module).router, prefix=prefix)


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, catalog: Catalog | None = None
) -> FastAPI:
    """Build the app over the data folder of `settings` (default: SHOUFA_* environment).

    `clock` and an already loaded `catalog` may be injected (tests, embedding).
    """
    rt = build_runtime(ApiSettings.of(settings), clock, catalog)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A worker that replaces a killed one journals what the dead one had stored.
        rt.service.store.replay_pending()
        rt.records.load()  # the live Idempotency-Key records, from their log
        rt.service.index.ensure()
        # Link-backs a stopped worker had not written (in the background: it reads tickets).
        threading.Thread(target=rt.service.reconcile_links, name="reconcile-links", daemon=True).start()
        rt.scheduler.start()
        try:
            yield
        finally:
            rt.scheduler.stop()
            rt.service.links.close()  # what is queued is written before the index is saved
            rt.service.index.save()  # the next start replays only what follows
            rt.records.close()

    app = FastAPI(
        title="12345·首发 intake API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = rt
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, limit=rt.settings.max_body_bytes)

    app.include_router(health.router)
    app.include_router(tickets.router)
    app.include_router(actions.router)
    app.include_router(reference.router)
    app.include_router(queues.router)
    app.include_router(rulings.router)
    app.include_router(warnings.router)
    # Open311 GeoReport v2 (JSON and XML) lives in intake_api/open311.py, exposing `router`.
    _include_optional(app, "intake_api.open311", prefix="/open311")
    app.include_router(site.router)  # last: it answers every other GET path

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, with token-optional operations marked as such."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for path, method in OPTIONAL_AUTH:
        op = schema.get("paths", {}).get(path, {}).get(method)
        if op and op.get("security"):
            op["security"] = [{}, *op["security"]]
    app.openapi_schema = schema
    return schema

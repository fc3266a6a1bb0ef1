"""Everything the Open311 routes need, built once per app from its runtime."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from anyio import CapacityLimiter
from fastapi import Depends, Request

from ..catalog import Catalog
from ..deps import RuntimeDep
from ..limits import FailureLimiter
from ..service import Service
from .finder import RequestFinder
from .keys import ApiKeyStore

_BUILD_LOCK = threading.Lock()


@dataclass
class Open311:
    service: Service
    keys: ApiKeyStore
    limiter: FailureLimiter
    finder: RequestFinder
    jurisdiction: str  # the one jurisdiction_id this endpoint serves
    changeset: str  # when the service list last changed (the catalog files)
    writers: CapacityLimiter  # the API's intake threads (see routes/tickets.py)

    @property
    def catalog(self) -> Catalog:
        return self.service.catalog


def jurisdiction_of(catalog: Catalog) -> str:
    """The city's site host without `www.`, as the standard suggests for jurisdiction_id."""
    host = urlsplit(catalog.city.site_url).hostname or catalog.city.id_prefix.lower()
    return host.removeprefix("www.")


def changeset_of(catalog: Catalog) -> str:
    """The latest change of the catalog files: services and definitions come from them."""
    stamps = [p.stat().st_mtime for p in catalog.root.glob("*.yaml")]
    when = datetime.fromtimestamp(max(stamps, default=0), UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def build(rt) -> Open311:
    service = rt.service
    return Open311(
        service=service,
        keys=ApiKeyStore(rt.settings.secrets_path, clock=service.clock),
        limiter=FailureLimiter(
            limit=rt.settings.tracking_failures,
            window_seconds=rt.settings.tracking_window_seconds,
            now=service.clock.now,
        ),
        finder=RequestFinder(store=service.store, publisher=rt.publisher),
        jurisdiction=jurisdiction_of(service.catalog),
        changeset=changeset_of(service.catalog),
        writers=rt.writers,
    )


def get_open311(request: Request, rt: RuntimeDep) -> Open311:
    state = request.app.state
    ctx = getattr(state, "open311", None)
    if ctx is None:
        with _BUILD_LOCK:
            ctx = getattr(state, "open311", None)
            if ctx is None:
                ctx = state.open311 = build(rt)
    return ctx


Open311Dep = Annotated[Open311, Depends(get_open311)]

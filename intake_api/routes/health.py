"""Liveness for load balancers and the newcomer's first curl, and whether the public
site keeps up with the store (for the operators' alerts)."""

from __future__ import annotations

import importlib.util

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..deps import Runtime, RuntimeDep
from ..limits import StrictRoute

router = APIRouter(tags=["health"], route_class=StrictRoute)

# A change not public after this long makes the status "degraded" (the goal is 1 s;
# a full build's catch-up and a burst of changes may take a few).
LAG_ALERT_SECONDS = 60.0


class Publishing(BaseModel):
    watcher: bool = Field(description="a watcher (`shoufa serve` or `shoufa watch`) rebuilds this site on every change")
    up_to_date: bool = Field(description="every stored change is on the public site")
    waiting_s: float | None = Field(description="how long the oldest change not yet public has waited, in seconds")
    failures: int = Field(description="the watcher's builds that failed in a row (0: the last one worked)")
    failing_since: str | None = Field(description="UTC time of the first of those failures")
    full_build: str = Field(description='"none", "due", "running" (changes still go public meanwhile) or "failed"')


class Health(BaseModel):
    status: str = Field(description='"ok", or "degraded" when builds fail or a change has waited over a minute')
    open_tickets: int
    scheduler_leader: bool
    site: bool
    publishing: Publishing | None = Field(None, description="the public site against the store (None without the generator)")


@router.get("/healthz", response_model=Health, summary="Health check")
def healthz(rt: RuntimeDep) -> Health:
    index = rt.service.index
    publishing = _publishing(rt)
    degraded = publishing is not None and (
        publishing.failures > 0 or (publishing.waiting_s or 0.0) > LAG_ALERT_SECONDS
    )
    return Health(
        status="degraded" if degraded else "ok",
        open_tickets=index.open_count(),
        scheduler_leader=rt.scheduler.leader,
        site=(rt.settings.site_dir / "index.html").exists(),
        publishing=publishing,
    )


def _publishing(rt: Runtime) -> Publishing | None:
    # The generator is a separate package: an API installed without it has no site.
    if importlib.util.find_spec("generator.status") is None:
        return None
    from generator.config import BuildConfig
    from generator.status import site_status

    return Publishing(**site_status(BuildConfig.from_settings(rt.settings), now=rt.service.clock.now()))

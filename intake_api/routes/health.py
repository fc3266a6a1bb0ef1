"""Liveness for load balancers and the newcomer's first curl."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import RuntimeDep
from ..limits import StrictRoute

router = APIRouter(tags=["health"], route_class=StrictRoute)


class Health(BaseModel):
    status: str
    open_tickets: int
    scheduler_leader: bool
    site: bool


@router.get("/healthz", response_model=Health, summary="Health check")
def healthz(rt: RuntimeDep) -> Health:
    index = rt.service.index
    return Health(
        status="ok",
        open_tickets=index.open_count(),
        scheduler_leader=rt.scheduler.leader,
        site=(rt.settings.site_dir / "index.html").exists(),
    )

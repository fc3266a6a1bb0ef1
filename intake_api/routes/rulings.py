"""Arbitration rulings turned into duty-list entries (案例推广), with who and why."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import PrincipalDep, ServiceDep
from ..errors import responses
from ..limits import StrictRoute

router = APIRouter(prefix="/api/v1", tags=["staff"], route_class=StrictRoute)


class Ruling(BaseModel):
    entry: str
    matter: str
    category: str
    keywords: list[str]
    area: str | None
    department: str
    ticket: str
    by: str
    reason: str
    at: datetime


@router.get(
    "/rulings", response_model=list[Ruling], responses=responses(401), summary="Precedent rulings"
)
def rulings(_: PrincipalDep, service: ServiceDep) -> list[Ruling]:
    out = []
    for e in service.dispatcher.precedents():
        r = e.ruling or {}
        out.append(
            Ruling(
                entry=e.id,
                matter=e.matter,
                category=e.category,
                keywords=list(e.keywords),
                area=e.area,
                department=e.department,
                ticket=r.get("ticket", ""),
                by=r.get("by", ""),
                reason=r.get("reason", ""),
                at=r.get("at"),
            )
        )
    return out

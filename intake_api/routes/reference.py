"""Reference data from the catalog: departments, areas, categories, channels, duty list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from ..catalog import Area, Channel, Department
from ..deps import CatalogDep, ServiceDep
from ..limits import StrictRoute

router = APIRouter(prefix="/api/v1", tags=["reference"], route_class=StrictRoute)


class CategoryOut(BaseModel):
    code: str
    name: str
    description: str
    parent: str | None
    priority: str
    is_leaf: bool
    keywords: list[str]


class DutyEntryOut(BaseModel):
    id: str
    matter: str
    category: str
    keywords: list[str]
    area: str | None
    department: str
    basis: str
    precedent: bool
    ruling: dict[str, Any] | None = None


@router.get("/departments", response_model=list[Department], summary="Handling departments")
def departments(catalog: CatalogDep) -> list[Department]:
    return catalog.departments


@router.get("/catalog/areas", response_model=list[Area], summary="Counties, districts and zones")
def areas(catalog: CatalogDep) -> list[Area]:
    return catalog.areas


@router.get(
    "/catalog/categories",
    response_model=list[CategoryOut],
    summary="Matter categories (flattened tree)",
)
def categories(catalog: CatalogDep) -> list[CategoryOut]:
    return [
        CategoryOut(
            code=c.code,
            name=c.name,
            description=c.description,
            parent=c.parent,
            priority=c.priority,
            is_leaf=c.is_leaf,
            keywords=list(c.keywords),
        )
        for c in catalog.categories.values()
    ]


@router.get("/catalog/channels", response_model=list[Channel], summary="Intake channels")
def channels(catalog: CatalogDep) -> list[Channel]:
    return catalog.channels


@router.get(
    "/catalog/duty-list", response_model=list[DutyEntryOut], summary="Duty list with precedents"
)
def duty_list(service: ServiceDep) -> list[DutyEntryOut]:
    """The duty list (职责清单) and the entries made from arbitration rulings (案例推广).
    Who made a ruling is internal (see /api/v1/rulings); why is public."""
    out = []
    precedents = service.dispatcher.precedents()
    for e in [*service.catalog.duty_list, *precedents]:
        ruling = {k: v for k, v in (e.ruling or {}).items() if k != "by"} or None
        out.append(
            DutyEntryOut(
                id=e.id,
                matter=e.matter,
                category=e.category,
                keywords=list(e.keywords),
                area=e.area,
                department=e.department,
                basis=e.basis,
                precedent=e.ruling is not None,
                ruling=ruling,
            )
        )
    return out

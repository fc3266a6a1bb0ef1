"""Work queues of open tickets for staff, from the open-ticket index."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from ..deps import PrincipalDep, ServiceDep
from ..errors import ApiError, responses
from ..limits import StrictRoute
from ..model import Role
from ..views import Queue, queue_item

router = APIRouter(prefix="/api/v1", tags=["staff"], route_class=StrictRoute)

OpenStatus = Literal["dispatched", "returned", "in_progress", "resolved"]


def _whole(value: object) -> object:
    """Query integers as digits only ("1.0" is not an integer here)."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,7}", value):
        raise ValueError("must be a whole number")
    return value


Count = Annotated[int, BeforeValidator(_whole)]


@router.get(
    "/queues",
    response_model=Queue,
    responses=responses(401, 403, 422),
    summary="Open tickets by department",
)
def queues(
    principal: PrincipalDep,
    service: ServiceDep,
    department: Annotated[str | None, Query(max_length=64)] = None,
    status: OpenStatus | None = None,
    limit: Annotated[Count, Query(ge=1, le=1000)] = 100,
    offset: Annotated[Count, Query(ge=0, le=1_000_000)] = 0,
) -> Queue:
    """Open tickets sorted by close deadline. A department token sees only its own queue."""
    if principal.role == Role.DEPARTMENT:
        if department not in (None, principal.actor.department):
            raise ApiError(
                403, "forbidden", "a department token sees only its own queue", field="department"
            )
        department = principal.actor.department
    elif department is not None and department not in service.catalog.department_by_code:
        raise ApiError(
            422,
            "validation_error",
            f"department: unknown department {department!r}",
            field="department",
        )
    index = service.index
    index.refresh()
    items = index.entries(department=department, status=status)
    return Queue(
        department=department,
        status=status,
        total=len(items),
        items=[queue_item(e) for e in items[offset : offset + limit]],
    )

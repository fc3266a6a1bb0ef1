"""Early warnings (多发/新发/爆发) with their tickets: staff only, never on the public site."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import PrincipalDep, RuntimeDep
from ..errors import ApiError, responses
from ..limits import StrictRoute
from ..model import Role

router = APIRouter(prefix="/api/v1", tags=["staff"], route_class=StrictRoute)
STAFF = frozenset({Role.SUPERVISOR, Role.EDITOR, Role.ADMIN, Role.OPERATOR})


@router.get("/warnings", responses=responses(401, 403), summary="Early warnings with their tickets (staff)")
def warnings(principal: PrincipalDep, rt: RuntimeDep) -> dict[str, Any]:
    """The warning list the last build computed, with the ids of the tickets that raised each."""
    if principal.role not in STAFF:
        raise ApiError(403, "forbidden", f"role '{principal.role}' may not read the early warnings")
    from generator.config import BuildConfig
    from generator.warnings import staff_warnings

    return staff_warnings(BuildConfig.from_settings(rt.settings))

"""Workflow steps on a ticket."""

from __future__ import annotations

from fastapi import APIRouter

from ..access import act_on_ticket
from ..deps import ClientIp, MaybePrincipal, RuntimeDep, TicketId, TrackingCode
from ..errors import responses
from ..limits import StrictRoute
from ..views import ActionAnswer
from ..workflow import Action

router = APIRouter(prefix="/api/v1/tickets", tags=["workflow"], route_class=StrictRoute)


@router.post(
    "/{ticket_id}/actions",
    response_model=ActionAnswer,
    responses=responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 507),
    summary="Take one workflow step",
)
def post_action(
    ticket_id: TicketId,
    action: Action,
    rt: RuntimeDep,
    principal: MaybePrincipal,
    ip: ClientIp,
    tracking_code: TrackingCode = None,
) -> ActionAnswer:
    """One step, allowed to the right role in the right state (409 names the state and the
    actions allowed). Departments act on their own tickets; the citizen, with his
    tracking code, may only `rate` and `reopen`."""
    return act_on_ticket(
        service=rt.service,
        limiter=rt.limiter,
        ticket_id=ticket_id,
        action=action,
        principal=principal,
        code=tracking_code,
        ip=ip,
    )

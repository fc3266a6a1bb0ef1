"""Tickets: intake and reading."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from ..access import view_ticket
from ..deps import (
    CatalogDep,
    ClientIp,
    IdempotencyKey,
    IntakePrincipal,
    MaybePrincipal,
    RuntimeDep,
    TicketId,
    TrackingCode,
)
from ..errors import responses
from ..idempotency import file_ticket
from ..limits import StrictRoute
from ..model import TicketCreate
from ..views import IntakeAnswer, TicketView, intake_answer

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"], route_class=StrictRoute)


@router.post(
    "",
    status_code=201,
    response_model=IntakeAnswer,
    responses=responses(400, 401, 403, 413, 415, 422, 503, 507),
    summary="File a ticket from any channel",
)
async def create_ticket(
    body: TicketCreate,
    rt: RuntimeDep,
    catalog: CatalogDep,
    principal: IntakePrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> IntakeAnswer:
    """Validate, dispatch by the duty list and store a new ticket; answer with its tracking code.

    A retry with the same `Idempotency-Key` and body answers the same and files nothing.
    """
    # The blocking part (locks, files, syncs) takes one trip to the thread pool; a plain
    # `def` route would also have its answer validated there, in a second trip.
    ticket, code, replayed = await run_in_threadpool(
        file_ticket,
        rt.service,
        rt.records,
        body,
        actor=principal.actor,
        scope=principal.token_id,
        key=idempotency_key,
    )
    response.headers["Location"] = f"/api/v1/tickets/{ticket.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return intake_answer(ticket, code, catalog)


@router.get(
    "/{ticket_id}",
    response_model=TicketView,
    responses=responses(401, 404, 422, 429, 503),
    summary="Read a ticket (public, citizen or staff view)",
)
def get_ticket(
    ticket_id: TicketId,
    rt: RuntimeDep,
    principal: MaybePrincipal,
    ip: ClientIp,
    tracking_code: TrackingCode = None,
):
    """Anyone: the redacted public view (404 for confidential or hidden tickets).
    With `X-Tracking-Code`: the citizen's view and his actions. With a token: the full view."""
    return view_ticket(
        service=rt.service,
        publisher=rt.publisher,
        limiter=rt.limiter,
        ticket_id=ticket_id,
        principal=principal,
        code=tracking_code,
        ip=ip,
    )

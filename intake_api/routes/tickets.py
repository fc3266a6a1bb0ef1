"""Tickets: intake and reading."""

from __future__ import annotations

from functools import partial

from anyio import to_thread
from fastapi import APIRouter, Response

from ..access import view_ticket
from ..deps import (
    ClientIp,
    IdempotencyKey,
    IntakeDep,
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
    caller: IntakeDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> IntakeAnswer:
    """Validate, dispatch by the duty list and store a new ticket; answer with its tracking code.

    A retry with the same `Idempotency-Key` and body answers the same and files nothing.
    """
    # The blocking part (locks, files, syncs) takes one trip to a thread; a plain `def`
    # route would also have its answer validated there, in a second trip. The threads
    # are a few (`write_threads`), not the default pool's 40: they share Python's lock,
    # and 25 intakes in flight on 25 threads spent their time handing it over (measured
    # with 2 workers and 50 clients, five runs each: 587 tickets/s at the median with 40
    # threads, 667 with 4, and 2.4 instead of 2.7 ms of CPU per ticket). The intakes
    # that wait for a thread wait on the event loop, which costs nothing.
    rt, principal = caller.rt, caller.principal
    ticket, code, replayed = await to_thread.run_sync(
        partial(
            file_ticket,
            rt.service,
            rt.records,
            body,
            actor=principal.actor,
            scope=principal.token_id,
            key=idempotency_key,
        ),
        limiter=rt.writers,
    )
    response.headers["Location"] = f"/api/v1/tickets/{ticket.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return intake_answer(ticket, code, rt.service.catalog)


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

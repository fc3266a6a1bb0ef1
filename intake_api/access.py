"""Who sees what of a ticket, and who acts on it: token holders, the citizen, the public."""

from __future__ import annotations

import hmac
from typing import Any

from .auth import Principal
from .errors import ApiError
from .limits import FailureLimiter
from .model import Actor, Role, Ticket
from .service import Service
from .store import TicketNotFound
from .views import (
    ActionAnswer,
    CitizenView,
    PublicView,
    Publisher,
    StaffView,
    action_answer,
    citizen_view,
    staff_view,
)
from .workflow import hash_tracking_code

CITIZEN = Actor(role=Role.CITIZEN)
NOT_FOUND = ApiError(404, "not_found", "no such ticket")


def sees_all(principal: Principal, ticket: Ticket) -> bool:
    """Staff roles see every ticket in full; a department only the ones it holds."""
    if principal.role == Role.DEPARTMENT:
        return principal.actor.department == ticket.state.department
    return True


def check_code(ticket: Ticket, code: str) -> bool:
    """Compare the code's hash with the stored one in constant time."""
    stored = ticket.state.private.tracking_code_sha256 or ""
    return hmac.compare_digest(hash_tracking_code(code), stored)


def citizen_ticket(
    service: Service, limiter: FailureLimiter, ticket_id: str, code: str, ip: str
) -> Ticket:
    """The ticket if `code` is its tracking code; failures count against the client IP."""
    limiter.check(ip)
    try:
        ticket = service.get(ticket_id)
    except TicketNotFound:
        limiter.fail(ip)
        raise NOT_FOUND from None
    if not check_code(ticket, code):
        limiter.fail(ip)
        raise ApiError(
            401,
            "bad_tracking_code",
            "the tracking code does not match this ticket",
            field="X-Tracking-Code",
        )
    return ticket


def view_ticket(
    *,
    service: Service,
    publisher: Publisher,
    limiter: FailureLimiter,
    ticket_id: str,
    principal: Principal | None,
    code: str | None,
    ip: str,
) -> PublicView | CitizenView | StaffView:
    if principal is None and code is not None:
        ticket = citizen_ticket(service, limiter, ticket_id, code, ip)
        return citizen_view(ticket, publisher.public(ticket), service.catalog)
    try:
        ticket = service.get(ticket_id)
    except TicketNotFound:
        raise NOT_FOUND from None
    if principal is not None and sees_all(principal, ticket):
        return staff_view(ticket, publisher.public(ticket), principal.role)
    public = publisher.public(ticket)
    if public is None:  # confidential or hidden: as if it did not exist
        raise NOT_FOUND
    return PublicView(ticket=public)


def act_on_ticket(
    *,
    service: Service,
    limiter: FailureLimiter,
    ticket_id: str,
    action: Any,
    principal: Principal | None,
    code: str | None,
    ip: str,
) -> ActionAnswer:
    if principal is not None:
        actor = principal.actor
    elif code is not None:
        citizen_ticket(service, limiter, ticket_id, code, ip)
        actor = CITIZEN
    else:
        raise ApiError(
            401,
            "unauthorized",
            "send an API token or the citizen's X-Tracking-Code",
            headers={"WWW-Authenticate": "Bearer"},
        )
    ticket, before = service.act_step(ticket_id, action, actor=actor)
    return action_answer(before, ticket, actor.role)

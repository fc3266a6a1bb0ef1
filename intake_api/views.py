"""What the API answers, one model per audience.

- `IntakeAnswer`: the channel that filed a ticket (id, tracking code, dispatch, deadlines);
- `PublicView`: anyone; the generator's `TicketPublic`, the same redacted view the site shows;
- `CitizenView`: the citizen holding the tracking code; his ticket's progress and the
  actions open to him, even for a confidential ticket;
- `StaffView`: hotline, departments (their own tickets), editors; the whole state with
  private fields and the raw event log.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from generator.public import TicketPublic, make_public
from generator.redact import RedactionError, Redactor

from .catalog import Catalog
from .errors import ApiError
from .index import OpenEntry
from .model import STATUS_LABELS, Event, Role, Status, Ticket, TicketState
from .store import Store
from .workflow import allowed_actions

log = logging.getLogger(__name__)


class DepartmentRef(BaseModel):
    code: str
    name: str


class DispatchInfo(BaseModel):
    rule: dict[str, Any] = Field(
        description="kind (duty, precedent, category, nearest, hotline), entry, matter, basis"
    )
    reason: str = Field(description="Why this department, as published in the timeline")


class DeadlinesOut(BaseModel):
    sign_for: datetime
    on_site: datetime | None = None
    close: datetime


class IntakeAnswer(BaseModel):
    id: str
    tracking_code: str = Field(
        description="Private: lets the citizen follow, rate and reopen his ticket"
    )
    status: str
    received_at: datetime
    department: DepartmentRef
    dispatch: DispatchInfo
    deadlines: DeadlinesOut
    duplicate_of: str | None = Field(None, description="The open ticket this one repeats, if any")
    url: str


class PublicView(BaseModel):
    view: Literal["public"] = "public"
    ticket: TicketPublic


class CitizenView(BaseModel):
    view: Literal["citizen"] = "citizen"
    id: str
    status: str
    status_label: str
    department: DepartmentRef | None
    deadlines: DeadlinesOut | None
    published: bool = Field(description="Whether the ticket appears on the public site")
    ticket: TicketPublic | None = Field(
        description="The public view (None for confidential or hidden tickets)"
    )
    allowed_actions: list[str]


class StaffView(BaseModel):
    view: Literal["staff"] = "staff"
    id: str
    state: TicketState
    events: list[Event]
    allowed_actions: list[str]
    published: bool
    ticket: TicketPublic | None = Field(
        description="The public view as the site shows it (None if not published)"
    )


TicketView = Annotated[PublicView | CitizenView | StaffView, Field(discriminator="view")]


class EventRef(BaseModel):
    seq: int
    type: str
    at: datetime


class ActionAnswer(BaseModel):
    id: str
    status: str
    status_label: str
    department: str | None
    events: list[EventRef] = Field(description="The events this action appended")
    allowed_actions: list[str] = Field(description="What the caller may do next")


class QueueItem(BaseModel):
    id: str
    status: str
    status_label: str
    department: str | None
    category: str | None
    area: str | None
    priority: str
    received_at: datetime
    sign_for: datetime | None
    close: datetime | None
    supervision_level: int
    overdue: list[str]
    extension_pending: bool
    confidential: bool
    hidden: bool
    summary: str


class Queue(BaseModel):
    department: str | None
    status: str | None
    total: int
    items: list[QueueItem]


def _dept(catalog: Catalog, code: str | None) -> DepartmentRef | None:
    d = catalog.department_by_code.get(code) if code else None
    return DepartmentRef(code=d.code, name=d.name) if d else None


def _deadlines(state: TicketState) -> DeadlinesOut | None:
    dl = state.deadlines
    return DeadlinesOut(sign_for=dl.sign_for, on_site=dl.on_site, close=dl.close) if dl else None


def intake_answer(ticket: Ticket, tracking_code: str, catalog: Catalog) -> IntakeAnswer:
    st = ticket.state
    dup = next((ln["ticket"] for ln in st.links if ln["relation"] == "duplicate_of"), None)
    return IntakeAnswer(
        id=ticket.id,
        tracking_code=tracking_code,
        status=str(st.status),
        received_at=st.received_at,
        department=_dept(catalog, st.department),
        dispatch=DispatchInfo(rule=dict(st.dispatch_rule), reason=st.dispatch_reason),
        deadlines=_deadlines(st),
        duplicate_of=dup,
        url=f"/api/v1/tickets/{ticket.id}",
    )


def citizen_view(ticket: Ticket, public: TicketPublic | None, catalog: Catalog) -> CitizenView:
    st = ticket.state
    return CitizenView(
        id=ticket.id,
        status=str(st.status),
        status_label=STATUS_LABELS[st.status],
        department=_dept(catalog, st.department),
        deadlines=_deadlines(st),
        published=public is not None,
        ticket=public,
        allowed_actions=allowed_actions(st, Role.CITIZEN),
    )


def staff_view(ticket: Ticket, public: TicketPublic | None, role: Role) -> StaffView:
    st = ticket.state
    # The tracking code's hash is a credential's fingerprint: it stays in the file.
    private = st.private.model_copy(update={"tracking_code_sha256": None})
    return StaffView(
        id=ticket.id,
        state=st.model_copy(update={"private": private}),
        events=list(ticket.events),
        allowed_actions=allowed_actions(st, role),
        published=public is not None,
        ticket=public,
    )


def action_answer(before: int, ticket: Ticket, role: Role) -> ActionAnswer:
    st = ticket.state
    return ActionAnswer(
        id=ticket.id,
        status=str(st.status),
        status_label=STATUS_LABELS[st.status],
        department=st.department,
        events=[EventRef(seq=e.seq, type=str(e.type), at=e.at) for e in ticket.events[before:]],
        allowed_actions=allowed_actions(st, role),
    )


def queue_item(e: OpenEntry) -> QueueItem:
    return QueueItem(
        id=e.id,
        status=e.status,
        status_label=STATUS_LABELS[Status(e.status)],
        department=e.department,
        category=e.category,
        area=e.area,
        priority=e.priority,
        received_at=e.received_at,
        sign_for=e.sign_for,
        close=e.close,
        supervision_level=e.supervision_level,
        overdue=list(e.overdue),
        extension_pending=e.extension_pending,
        confidential=e.confidential,
        hidden=e.hidden,
        summary=e.summary,
    )


class Publisher:
    """Builds the public view with the catalog's redaction rules, as the site does."""

    def __init__(self, *, catalog: Catalog, store: Store, time_budget: float = 0.5) -> None:
        self.catalog = catalog
        self.store = store
        self.redactor = Redactor(catalog.redaction.rules, time_budget=time_budget)

    def public(self, ticket: Ticket) -> TicketPublic | None:
        """The public view, or None for confidential and hidden tickets."""
        try:
            return make_public(
                ticket, catalog=self.catalog, redactor=self.redactor, is_public=self._is_public
            )
        except RedactionError:
            log.error("redaction failed for %s; held back", ticket.id)
            raise ApiError(
                503,
                "withheld",
                "this ticket is held back for review before publication",
                headers={"Retry-After": "60"},
            ) from None

    def _is_public(self, ticket_id: str) -> bool:
        try:
            return self.store.get(ticket_id).state.is_public
        except (KeyError, ValueError, OSError):
            return False

"""The ticket workflow: intake and every step after it, as checked transitions.

`perform()` takes the current ticket, one action and the actor, checks the actor's role
and department and the ticket's state, and returns the ticket with the new events
appended. It never writes; the caller stores the result under the ticket's lock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from .catalog import Catalog
from .clock import Clock, format_ts
from .dispatch import Decision, Dispatcher
from .model import (
    MAX_TEXT,
    SYSTEM,
    Actor,
    EventType,
    Role,
    Status,
    Ticket,
    TicketCreate,
    TicketState,
    check_text,
    round_coord,
)
from .sla import deadlines_for, due_steps, extended, rating_expired

TRACKING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
TRACKING_LENGTH = 16  # 32**16 = 2**80 codes: guessing is not practical
assert len(TRACKING_ALPHABET) == 32


class WorkflowError(Exception):
    status = 422
    code = "invalid_action"


class Forbidden(WorkflowError):
    status = 403
    code = "forbidden"


class IllegalTransition(WorkflowError):
    status = 409
    code = "illegal_transition"


@dataclass(frozen=True)
class Context:
    catalog: Catalog
    dispatcher: Dispatcher
    clock: Clock


def new_tracking_code() -> str:
    # 32 symbols: the low 5 bits of each random byte pick one uniformly, and one call
    # to the system's random source serves the whole code.
    return "".join(TRACKING_ALPHABET[b & 31] for b in secrets.token_bytes(TRACKING_LENGTH))


def hash_tracking_code(code: str) -> str:
    return hashlib.sha256(f"shoufa-tracking:{code.strip().upper()}".encode()).hexdigest()


def _text(max_length: int = MAX_TEXT, min_length: int = 1) -> Any:
    return Field(min_length=min_length, max_length=max_length)


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _safe(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            return check_text(value, what=info.field_name)
        return value


class Accept(_Action):
    action: Literal["accept"]


class Contact(_Action):
    action: Literal["contact"]
    method: Literal["phone", "visit", "sms", "other"] = "phone"
    note: str | None = Field(default=None, max_length=MAX_TEXT, description="Private note")


class OnSite(_Action):
    action: Literal["on_site"]
    summary: str = Field(default="", max_length=MAX_TEXT)


class Reply(_Action):
    action: Literal["reply"]
    text: str = _text()


class AskExtension(_Action):
    action: Literal["ask_extension"]
    hours: float = Field(gt=0, le=24 * 90)
    reason: str = _text()


class DecideExtension(_Action):
    action: Literal["decide_extension"]
    granted: bool
    hours: float | None = Field(default=None, gt=0, le=24 * 90)
    reason: str = Field(default="", max_length=MAX_TEXT)


class Resolve(_Action):
    action: Literal["resolve"]
    text: str = _text()


class Return(_Action):
    action: Literal["return"]
    reason: str = _text(min_length=4)


class PrecedentSpec(_Action):
    matter: str = _text(max_length=60)
    keywords: list[Annotated[str, Field(min_length=2, max_length=30)]] = Field(min_length=1, max_length=8)
    category: str | None = Field(default=None, max_length=64)
    area_specific: bool = False

    @field_validator("keywords")
    @classmethod
    def _safe_keywords(cls, value: list[str]) -> list[str]:
        return [check_text(k, what="keyword") for k in value]


class Arbitrate(_Action):
    action: Literal["arbitrate"]
    decision: Literal["upheld", "rejected"]
    reason: str = _text()
    department: str | None = Field(default=None, max_length=64)
    precedent: PrecedentSpec | None = None


class Redispatch(_Action):
    action: Literal["redispatch"]
    department: str = Field(max_length=64)
    reason: str = _text()


class Rate(_Action):
    action: Literal["rate"]
    satisfaction: Literal["satisfied", "basic", "unsatisfied"]
    solved: bool
    comment: str = Field(default="", max_length=MAX_TEXT)


class Reopen(_Action):
    action: Literal["reopen"]
    reason: str = _text()


class Moderate(_Action):
    action: Literal["moderate"]
    decision: Literal["publish", "redact", "hide", "unhide", "confidential"]
    reason: str = _text()
    text: str | None = Field(default=None, max_length=MAX_TEXT, description="Literal span to redact")
    field: Literal["content", "reply", "comment", "all"] = "all"


class Close(_Action):
    action: Literal["close"]
    reason: str = _text()


class Supervise(_Action):
    action: Literal["supervise"]
    level: int = Field(ge=1, le=5)
    reason: str = _text()


Action = Annotated[
    Accept | Contact | OnSite | Reply | AskExtension | DecideExtension | Resolve | Return
    | Arbitrate | Redispatch | Rate | Reopen | Moderate | Close | Supervise,
    Field(discriminator="action"),
]
ACTION_ADAPTER: TypeAdapter[Any] = TypeAdapter(Action)

DEPT = frozenset({Role.DEPARTMENT, Role.ADMIN})
HOTLINE = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
SUPER = frozenset({Role.SUPERVISOR, Role.ADMIN})
OPEN = frozenset({Status.DISPATCHED, Status.IN_PROGRESS, Status.RETURNED})

# action -> (roles allowed, states allowed)
RULES: dict[str, tuple[frozenset[Role], frozenset[Status]]] = {
    "accept": (DEPT, frozenset({Status.DISPATCHED})),
    "contact": (DEPT, frozenset({Status.IN_PROGRESS})),
    "on_site": (DEPT, frozenset({Status.IN_PROGRESS})),
    "reply": (DEPT, frozenset({Status.IN_PROGRESS})),
    "ask_extension": (DEPT, frozenset({Status.IN_PROGRESS})),
    "resolve": (DEPT, frozenset({Status.IN_PROGRESS})),
    "return": (DEPT, frozenset({Status.DISPATCHED, Status.IN_PROGRESS})),
    "decide_extension": (SUPER, frozenset({Status.IN_PROGRESS})),
    "arbitrate": (HOTLINE, frozenset({Status.RETURNED})),
    "redispatch": (HOTLINE, OPEN),
    "rate": (frozenset({Role.CITIZEN, Role.OPERATOR, Role.ADMIN}), frozenset({Status.RESOLVED})),
    "reopen": (frozenset({Role.CITIZEN, *HOTLINE}), frozenset({Status.RESOLVED, Status.CLOSED})),
    "moderate": (frozenset({Role.EDITOR, Role.ADMIN}), frozenset(Status)),
    "close": (HOTLINE, frozenset({Status.RESOLVED})),
    "supervise": (SUPER, OPEN),
}


def _extra_ok(name: str, state: TicketState) -> bool:
    """State conditions beyond the status."""
    if name == "decide_extension":
        return state.extension_pending is not None
    if name == "ask_extension":
        return state.extension_pending is None
    if name == "reopen":
        return state.rating is not None and state.rating.satisfaction == "unsatisfied"
    return True


def allowed_actions(state: TicketState, role: Role) -> list[str]:
    """The actions `role` may take on a ticket in this state."""
    return [
        name
        for name, (roles, states) in RULES.items()
        if role in roles and state.status in states and _extra_ok(name, state)
    ]


def _check(action: str, state: TicketState, actor: Actor) -> None:
    roles, states = RULES[action]
    if actor.role not in roles:
        raise Forbidden(f"role '{actor.role}' may not '{action}'")
    if actor.role == Role.DEPARTMENT and actor.department != state.department:
        raise Forbidden("this ticket is not assigned to your department")
    if state.status not in states or not _extra_ok(action, state):
        allowed = ", ".join(allowed_actions(state, actor.role)) or "none"
        raise IllegalTransition(
            f"cannot '{action}' a ticket in state '{state.status}'; allowed now: {allowed}"
        )


def _dispatch_data(ctx: Context, decision: Decision, at: datetime) -> dict[str, Any]:
    dl = deadlines_for(ctx.catalog.sla, decision.priority, at)
    return decision.as_data() | {"deadlines": dl.as_data()}


def open_ticket(
    ticket_id: str,
    create: TicketCreate,
    *,
    ctx: Context,
    actor: Actor,
    tracking_code: str,
    at: datetime,
) -> tuple[Ticket, Decision]:
    """Build a new ticket: received, then dispatched by the duty list."""
    cat = ctx.catalog
    if create.channel not in cat.channel_by_code:
        raise WorkflowError(f"unknown channel {create.channel!r}")
    if create.category and create.category not in cat.categories:
        raise WorkflowError(f"unknown category {create.category!r}")
    if create.area and cat.resolve_area(create.area) is None:
        raise WorkflowError(f"unknown area {create.area!r}")
    decision = ctx.dispatcher.decide(
        create.content, category=create.category, area=create.area, address=create.address
    )
    street = create.street or decision.street
    received = {
        "channel": create.channel,
        "client": create.client,
        "content": create.content,
        "category": create.category,
        "priority": decision.priority,
        "area": decision.area,
        "street": street,
        "lat": round_coord(create.lat),
        "lon": round_coord(create.lon),
        "attachments": [str(u) for u in create.attachments],
        "attributes": create.attributes,
        "confidential": create.confidential,
        "private": {
            "citizen_name": create.citizen_name,
            "citizen_phone": create.citizen_phone,
            "address": create.address,
            "lat": create.lat,
            "lon": create.lon,
            "tracking_code_sha256": hash_tracking_code(tracking_code),
        },
    }
    ticket = Ticket.open(ticket_id, at=at, actor=actor, data=received)
    ticket = ticket.with_event(
        EventType.DISPATCHED, at=at, actor=SYSTEM, data=_dispatch_data(ctx, decision, at)
    )
    return ticket, decision


def perform(ticket: Ticket, action: Any, *, actor: Actor, ctx: Context) -> Ticket:
    """Apply one workflow action; raise Forbidden / IllegalTransition / WorkflowError."""
    state = ticket.state
    name = action.action
    _check(name, state, actor)
    now = ctx.clock.now()
    cat = ctx.catalog
    add = []  # (type, actor, data)

    if isinstance(action, Accept):
        add.append((EventType.ACCEPTED, actor, {}))
    elif isinstance(action, Contact):
        add.append((EventType.CONTACTED, actor, {"method": action.method, "note": action.note}))
    elif isinstance(action, OnSite):
        add.append((EventType.ON_SITE, actor, {"summary": action.summary}))
    elif isinstance(action, Reply):
        add.append((EventType.REPLIED, actor, {"text": action.text}))
    elif isinstance(action, AskExtension):
        if state.extensions >= cat.sla.extension.max_times:
            raise IllegalTransition(
                f"this ticket already had {state.extensions} extension(s); the policy allows "
                f"{cat.sla.extension.max_times}"
            )
        if action.hours > cat.sla.extension.max_hours:
            raise WorkflowError(f"an extension may be at most {cat.sla.extension.max_hours:g} hours")
        add.append((EventType.EXTENSION_REQUESTED, actor, {"hours": action.hours, "reason": action.reason}))
    elif isinstance(action, DecideExtension):
        hours = action.hours or state.extension_pending["hours"]
        data: dict[str, Any] = {"granted": action.granted, "hours": hours, "reason": action.reason}
        if action.granted:
            data["deadlines"] = extended(state.deadlines, hours).as_data()
        add.append((EventType.EXTENSION_DECIDED, actor, data))
    elif isinstance(action, Resolve):
        add.append((EventType.RESOLVED, actor, {"text": action.text}))
    elif isinstance(action, Return):
        add.append((EventType.RETURNED, actor, {"reason": action.reason}))
    elif isinstance(action, Arbitrate):
        add.extend(_arbitrate(ticket, state, action, actor=actor, ctx=ctx, now=now))
    elif isinstance(action, Redispatch):
        dept = _department(cat, action.department)
        decision = Decision(
            dept, state.category, state.priority, state.area, state.street,
            {"kind": "manual", "entry": None, "matter": None, "basis": "人工派单"},
            f"热线人工改派至{cat.department_by_code[dept].name}：{action.reason}",
        )
        add.append((EventType.REDISPATCHED, actor, _dispatch_data(ctx, decision, now) | {"from": state.department}))
    elif isinstance(action, Rate):
        via = "citizen" if actor.role == Role.CITIZEN else "followup_call"
        add.append((EventType.RATED, actor, {
            "satisfaction": action.satisfaction, "solved": action.solved,
            "comment": action.comment, "via": via,
        }))
        if action.satisfaction != "unsatisfied":
            add.append((EventType.CLOSED, SYSTEM, {"reason": "rated"}))
    elif isinstance(action, Reopen):
        if state.department is None:
            raise WorkflowError("ticket has no department to reopen with")
        dl = deadlines_for(cat.sla, state.priority, now)
        add.append((EventType.REOPENED, actor, {
            "reason": action.reason, "department": state.department, "deadlines": dl.as_data(),
        }))
    elif isinstance(action, Moderate):
        if action.decision == "redact":
            if not action.text:
                raise WorkflowError("a redaction needs the literal 'text' to remove")
            if not _text_occurs(ticket, action.text, action.field):
                raise WorkflowError("the text to redact does not occur in that field of the ticket")
        add.append((EventType.MODERATED, actor, {
            "decision": action.decision, "reason": action.reason,
            "text": action.text, "field": action.field,
        }))
    elif isinstance(action, Close):
        add.append((EventType.CLOSED, actor, {"reason": "operator", "note": action.reason}))
    elif isinstance(action, Supervise):
        if action.level <= state.supervision_level:
            raise IllegalTransition(f"supervision is already at level {state.supervision_level}")
        add.append((EventType.SUPERVISED, actor, {
            "level": action.level, "name": cat.supervision_name(action.level), "reason": action.reason,
        }))
    else:  # pragma: no cover - the adapter admits only the actions above
        raise WorkflowError(f"unknown action {name!r}")

    for type_, who, data in add:
        ticket = ticket.with_event(type_, at=now, actor=who, data=data)
    return ticket


def _department(cat: Catalog, code: str) -> str:
    if code not in cat.department_by_code:
        raise WorkflowError(f"unknown department {code!r}")
    return code


def _arbitrate(ticket: Ticket, state: TicketState, action: Arbitrate, *, actor: Actor, ctx: Context, now: datetime):
    cat = ctx.catalog
    returned_by = state.returns[-1]["department"] if state.returns else state.department
    if action.decision == "rejected":
        # The return was not justified: it counts as shirking (推诿) and the ticket goes back.
        dl = deadlines_for(cat.sla, state.priority, now)
        return [(EventType.ARBITRATED, actor, {
            "decision": "rejected", "reason": action.reason, "shirking": True,
            "department": returned_by, "deadlines": dl.as_data(),
        })]
    if not action.department:
        raise WorkflowError("an upheld return needs the 'department' to dispatch to")
    dept = _department(cat, action.department)
    if dept == returned_by:
        raise WorkflowError("an upheld return must go to another department")
    events = []
    entry_id = None
    if action.precedent is not None:
        p = action.precedent
        category = p.category or state.category or "other"
        if category not in cat.categories:
            raise WorkflowError(f"precedent.category: unknown category {category!r}")
        try:
            entry = ctx.dispatcher.add_precedent(
                matter=p.matter,
                category=category,
                keywords=p.keywords,
                department=dept,
                area=state.area if p.area_specific else None,
                ticket_id=ticket.id,
                by=actor.name or str(actor.role),
                reason=action.reason,
                at=now,
            )
        except ValueError as exc:  # the entry does not validate as a duty-list entry
            raise WorkflowError(f"precedent: {exc}") from None
        entry_id = entry.id
    events.append((EventType.ARBITRATED, actor, {
        "decision": "upheld", "reason": action.reason, "shirking": False,
        "department": returned_by, "precedent": entry_id,
    }))
    rule = {"kind": "arbitration", "entry": entry_id, "matter": None, "basis": "退单仲裁"}
    reason = f"退单经热线研判成立，改派至{cat.department_by_code[dept].name}：{action.reason}"
    if entry_id:
        reason += f"（已形成案例推广条目 {entry_id}）"
    decision = Decision(dept, state.category, state.priority, state.area, state.street, rule, reason)
    events.append((EventType.REDISPATCHED, actor, _dispatch_data(ctx, decision, now) | {"from": returned_by}))
    return events


def _text_occurs(ticket: Ticket, text: str, field: str) -> bool:
    for ev in ticket.events:
        for key in ("content", "text", "comment", "summary", "reason"):
            value = ev.data.get(key)
            if isinstance(value, str) and text in value:
                return True
    return False


def tick(ticket: Ticket, *, ctx: Context) -> Ticket:
    """Apply what time alone decides: overdue marks, supervision, closing unrated tickets."""
    now = ctx.clock.now()
    state = ticket.state
    for type_, data in due_steps(ctx.catalog.sla, state, now):
        ticket = ticket.with_event(type_, at=now, actor=SYSTEM, data=data)
    if rating_expired(ctx.catalog.sla, state, now):
        ticket = ticket.with_event(EventType.CLOSED, at=now, actor=SYSTEM, data={"reason": "no_rating"})
    return ticket


def deadline_summary(state: TicketState) -> dict[str, str | None]:
    return state.deadlines.as_data() if state.deadlines else {}


__all__ = [
    "ACTION_ADAPTER", "Context", "Forbidden", "IllegalTransition", "WorkflowError",
    "allowed_actions", "format_ts", "hash_tracking_code", "new_tracking_code", "open_ticket",
    "perform", "tick",
]

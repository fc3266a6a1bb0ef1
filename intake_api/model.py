"""The ticket: an ordered, hash-chained event log and the state derived from it.

A ticket file holds only its id and its events; everything else (status, department,
deadlines, rating, supervision level...) is derived by folding the events, so state can
never drift out of step with history.

Hash chain: each event's `hash` is SHA-256 over its canonical JSON (all fields but
`hash`, keys sorted, UTF-8, no whitespace, timestamps as `YYYY-MM-DDTHH:MM:SS.mmmZ`);
`prev_hash` is the previous event's hash, and for the first event
SHA-256("shoufa:" + ticket id), which binds the chain to its ticket.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
)

from .clock import format_ts, parse_ts

SCHEMA_VERSION = 1
ID_RE = re.compile(r"^[A-Z]{2,4}[0-9]{8}[0-9]{6}$")
MAX_CONTENT = 5000
MAX_TEXT = 2000


class EventType(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    RETURNED = "returned"  # 退单
    ARBITRATED = "arbitrated"  # the hotline rules on a return
    REDISPATCHED = "redispatched"
    ACCEPTED = "accepted"  # 签收
    CONTACTED = "contacted"
    ON_SITE = "on_site"
    REPLIED = "replied"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_DECIDED = "extension_decided"
    RESOLVED = "resolved"
    RATED = "rated"  # 回访
    REOPENED = "reopened"  # 重办
    OVERDUE = "overdue"
    SUPERVISED = "supervised"  # 督办 levels 1-5
    MODERATED = "moderated"
    LINKED = "linked"  # duplicate detection
    CLOSED = "closed"


class Role(StrEnum):
    CITIZEN = "citizen"
    OPERATOR = "operator"
    DEPARTMENT = "department"
    SUPERVISOR = "supervisor"
    EDITOR = "editor"
    ADMIN = "admin"
    SYSTEM = "system"


class Status(StrEnum):
    DISPATCHED = "dispatched"  # waiting for the department to sign for it
    RETURNED = "returned"  # returned by the department, waiting for arbitration
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"  # the department says done; waiting for the follow-up visit
    CLOSED = "closed"


STATUS_LABELS = {
    Status.DISPATCHED: "待签收",
    Status.RETURNED: "退单待研判",
    Status.IN_PROGRESS: "办理中",
    Status.RESOLVED: "已办理待回访",
    Status.CLOSED: "已办结",
}
SATISFACTION_LABELS = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}


class ChainError(ValueError):
    """The event log is not a valid hash chain."""


def genesis_hash(ticket_id: str) -> str:
    return hashlib.sha256(f"shoufa:{ticket_id}".encode()).hexdigest()


def canonical_bytes(event: dict[str, Any]) -> bytes:
    """Canonical JSON of an event (without its hash) for hashing."""
    body = {k: v for k, v in event.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(event)).hexdigest()


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    department: str | None = None
    # Internal only (the token's name or the operator's id); never published.
    name: str | None = None


SYSTEM = Actor(role=Role.SYSTEM)


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1)
    type: EventType
    at: datetime
    actor: Actor
    data: dict[str, Any] = {}
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("at", mode="before")
    @classmethod
    def _parse_at(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_ts(value)
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a time zone")
        return value

    @field_serializer("at")
    def _ser_at(self, value: datetime) -> str:
        return format_ts(value)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)


def make_event(
    *,
    ticket_id: str,
    prev: Event | None,
    type: EventType,
    at: datetime,
    actor: Actor,
    data: dict[str, Any] | None = None,
) -> Event:
    """Create the next event of a chain, with its hash."""
    body = {
        "seq": (prev.seq + 1) if prev else 1,
        "type": str(type),
        "at": format_ts(at),
        "actor": actor.model_dump(mode="json"),
        "data": data or {},
        "prev_hash": prev.hash if prev else genesis_hash(ticket_id),
    }
    # Round-trip data through JSON so the hash covers exactly what is stored.
    body["data"] = orjson.loads(orjson.dumps(body["data"]))
    body["hash"] = event_hash(body)
    return Event.model_validate(body)


class Deadlines(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sign_for: datetime
    on_site: datetime | None = None
    close: datetime

    def as_data(self) -> dict[str, str | None]:
        return {
            "sign_for": format_ts(self.sign_for),
            "on_site": format_ts(self.on_site) if self.on_site else None,
            "close": format_ts(self.close),
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Deadlines:
        return cls(
            sign_for=parse_ts(data["sign_for"]),
            on_site=parse_ts(data["on_site"]) if data.get("on_site") else None,
            close=parse_ts(data["close"]),
        )


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    satisfaction: Literal["satisfied", "basic", "unsatisfied"]
    solved: bool
    comment: str = ""
    at: datetime
    via: Literal["citizen", "followup_call"] = "citizen"


class Private(BaseModel):
    """Private intake fields: kept in the store, never published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    citizen_name: str | None = None
    citizen_phone: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    tracking_code_sha256: str | None = None
    contact_notes: list[str] = []


class TicketState(BaseModel):
    """State derived from the event log (never stored)."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: Status
    received_at: datetime
    updated_at: datetime
    channel: str
    client: str | None = None
    content: str
    category: str | None
    priority: str
    area: str | None
    street: str | None
    lat: float | None = None  # public, rounded to ~100 m
    lon: float | None = None
    attachments: list[str] = []
    attributes: dict[str, Any] = {}
    department: str | None
    dispatch_rule: dict[str, Any] = {}
    dispatch_reason: str = ""
    deadlines: Deadlines | None
    accepted_at: datetime | None = None
    on_site_at: datetime | None = None
    first_reply_at: datetime | None = None
    last_reply: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    rating: Rating | None = None
    ratings: int = 0
    returns: list[dict[str, Any]] = []  # {department, reason, shirking: bool|None}
    reopen_count: int = 0
    dispatch_count: int = 0
    supervision_level: int = 0
    overdue: list[str] = []  # deadline kinds recorded as missed
    extension_pending: dict[str, Any] | None = None
    extensions: int = 0
    confidential: bool = False
    hidden: bool = False
    verbatim_approved: bool = False
    redactions: list[dict[str, Any]] = []  # editor redactions (spans/literals + reason)
    links: list[dict[str, str]] = []  # {ticket, relation}
    private: Private = Private()

    @property
    def is_open(self) -> bool:
        return self.status != Status.CLOSED

    @property
    def is_public(self) -> bool:
        return not (self.confidential or self.hidden)

    def is_overdue(self, now: datetime) -> bool:
        """Whether the ticket is open past its close deadline (or was closed late)."""
        if self.deadlines is None:
            return False
        end = self.resolved_at or self.closed_at
        if end is not None:
            return end > self.deadlines.close
        return now > self.deadlines.close

    @property
    def on_time(self) -> bool | None:
        """Whether the department finished within the (extended) deadline; None if open."""
        end = self.resolved_at or self.closed_at
        if end is None or self.deadlines is None:
            return None
        return end <= self.deadlines.close

    @property
    def signed_in_time(self) -> bool | None:
        if self.deadlines is None or self.accepted_at is None:
            return None
        return self.accepted_at <= self.deadlines.sign_for

    @property
    def first_time_resolved(self) -> bool | None:
        """一次办好: closed, solved and satisfied, with no reopening and no upheld return."""
        if self.status != Status.CLOSED or self.rating is None:
            return None
        return (
            self.reopen_count == 0
            and self.rating.solved
            and self.rating.satisfaction != "unsatisfied"
        )

    @property
    def handling_days(self) -> float | None:
        end = self.resolved_at or self.closed_at
        if end is None:
            return None
        return (end - self.received_at).total_seconds() / 86400


def _apply(state: dict[str, Any], ev: Event) -> None:  # noqa: C901 - one branch per event type
    d = ev.data
    t = ev.type
    state["updated_at"] = ev.at
    if t == EventType.RECEIVED:
        state.update(
            id=state["id"],
            status=Status.DISPATCHED,
            received_at=ev.at,
            channel=d["channel"],
            client=d.get("client"),
            content=d["content"],
            category=d.get("category"),
            priority=d.get("priority") or "ordinary",
            area=d.get("area"),
            street=d.get("street"),
            lat=d.get("lat"),
            lon=d.get("lon"),
            attachments=list(d.get("attachments") or []),
            attributes=dict(d.get("attributes") or {}),
            confidential=bool(d.get("confidential")),
            private=Private.model_validate(d.get("private") or {}),
            department=None,
            deadlines=None,
        )
    elif t in (EventType.DISPATCHED, EventType.REDISPATCHED, EventType.REOPENED):
        if t == EventType.REOPENED:
            state["reopen_count"] += 1
            state["resolved_at"] = None
            state["closed_at"] = None
            state["close_reason"] = None
        if "department" in d:
            state["department"] = d["department"]
        if d.get("category"):
            state["category"] = d["category"]
        if d.get("priority"):
            state["priority"] = d["priority"]
        if d.get("rule"):
            state["dispatch_rule"] = d["rule"]
        if d.get("reason") and t != EventType.REOPENED:
            state["dispatch_reason"] = d["reason"]
        if d.get("deadlines"):
            state["deadlines"] = Deadlines.from_data(d["deadlines"])
        state["dispatch_count"] += 1
        state["accepted_at"] = None
        state["extension_pending"] = None
        state["status"] = Status.DISPATCHED
    elif t == EventType.RETURNED:
        state["returns"].append(
            {"department": ev.actor.department, "reason": d.get("reason", ""), "shirking": None}
        )
        state["status"] = Status.RETURNED
    elif t == EventType.ARBITRATED:
        if state["returns"]:
            state["returns"][-1] = {**state["returns"][-1], "shirking": bool(d.get("shirking"))}
        if d.get("decision") == "rejected":
            # The return was not justified: the same department keeps the ticket.
            state["status"] = Status.DISPATCHED
            if d.get("deadlines"):
                state["deadlines"] = Deadlines.from_data(d["deadlines"])
    elif t == EventType.ACCEPTED:
        state["accepted_at"] = ev.at
        state["status"] = Status.IN_PROGRESS
    elif t == EventType.CONTACTED:
        if d.get("note"):
            notes = [*state["private"].contact_notes, d["note"]]
            state["private"] = state["private"].model_copy(update={"contact_notes": notes})
    elif t == EventType.ON_SITE:
        state["on_site_at"] = state["on_site_at"] or ev.at
    elif t == EventType.REPLIED:
        state["first_reply_at"] = state["first_reply_at"] or ev.at
        state["last_reply"] = d.get("text")
    elif t == EventType.EXTENSION_REQUESTED:
        state["extension_pending"] = {"hours": d.get("hours"), "reason": d.get("reason", "")}
    elif t == EventType.EXTENSION_DECIDED:
        state["extension_pending"] = None
        if d.get("granted"):
            state["extensions"] += 1
            if d.get("deadlines"):
                state["deadlines"] = Deadlines.from_data(d["deadlines"])
    elif t == EventType.RESOLVED:
        state["resolved_at"] = ev.at
        state["status"] = Status.RESOLVED
        if d.get("text"):
            state["last_reply"] = d["text"]
            state["first_reply_at"] = state["first_reply_at"] or ev.at
    elif t == EventType.RATED:
        state["rating"] = Rating(
            satisfaction=d["satisfaction"],
            solved=bool(d["solved"]),
            comment=d.get("comment", ""),
            at=ev.at,
            via=d.get("via", "citizen"),
        )
        state["ratings"] += 1
    elif t == EventType.OVERDUE:
        if d.get("deadline") not in state["overdue"]:
            state["overdue"].append(d.get("deadline"))
    elif t == EventType.SUPERVISED:
        state["supervision_level"] = max(state["supervision_level"], int(d["level"]))
    elif t == EventType.MODERATED:
        decision = d.get("decision")
        if decision == "hide":
            state["hidden"] = True
        elif decision == "unhide":
            state["hidden"] = False
        elif decision == "confidential":
            state["confidential"] = True
        elif decision == "publish":
            state["verbatim_approved"] = True
        elif decision == "redact":
            state["redactions"].append(
                {k: d.get(k) for k in ("text", "field", "event_seq", "reason", "seq")} | {"seq": ev.seq}
            )
    elif t == EventType.LINKED:
        state["links"].append({"ticket": d["ticket"], "relation": d["relation"]})
    elif t == EventType.CLOSED:
        state["closed_at"] = ev.at
        state["close_reason"] = d.get("reason")
        state["status"] = Status.CLOSED


def derive_state(ticket_id: str, events: list[Event]) -> TicketState:
    """Fold the event log into the ticket's current state."""
    if not events or events[0].type != EventType.RECEIVED:
        raise ChainError(f"{ticket_id}: the first event must be 'received'")
    state: dict[str, Any] = {
        "id": ticket_id,
        "accepted_at": None,
        "on_site_at": None,
        "first_reply_at": None,
        "last_reply": None,
        "resolved_at": None,
        "closed_at": None,
        "close_reason": None,
        "rating": None,
        "ratings": 0,
        "returns": [],
        "reopen_count": 0,
        "dispatch_count": 0,
        "supervision_level": 0,
        "overdue": [],
        "extension_pending": None,
        "extensions": 0,
        "hidden": False,
        "verbatim_approved": False,
        "redactions": [],
        "links": [],
        "dispatch_rule": {},
        "dispatch_reason": "",
    }
    for ev in events:
        _apply(state, ev)
    return TicketState.model_validate(state)


JSON_TAIL = b"\n  ]\n}\n"  # how Ticket.to_json ends: the events, the ticket, a newline


def _event_json(ev: Event) -> bytes:
    """One event as Ticket.to_json writes it: an item of the events, two levels in."""
    return b"    " + orjson.dumps(ev.as_dict(), option=orjson.OPT_INDENT_2).replace(b"\n", b"\n    ")


_EVENTS = TypeAdapter(list[Event])


_BEFORE = "_state_before"  # (state, events) of the ticket a ticket appends events to


def _after_links(state: TicketState, events: list[Event]) -> TicketState | None:
    """`state` after `events`, as derive_state would make it, if they only link tickets
    (a storm's link-backs: thousands, in batches); None for any other events."""
    links = []
    for ev in events:
        d = ev.data
        if ev.type != EventType.LINKED or type(d.get("ticket")) is not str or type(d.get("relation")) is not str:
            return None
        links.append({"ticket": d["ticket"], "relation": d["relation"]})
    if not links:
        return None
    return state.model_copy(update={"updated_at": events[-1].at, "links": [*state.links, *links]})


class Ticket(BaseModel):
    """A ticket as stored: id plus its hash-chained event log."""

    model_config = ConfigDict(extra="forbid")

    v: int = SCHEMA_VERSION
    id: str = Field(pattern=ID_RE.pattern)
    events: list[Event] = Field(min_length=1)

    @cached_property
    def state(self) -> TicketState:
        before = self.__dict__.pop(_BEFORE, None)
        if before is not None:
            state = _after_links(before[0], self.events[before[1] :])
            if state is not None:
                return state
        return derive_state(self.id, self.events)

    def _from(self, base: Ticket) -> Ticket:
        """Remember base's state, if derived, for this ticket's (base + events): a state
        after links only is that state with the links added. Kept beside the fields, like
        `state` itself: not a field, not compared, not stored."""
        known = base.__dict__.get("state")
        if known is not None:
            self.__dict__[_BEFORE] = (known, len(base.events))
        return self

    @property
    def last(self) -> Event:
        return self.events[-1]

    def verify_chain(self, start: int = 0) -> None:
        """Raise ChainError if any event was altered, removed, reordered or moved.

        `start`: the first `start` events are known to be sound (verified before, byte for
        byte the same): only the events after them are checked, chained to the last of them.
        """
        prev = self.events[start - 1].hash if start else genesis_hash(self.id)
        i = start
        for i, ev in enumerate(self.events[start:], start=start + 1):
            if ev.seq != i:
                raise ChainError(f"{self.id}: event {i} has sequence number {ev.seq}")
            if ev.prev_hash != prev:
                raise ChainError(f"{self.id}: event {i} does not chain to event {i - 1}")
            if event_hash(ev.as_dict()) != ev.hash:
                raise ChainError(f"{self.id}: event {i} was altered (hash mismatch)")
            prev = ev.hash
        if i and self.events[0].type != EventType.RECEIVED:
            raise ChainError(f"{self.id}: the first event must be 'received'")

    def with_event(
        self, type: EventType, *, at: datetime, actor: Actor, data: dict[str, Any] | None = None
    ) -> Ticket:
        """Return a copy with one more event appended to the chain."""
        return self.with_events([(type, at, actor, data)])

    def with_events(self, events: Iterable[tuple[EventType, datetime, Actor, dict[str, Any] | None]]) -> Ticket:
        """Return a copy with several events appended to the chain, in order."""
        new = list(self.events)
        for type_, at, actor, data in events:
            new.append(make_event(ticket_id=self.id, prev=new[-1], type=type_, at=at, actor=actor, data=data))
        return Ticket(v=self.v, id=self.id, events=new)._from(self)

    def to_json(self, *, base: bytes | None = None, base_events: int = 0) -> bytes:
        """Serialize as the store's human-readable UTF-8 JSON.

        `base`: what this method returned for this ticket's first `base_events` events.
        Only the events after them are serialized and spliced in before its end, with the
        same bytes as a whole dump: an earlier ticket with thousands of repeats linked
        back to it is written again for every batch of them.
        """
        if base is not None and 0 < base_events < len(self.events) and base.endswith(JSON_TAIL):
            more = b",\n".join(_event_json(ev) for ev in self.events[base_events:])
            return base[: -len(JSON_TAIL)] + b",\n" + more + JSON_TAIL
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def appended(cls, base: bytes, ticket: Ticket, raw: bytes) -> Ticket | None:
        """The ticket stored as `raw`, if it is `ticket` (stored as `base`, verified) with
        events appended: only those are parsed and verified. None if `raw` is not `base`
        with events spliced in before its end, or if they do not parse or chain: the
        caller reads it whole, which says what is wrong.
        """
        head = len(base) - len(JSON_TAIL)
        if not (
            len(raw) > len(base) + 2
            and base.endswith(JSON_TAIL)
            and raw.endswith(JSON_TAIL)
            and raw[head : head + 2] == b",\n"
            and raw.startswith(base[:head])
        ):
            return None
        try:
            # The spliced part is a list of events: with the unchanged head and tail, the
            # whole file parses to the earlier events and these (ticket, id, v unchanged).
            more = _EVENTS.validate_json(b"[" + raw[head + 2 : -len(JSON_TAIL)] + b"]")
            new = cls.model_construct(v=ticket.v, id=ticket.id, events=[*ticket.events, *more])
            new.verify_chain(start=len(ticket.events))
        except (ValidationError, ChainError, ValueError, TypeError, KeyError):
            return None
        return new._from(ticket)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Ticket:
        return cls.model_validate_json(raw)

    @classmethod
    def open(
        cls, ticket_id: str, *, at: datetime, actor: Actor, data: dict[str, Any]
    ) -> Ticket:
        ev = make_event(
            ticket_id=ticket_id, prev=None, type=EventType.RECEIVED, at=at, actor=actor, data=data
        )
        return cls(id=ticket_id, events=[ev])


# ---------------------------------------------------------------------------
# Intake input

_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(value: str, *, what: str = "text") -> str:
    """Refuse text that cannot be shown safely: control and bidi-override characters."""
    if _CONTROL.search(value):
        raise ValueError(f"{what} contains a control character")
    if _BIDI.search(value):
        raise ValueError(f"{what} contains a bidirectional override character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} contains an unpaired surrogate") from None
    return unicodedata.normalize("NFC", value)


class TicketCreate(BaseModel):
    """A citizen's request as it arrives from any channel."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: str = Field(min_length=1, max_length=32, description="Channel code from the catalog")
    client: str | None = Field(
        default=None, max_length=64, description="Name of the client app (Open311, county client)"
    )
    content: str = Field(min_length=5, max_length=MAX_CONTENT, description="The citizen's text")
    category: str | None = Field(default=None, max_length=64)
    area: str | None = Field(default=None, max_length=64, description="Area name or code")
    street: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=200, description="Exact address (private)")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    citizen_name: str | None = Field(default=None, max_length=50)
    citizen_phone: str | None = Field(default=None, max_length=40)
    confidential: bool = False
    attachments: list[HttpUrl] = Field(default=[], max_length=10)
    attributes: dict[str, str] = Field(default={}, max_length=20)

    @field_validator("content", "address", "citizen_name", "street", "area", "client")
    @classmethod
    def _safe_text(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return value
        return check_text(value, what=info.field_name)

    @field_validator("attributes")
    @classmethod
    def _safe_attrs(cls, value: dict[str, str]) -> dict[str, str]:
        for k, v in value.items():
            if len(k) > 64 or len(v) > 500:
                raise ValueError("attribute key or value too long")
            check_text(k, what="attribute key")
            check_text(v, what="attribute value")
        return value

    @field_validator("citizen_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        digits = re.sub(r"[\s\-+().]", "", value)
        if not digits.isdigit() or not 5 <= len(digits) <= 20:
            raise ValueError("citizen_phone must be a phone number (digits, spaces, +, -)")
        return value

    @field_validator("lat", "lon")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and value != value:  # NaN
            raise ValueError("must be a finite number")
        return value


def round_coord(value: float | None) -> float | None:
    """Round a coordinate to 3 decimals (~100 m) for publishing."""
    return None if value is None else round(value, 3)


def hours(h: float) -> timedelta:
    return timedelta(hours=h)

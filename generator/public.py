"""The public (redacted) view of a ticket: the only model templates, feeds and exports see.

`make_public` is an allow-list: it copies only fields meant for the public, runs every
piece of citizen or staff text through the redactor, and returns None for confidential
and hidden tickets, so nothing private can reach the site by accident.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from intake_api.catalog import Catalog
from intake_api.model import (
    SATISFACTION_LABELS,
    STATUS_LABELS,
    EventType,
    Status,
    Ticket,
)

from .redact import PrivateLiterals, RedactionError, Redactor
from .render import fmt_num, fmt_time

EVENT_TITLES = {
    EventType.RECEIVED: "受理",
    EventType.DISPATCHED: "派单",
    EventType.RETURNED: "退单",
    EventType.ARBITRATED: "退单研判",
    EventType.REDISPATCHED: "改派",
    EventType.ACCEPTED: "签收",
    EventType.CONTACTED: "联系诉求人",
    EventType.ON_SITE: "到达现场",
    EventType.REPLIED: "答复",
    EventType.EXTENSION_REQUESTED: "申请延期",
    EventType.EXTENSION_DECIDED: "延期审批",
    EventType.RESOLVED: "办结",
    EventType.RATED: "回访评价",
    EventType.REOPENED: "重办",
    EventType.OVERDUE: "超期",
    EventType.SUPERVISED: "督办",
    EventType.MODERATED: "编辑审核",
    EventType.LINKED: "关联工单",
    EventType.CLOSED: "结案",
}
ROLE_LABELS = {
    "citizen": "诉求人",
    "operator": "12345热线",
    "department": "承办单位",
    "supervisor": "热线督办",
    "editor": "首发编辑部",
    "admin": "系统管理员",
    "system": "系统",
}
CONTACT_METHODS = {"phone": "电话联系", "visit": "上门走访", "sms": "短信联系", "other": "其他方式联系"}
CLOSE_REASONS = {
    "rated": "回访评价后结案",
    "no_rating": "回访期满未评价，系统结案",
    "operator": "热线结案",
    "duplicate": "重复工单合并办理",
}
DEADLINE_LABELS = {"sign_for": "签收时限", "on_site": "到场时限", "close": "办结时限"}
MODERATION_LABELS = {
    "publish": "编辑部审核：原文公开",
    "redact": "编辑部依据公开规则隐去部分内容",
    "hide": "编辑部决定不予公开",
    "unhide": "编辑部恢复公开",
    "confidential": "转为保密工单",
}
# (data key, redaction field) of the text each event type publishes.
EVENT_TEXT = {
    EventType.RECEIVED: None,  # the content is shown on its own
    EventType.RETURNED: ("reason", "note"),
    EventType.ARBITRATED: ("reason", "note"),
    EventType.REDISPATCHED: ("reason", "note"),
    EventType.ON_SITE: ("summary", "reply"),
    EventType.REPLIED: ("text", "reply"),
    EventType.EXTENSION_REQUESTED: ("reason", "note"),
    EventType.EXTENSION_DECIDED: ("reason", "note"),
    EventType.RESOLVED: ("text", "reply"),
    EventType.RATED: ("comment", "comment"),
    EventType.REOPENED: ("reason", "note"),
    EventType.SUPERVISED: ("reason", "note"),
    EventType.CLOSED: ("note", "note"),
}


class PublicEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    type: str
    title: str
    at: datetime
    actor: str  # role label, or the department's name
    department: str | None = None  # code of the department concerned
    text: str | None = None
    details: dict[str, Any] = {}
    hash: str


# A storm of repeats (a burst main: hundreds of calls about one matter) links each
# repeat to the first report. From this many consecutive links on, the timeline shows
# them as one item (on the page, every link and hash inside a <details>; in the ticket's
# feed, one item updated as the run grows), so that the department's reply is not
# buried under a thousand lines.
REPEATS_GROUPED = 3


def _is_repeat(e: PublicEvent) -> bool:
    return e.type == "linked" and e.details.get("relation") == "duplicate"


def fold_repeats(events: list[PublicEvent]) -> list[PublicEvent | list[PublicEvent]]:
    """The events, with each run of REPEATS_GROUPED or more consecutive repeats as a list."""
    out: list[PublicEvent | list[PublicEvent]] = []
    for repeat, group in itertools.groupby(events, key=_is_repeat):
        run = list(group)
        if repeat and len(run) >= REPEATS_GROUPED:
            out.append(run)
        else:
            out += run
    return out


def repeats_summary(run: list[PublicEvent]) -> str:
    """What a run of repeats says, on the page and in the ticket's feed."""
    return f"收到重复诉求{fmt_num(len(run))}件（至{fmt_time(run[-1].at)}），均已关联，各自照常办理。"


class PublicRating(BaseModel):
    model_config = ConfigDict(frozen=True)

    satisfaction: str
    label: str
    solved: bool
    comment: str
    at: datetime


class TicketPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    channel: str
    channel_name: str
    client: str | None
    category: str | None
    category_name: str | None
    category_top: str | None
    priority: str
    area: str | None
    area_name: str | None
    street: str | None
    lat: float | None
    lon: float | None
    received_at: datetime
    updated_at: datetime
    department: str | None
    department_name: str | None
    dispatch_reason: str
    dispatch_rule: dict[str, Any]
    content: str
    status: str
    status_label: str
    is_open: bool
    overdue: bool
    deadlines: dict[str, datetime | None]
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    handling_days: float | None
    on_time: bool | None
    signed_in_time: bool | None
    first_time_resolved: bool | None
    rating: PublicRating | None
    supervision_level: int
    supervision_name: str | None
    returns: int
    shirking: int
    reopen_count: int
    extensions: int
    attachments: int
    links: list[dict[str, str]]
    redacted: dict[str, int]  # kind -> how many spans were hidden
    timeline: list[PublicEvent]
    last_hash: str
    events: int

    @property
    def title(self) -> str:
        """A short title: category and area, never citizen text."""
        parts = [self.area_name or "", self.category_name or "其他诉求"]
        return "".join(p for p in parts if p)


def _literals(ticket: Ticket) -> PrivateLiterals:
    p = ticket.state.private
    return PrivateLiterals(
        names=tuple(x for x in [p.citizen_name] if x),
        phones=tuple(x for x in [p.citizen_phone] if x),
        addresses=tuple(x for x in [p.address] if x),
        others=(),
    )


def private_literals(ticket: Ticket) -> PrivateLiterals:
    """The private values of a ticket, for redaction and for the leak scan."""
    return _literals(ticket)


def make_public(
    ticket: Ticket,
    *,
    catalog: Catalog,
    redactor: Redactor,
    is_public: Callable[[str], bool] = lambda _id: True,
) -> TicketPublic | None:
    """Return the public view, or None if the ticket must not be published at all.

    Raises `redact.RedactionError` when the redactor cannot vouch for a text (out of time,
    or failing in any other way); the caller holds the ticket back.
    """
    st = ticket.state
    if not st.is_public:
        return None
    literals = _literals(ticket)
    editor_spans = [r for r in st.redactions if r.get("text")]
    counts: Counter[str] = Counter()

    def clean(text: str | None, field: str) -> str | None:
        if not text:
            return text
        for r in editor_spans:
            if r.get("field") in ("all", field, None) and r["text"] in text:
                counts["editor"] += text.count(r["text"])
                text = text.replace(r["text"], "［已隐去］")
        try:
            result = redactor.redact(text, field=field, literals=literals)
        except RedactionError:
            raise
        except Exception as exc:
            # A bug in the redactor must hold the ticket back like a timeout, never stop
            # the build or publish the text. The message is not kept: it may quote the text.
            raise RedactionError(f"the redactor failed ({type(exc).__name__})") from exc
        for hit in result.hits:
            counts[hit.kind] += 1
        return result.text

    cat = catalog
    depts = cat.department_by_code
    timeline: list[PublicEvent] = []
    for ev in ticket.events:
        d = ev.data
        details: dict[str, Any] = {}
        department = ev.actor.department
        text = None
        spec = EVENT_TEXT.get(ev.type)
        if spec:
            text = clean(d.get(spec[0]), spec[1])
        if ev.type == EventType.RECEIVED:
            details = {"channel": cat.channel_by_code[d["channel"]].name if d["channel"] in cat.channel_by_code else d["channel"]}
        elif ev.type in (EventType.DISPATCHED, EventType.REDISPATCHED, EventType.REOPENED):
            department = d.get("department")
            if d.get("deadlines"):
                details["deadlines"] = {k: v for k, v in d["deadlines"].items() if v}
            if ev.type != EventType.REOPENED:
                # Operators type the reason of a manual re-dispatch: redact it like any text.
                details["why"] = clean(d.get("reason", ""), "note") or ""
                details["rule"] = {k: (d.get("rule") or {}).get(k) for k in ("kind", "entry", "matter")}
        elif ev.type == EventType.CONTACTED:
            details["method"] = CONTACT_METHODS.get(d.get("method"), "联系")
        elif ev.type == EventType.EXTENSION_REQUESTED:
            details["hours"] = d.get("hours")
        elif ev.type == EventType.EXTENSION_DECIDED:
            details["granted"] = bool(d.get("granted"))
            details["hours"] = d.get("hours")
        elif ev.type == EventType.ARBITRATED:
            details["decision"] = d.get("decision")
            details["shirking"] = bool(d.get("shirking"))
            department = d.get("department")
        elif ev.type == EventType.RATED:
            details["satisfaction"] = SATISFACTION_LABELS.get(d.get("satisfaction"), "")
            details["solved"] = bool(d.get("solved"))
            details["via"] = "诉求人评价" if d.get("via") == "citizen" else "回访电话"
        elif ev.type == EventType.OVERDUE:
            details["deadline"] = DEADLINE_LABELS.get(d.get("deadline"), d.get("deadline"))
            details["due"] = d.get("due")
        elif ev.type == EventType.SUPERVISED:
            details["level"] = int(d.get("level", 0))
            details["name"] = d.get("name")
        elif ev.type == EventType.MODERATED:
            details["decision"] = MODERATION_LABELS.get(d.get("decision"), "")
            text = clean(d.get("reason"), "note")
        elif ev.type == EventType.LINKED:
            if not is_public(d.get("ticket", "")):
                continue
            details["ticket"] = d["ticket"]
            details["relation"] = d.get("relation")
        elif ev.type == EventType.CLOSED:
            details["reason"] = CLOSE_REASONS.get(d.get("reason"), "结案")
        role = str(ev.actor.role)
        actor_label = depts[department].name if role == "department" and department in depts else ROLE_LABELS.get(role, role)
        timeline.append(
            PublicEvent(
                seq=ev.seq,
                type=str(ev.type),
                title=EVENT_TITLES[ev.type],
                at=ev.at,
                actor=actor_label,
                department=department,
                text=text,
                details=details,
                hash=ev.hash,
            )
        )
    content = clean(st.content, "content") or ""
    rating = None
    if st.rating is not None:
        rating = PublicRating(
            satisfaction=st.rating.satisfaction,
            label=SATISFACTION_LABELS[st.rating.satisfaction],
            solved=st.rating.solved,
            comment=clean(st.rating.comment, "comment") or "",
            at=st.rating.at,
        )
    category = cat.categories.get(st.category) if st.category else None
    area = cat.area_by_code.get(st.area) if st.area else None
    dept = depts.get(st.department) if st.department else None
    dl = st.deadlines
    return TicketPublic(
        id=ticket.id,
        channel=st.channel,
        channel_name=cat.channel_by_code[st.channel].name if st.channel in cat.channel_by_code else st.channel,
        client=st.client,
        category=st.category,
        category_name=category.name if category else None,
        category_top=category.top if category else None,
        priority=st.priority,
        area=st.area,
        area_name=area.name if area else None,
        street=st.street,
        lat=st.lat,
        lon=st.lon,
        received_at=st.received_at,
        updated_at=st.updated_at,
        department=st.department,
        department_name=dept.name if dept else None,
        dispatch_reason=clean(st.dispatch_reason, "note") or "",
        dispatch_rule={k: st.dispatch_rule.get(k) for k in ("kind", "entry", "matter")},
        content=content,
        status=str(st.status),
        status_label=STATUS_LABELS[st.status],
        is_open=st.is_open,
        overdue=bool(st.overdue) or st.on_time is False,
        deadlines={"sign_for": dl.sign_for, "on_site": dl.on_site, "close": dl.close} if dl else {},
        accepted_at=st.accepted_at,
        resolved_at=st.resolved_at,
        closed_at=st.closed_at,
        handling_days=round(st.handling_days, 2) if st.handling_days is not None else None,
        on_time=st.on_time,
        signed_in_time=st.signed_in_time,
        first_time_resolved=st.first_time_resolved,
        rating=rating,
        supervision_level=st.supervision_level,
        supervision_name=cat.supervision_name(st.supervision_level) if st.supervision_level else None,
        returns=len(st.returns),
        shirking=sum(1 for r in st.returns if r.get("shirking")),
        reopen_count=st.reopen_count,
        extensions=st.extensions,
        attachments=len(st.attachments),
        links=[ln for ln in st.links if is_public(ln["ticket"])],
        redacted=dict(sorted(counts.items())),
        timeline=timeline,
        last_hash=ticket.last.hash,
        events=len(ticket.events),
    )


__all__ = ["TicketPublic", "PublicEvent", "fold_repeats", "make_public", "private_literals", "repeats_summary", "Status"]

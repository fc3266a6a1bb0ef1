"""From the catalog and the public ticket view to GeoReport v2 resources.

Everything a ticket contributes comes from `generator.public.TicketPublic`, the one
redacted public view: texts are redacted, the place is the district and street only,
coordinates are the public ones (rounded to ~100 m), confidential and hidden tickets
have no view at all. Attachments are not part of the public view, so `media_url` stays
empty.
"""

from __future__ import annotations

from datetime import UTC, datetime

from generator.public import PublicEvent, TicketPublic

from ..catalog import Catalog, Category, CategoryField
from .finder import Window
from .models import (
    Attribute,
    AttributeValue,
    Note,
    RequestUpdate,
    Service,
    ServiceDefinition,
    ServiceRequest,
)

# Tickets the hotline has not classified yet: the site shows them as 其他诉求 too.
FALLBACK_SERVICE = "other.misc"
DATATYPE_HINTS = {
    "number": "数字，例如 2019",
    "datetime": "ISO 8601 日期时间，须带时区，例如 2026-11-20T09:00:00+08:00",
    "singlevaluelist": "从 values 中选一个 key",
    "multivaluelist": "从 values 中选一个或多个 key：attribute[code][]=key1&attribute[code][]=key2",
    "string": "一行文字",
    "text": "文字，可以换行",
}
REPLY_TYPES = ("replied", "resolved")


def w3(dt: datetime | None) -> str | None:
    """A timestamp in the W3C profile of ISO 8601 the standard asks for (UTC, `Z`)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def service_categories(catalog: Catalog) -> list[Category]:
    """The categories offered as services: the leaves of the tree, in catalog order."""
    return [c for c in catalog.categories.values() if c.is_leaf]


def group_name(catalog: Catalog, category: Category) -> str:
    return catalog.categories[category.top].name


def service(catalog: Catalog, category: Category) -> Service:
    return Service(
        service_code=category.code,
        service_name=category.name,
        description=category.description,
        metadata=bool(category.fields),
        keywords=",".join(category.keywords),
        group=group_name(catalog, category),
    )


def attribute(field: CategoryField, order: int) -> Attribute:
    values = None
    if field.datatype in ("singlevaluelist", "multivaluelist"):
        values = [AttributeValue(key=v.key, name=v.name) for v in field.values]
    return Attribute(
        variable=True,
        code=field.code,
        datatype=field.datatype,
        required=field.required,
        datatype_description=DATATYPE_HINTS[field.datatype],
        order=order,
        description=field.name,
        values=values,
    )


def definition(category: Category) -> ServiceDefinition:
    return ServiceDefinition(
        service_code=category.code,
        attributes=[attribute(f, i) for i, f in enumerate(category.fields, start=1)],
    )


def address(catalog: Catalog, p: TicketPublic) -> str | None:
    """District and street only: the exact address never leaves the store."""
    if not p.area_name:
        return None
    return f"{catalog.city.name}{p.area_name}{p.street or ''}"


def latest_reply(p: TicketPublic) -> str | None:
    for ev in reversed(p.timeline):
        if ev.type in REPLY_TYPES and ev.text:
            return ev.text
    return None


def note_text(ev: PublicEvent) -> str:
    """One line for a timeline step, as the ticket page tells it."""
    d = ev.details
    parts = [ev.title]
    if ev.type == "received" and d.get("channel"):
        parts.append(f"（{d['channel']}）")
    elif ev.type == "dispatched" and d.get("why") and not ev.text:
        parts.append(f"：{d['why']}")  # the dispatcher's own words (catalog text)
    elif ev.type == "contacted" and d.get("method"):
        parts.append(f"：{d['method']}")
    elif ev.type == "rated":
        solved = "已解决" if d.get("solved") else "未解决"
        parts.append(f"：{d.get('satisfaction', '')}，{solved}")
    elif ev.type == "overdue" and d.get("deadline"):
        parts.append(f"：{d['deadline']}")
    elif ev.type == "supervised" and d.get("name"):
        parts.append(f"：{d['name']}")
    elif ev.type == "closed" and d.get("reason"):
        parts.append(f"：{d['reason']}")
    elif ev.type == "moderated" and d.get("decision"):
        parts.append(f"：{d['decision']}")
    elif ev.type == "extension_decided":
        parts.append("：同意延期" if d.get("granted") else "：不同意延期")
    elif ev.type == "linked" and d.get("ticket"):
        parts.append(f"：{d['ticket']}")
    text = "".join(parts)
    if ev.actor and ev.type not in ("received", "dispatched", "redispatched"):
        text = f"{text}（{ev.actor}）"
    if ev.text:
        text = f"{text} {ev.text}"
    return text


def dispatch_notice(p: TicketPublic) -> str | None:
    """Why the current department has the ticket, from the redacted timeline.

    (Not `TicketPublic.dispatch_reason`: after a redispatch that is the staff's own text
    as typed; the timeline carries it redacted.)
    """
    for ev in reversed(p.timeline):
        if ev.type == "redispatched":
            return ev.text or None
        if ev.type == "dispatched":
            return ev.details.get("why") or None
    return None


def notes(p: TicketPublic) -> list[Note]:
    return [Note(datetime=w3(ev.at), description=note_text(ev), type=ev.type) for ev in p.timeline]


def service_request(
    catalog: Catalog, p: TicketPublic, *, extensions: bool = False
) -> ServiceRequest:
    code = p.category or FALLBACK_SERVICE
    category = catalog.categories.get(code)
    closed = p.status == "closed"
    extended = None
    if extensions:
        extended = {
            "channel": p.channel,
            "channel_name": p.channel_name,
            "client": p.client,
            "status_label": p.status_label,
            "department": p.department,
            "area": p.area,
            "street": p.street,
            "supervision_level": p.supervision_level,
            "overdue": p.overdue,
        }
    return ServiceRequest(
        service_request_id=p.id,
        status="closed" if closed else "open",
        status_notes=latest_reply(p) or p.status_label,
        service_name=category.name if category else (p.category_name or "其他诉求"),
        service_code=code,
        description=p.content,
        agency_responsible=p.department_name,
        service_notice=dispatch_notice(p),
        requested_datetime=w3(p.received_at),
        updated_datetime=w3(p.closed_at if closed and p.closed_at else p.updated_at),
        expected_datetime=w3(p.deadlines.get("close")),
        address=address(catalog, p),
        address_id=p.area,
        lat=round(p.lat, 3) if p.lat is not None else None,
        long=round(p.lon, 3) if p.lon is not None else None,
        extended_attributes=extended,
        notes=notes(p) if extensions else None,
    )


def updates(p: TicketPublic) -> list[tuple[datetime, RequestUpdate]]:
    """Every public step of the ticket as an update, with the request's status after it."""
    out = []
    closed = False
    for ev in p.timeline:
        if ev.type == "closed":
            closed = True
        elif ev.type == "reopened":
            closed = False
        out.append(
            (
                ev.at,
                RequestUpdate(
                    update_id=f"{p.id}-{ev.seq}",
                    service_request_id=p.id,
                    status="closed" if closed else "open",
                    updated_datetime=w3(ev.at),
                    description=note_text(ev),
                ),
            )
        )
    return out


def updates_in(views: list[TicketPublic], window: Window) -> list[RequestUpdate]:
    """The updates of these tickets that fall in the window, oldest first."""
    found = [u for p in views for at, u in updates(p) if at in window]
    return sorted(found, key=lambda u: (u.updated_datetime, u.update_id))

"""One compact, public row per ticket, and the listing buckets a row belongs to.

Listings are fixed buckets so that one change touches only a few pages:
- `day/<date>/<chunk>`: every public ticket received that day, 1000 ids per chunk;
- `status/<open|overdue|closed>/<date>/<chunk>`;
- `department/<code>/<date>`, `category/<top>/<date>`, `area/<code>/<date>`;
plus the index page of each value (`department/<code>`, ...), which shows its latest
tickets and its calendar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from operator import attrgetter

from intake_api.clock import local

from .config import CHUNK
from .public import TicketPublic

SNIPPET = 80


@dataclass(frozen=True)
class Row:
    id: str
    day: str  # YYYY-MM-DD, Asia/Shanghai, of receipt
    month: str  # YYYY-MM
    chunk: int
    received_at: str  # ISO UTC
    updated_at: str
    closed_at: str | None
    channel: str
    category: str | None
    category_top: str | None
    area: str | None
    street: str | None
    department: str | None
    status: str  # listing status: open | overdue | closed
    workflow_status: str
    title: str
    snippet: str
    accepted_in_time: int | None
    on_time: int | None
    satisfaction: str | None
    solved: int | None
    first_time: int | None
    handling_days: float | None
    returns: int
    shirking: int
    reopens: int
    supervision: int
    events: int
    last_hash: str

    def as_tuple(self) -> tuple:
        return _row_values(self)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]


_row_values = attrgetter(*Row.columns())  # a Row's values as a tuple, in column order


def listing_status(p: TicketPublic) -> str:
    if not p.is_open:
        return "closed"
    return "overdue" if p.overdue else "open"


def _iso(dt) -> str | None:
    return dt.isoformat() if dt else None


def row_for(p: TicketPublic) -> Row:
    day = local(p.received_at).date().isoformat()
    seq = int(p.id[-6:])
    snippet = p.content.replace("\n", " ")
    if len(snippet) > SNIPPET:
        snippet = snippet[:SNIPPET] + "…"
    return Row(
        id=p.id,
        day=day,
        month=day[:7],
        chunk=(seq - 1) // CHUNK + 1,
        received_at=_iso(p.received_at),
        updated_at=_iso(p.updated_at),
        closed_at=_iso(p.closed_at),
        channel=p.channel,
        category=p.category,
        category_top=p.category_top,
        area=p.area,
        street=p.street,
        department=p.department,
        status=listing_status(p),
        workflow_status=p.status,
        title=p.title,
        snippet=snippet,
        accepted_in_time=None if p.signed_in_time is None else int(p.signed_in_time),
        on_time=None if p.on_time is None else int(p.on_time),
        satisfaction=p.rating.satisfaction if p.rating else None,
        solved=None if p.rating is None else int(p.rating.solved),
        first_time=None if p.first_time_resolved is None else int(p.first_time_resolved),
        handling_days=p.handling_days,
        returns=p.returns,
        shirking=p.shirking,
        reopens=p.reopen_count,
        supervision=p.supervision_level,
        events=p.events,
        last_hash=p.last_hash,
    )


def buckets(row: Row | None) -> set[str]:
    """The listing pages a row appears on (empty for None: a non-public ticket)."""
    if row is None:
        return set()
    out = {
        # (The other pages of the day list this one in their pager: when it appears or
        # empties, the build renders them too, see build._linked_buckets.)
        f"day/{row.day}/{row.chunk}",
        f"status/{row.status}/{row.day}/{row.chunk}",
        "home",
        "tickets",
        "departments",
    }
    for dim, value in (("department", row.department), ("category", row.category_top), ("area", row.area)):
        if value:
            out.add(f"{dim}/{value}/{row.day}")
            out.add(f"{dim}/{value}")
    out.add(f"status/{row.status}")
    return out


def sitemap_buckets(old: Row | None, new: Row | None) -> set[str]:
    """The day sitemaps a change alters. They list each ticket's id and the date of its
    last change, nothing else, so a change within the same day and date alters none."""
    if old and new and old.day == new.day and old.updated_at[:10] == new.updated_at[:10]:
        return set()
    return {f"sitemap/{r.day}" for r in (old, new) if r is not None}

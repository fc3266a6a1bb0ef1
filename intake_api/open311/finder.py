"""Finding public requests and updates in a time window without scanning the store.

- GET requests: the window (at most 90 days) names the store's day folders
  (`tickets/YYYY/MM/DD`, the day of receipt in Asia/Shanghai); they are walked newest
  first and the walk stops as soon as the page is full.
- servicerequestupdates: the window names the change journal's day segments; only the
  tickets written in the window are read. (Tickets loaded in bulk, such as demo data,
  are journaled when they are loaded: their earlier history is found by windows that
  cover the load, not by older ones.)

Two per-process caches make repeated questions cheap: a small summary per ticket (read
straight from its JSON: enough to filter on) and the rendered public view of the
tickets answered lately. Both are invalidated from the change journal, written by every
process before it stores a change, so a cache never serves a version older than one
the journal has announced. A request may spend at most `read_budget` units on cache
misses (a summary costs 1, a redacted view 10: it runs the redactor over every text);
a window that would need more is refused with a 400 that asks for a narrower one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from generator.public import TicketPublic

from ..clock import format_ts, local, parse_ts
from ..errors import ApiError
from ..store import CorruptTicket, InvalidTicketId, Store, TicketNotFound
from ..views import Publisher
from .errors import Open311Error, bad_request

log = logging.getLogger(__name__)

# Event types after which a ticket is no longer closed (mirrors model._apply).
REOPENING = {
    "received",
    "dispatched",
    "redispatched",
    "reopened",
    "returned",
    "accepted",
    "resolved",
}
# How long after an event its journal line may be written (same clock, one write).
JOURNAL_LAG = timedelta(minutes=10)
SEEN_MAX = 500_000
SUMMARY_COST, VIEW_COST = 1, 10  # ~0.1 ms and ~2 ms per ticket, measured on demo data


@dataclass(frozen=True)
class Summary:
    """What Open311 filters on, read cheaply from a ticket's raw JSON."""

    seq: int
    public: bool
    category: str | None
    closed: bool
    received: datetime
    updated: datetime


_NEVER = datetime.min.replace(tzinfo=UTC)
UNREADABLE = Summary(0, False, None, False, _NEVER, _NEVER)


def summarize(raw: dict) -> Summary:
    """Fold the few fields Open311 filters on (a test holds it equal to `derive_state`)."""
    events = raw["events"]
    first = events[0]["data"]
    category = first.get("category")
    confidential = bool(first.get("confidential"))
    hidden = closed = False
    for ev in events:
        kind, data = ev["type"], ev.get("data") or {}
        if kind in ("dispatched", "redispatched", "reopened") and data.get("category"):
            category = data["category"]
        if kind == "closed":
            closed = True
        elif kind in REOPENING or (kind == "arbitrated" and data.get("decision") == "rejected"):
            closed = False
        elif kind == "moderated":
            decision = data.get("decision")
            if decision == "confidential":
                confidential = True
            elif decision in ("hide", "unhide"):
                hidden = decision == "hide"
    return Summary(
        seq=events[-1]["seq"],
        public=not (confidential or hidden),
        category=category,
        closed=closed,
        received=parse_ts(events[0]["at"]),
        updated=parse_ts(events[-1]["at"]),
    )


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __contains__(self, when: datetime) -> bool:
        return self.start <= when <= self.end

    def local_days(self) -> list[str]:
        """The store's day folders that can hold tickets received in the window, newest first."""
        first = local(self.start - timedelta(days=1)).date()
        last = local(self.end + timedelta(days=1)).date()
        n = (last - first).days
        return [(last - timedelta(days=i)).strftime("%Y%m%d") for i in range(n + 1)]


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, cost: int) -> None:
        self.used += cost
        if self.used > self.limit:
            raise bad_request(
                "该时间范围内需要读取的工单过多，请缩小 start_date/end_date 范围或减小 page_size"
                " (too many tickets to read for this window: narrow it)"
            )


class _Lru:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[int, object]] = OrderedDict()

    def get(self, key: str) -> tuple[int, object] | None:
        hit = self.items.get(key)
        if hit is not None:
            self.items.move_to_end(key)
        return hit

    def put(self, key: str, seq: int, value: object) -> None:
        self.items[key] = (seq, value)
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)

    def drop_older(self, key: str, seq: int) -> None:
        hit = self.items.get(key)
        if hit is not None and hit[0] < seq:
            del self.items[key]


class RequestFinder:
    def __init__(
        self,
        *,
        store: Store,
        publisher: Publisher,
        summaries: int = 200_000,
        views: int = 4_000,
        read_budget: int = 30_000,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.read_budget = read_budget
        self._lock = threading.RLock()
        self._summaries = _Lru(summaries)
        self._views = _Lru(views)
        self._seen: OrderedDict[str, int] = OrderedDict()  # latest journaled seq per ticket
        self._cursor = store.journal.head()
        self.reads = 0  # ticket files read so far (cache misses), for tests and measurements

    # -- cache upkeep --------------------------------------------------------

    def refresh(self) -> None:
        """Forget every cached ticket the journal says has changed since the last look."""
        with self._lock:
            changes, self._cursor = self.store.journal.read_since(self._cursor)
            for ch in changes:
                if self._seen.get(ch.ticket_id, 0) < ch.seq:
                    self._seen[ch.ticket_id] = ch.seq
                    self._seen.move_to_end(ch.ticket_id)
                self._summaries.drop_older(ch.ticket_id, ch.seq)
                self._views.drop_older(ch.ticket_id, ch.seq)
            while len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)

    def _fresh(self, ticket_id: str, seq: int) -> bool:
        """Whether a version just read is as new as the journal announced (else: don't cache)."""
        return seq >= self._seen.get(ticket_id, 0)

    # -- single tickets ------------------------------------------------------

    def summary(self, ticket_id: str, budget: _Budget | None = None) -> Summary:
        with self._lock:
            hit = self._summaries.get(ticket_id)
        if hit is not None:
            return hit[1]  # type: ignore[return-value]
        if budget is not None:
            budget.spend(SUMMARY_COST)
        self.reads += 1
        try:
            summary = summarize(orjson.loads(self.store.path_for(ticket_id).read_bytes()))
        except FileNotFoundError:
            return UNREADABLE
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("open311: unreadable ticket %s: %s", ticket_id, exc)
            summary = UNREADABLE
        with self._lock:
            if self._fresh(ticket_id, summary.seq):
                self._summaries.put(ticket_id, summary.seq, summary)
        return summary

    def view(self, ticket_id: str, budget: _Budget | None = None) -> TicketPublic | None:
        """The public view, or None for a ticket Open311 must not show (or cannot read).

        Raises Open311Error (503) when the redactor cannot vouch for the ticket's texts.
        """
        with self._lock:
            hit = self._views.get(ticket_id)
        if hit is not None:
            return hit[1]  # type: ignore[return-value]
        if budget is not None:
            budget.spend(VIEW_COST)
        self.reads += 1
        try:
            ticket = self.store.get(ticket_id)
        except (TicketNotFound, InvalidTicketId):
            return None
        except CorruptTicket as exc:
            log.error("open311: corrupt ticket %s: %s", ticket_id, exc.reason)
            return None
        try:
            view = self.publisher.public(ticket)
        except ApiError as exc:
            raise Open311Error(
                exc.status_code,
                "该工单正在审核，暂不公开 (held back for review)",
                headers=exc.headers,
            ) from None
        with self._lock:
            if self._fresh(ticket_id, ticket.last.seq):
                self._views.put(ticket_id, ticket.last.seq, view)
        return view

    # -- windows -------------------------------------------------------------

    def _day_ids(self, day: str) -> list[str]:
        folder = self.store.tickets_dir / day[:4] / day[4:6] / day[6:8]
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        return sorted(
            (n[:-5] for n in names if n.endswith(".json") and not n.startswith(".")), reverse=True
        )

    def search(
        self,
        window: Window,
        *,
        services: Callable[[str | None], bool] | None = None,
        closed: bool | None = None,
        offset: int = 0,
        limit: int = 1000,
    ) -> list[TicketPublic]:
        """Public tickets received in the window, newest first, filtered, one page."""
        self.refresh()
        budget = _Budget(self.read_budget)
        ids: list[str] = []
        for ticket_id in self._received_in(window):
            s = self.summary(ticket_id, budget)
            if not s.public or s.received not in window:
                continue
            if closed is not None and s.closed != closed:
                continue
            if services is not None and not services(s.category):
                continue
            if offset:
                offset -= 1
                continue
            ids.append(ticket_id)
            if len(ids) >= limit:
                break
        return self._views_of(ids, budget)

    def lookup(self, ids: list[str]) -> list[TicketPublic]:
        """The public views of the given tickets that exist for Open311, in the given order."""
        self.refresh()
        return self._views_of(list(dict.fromkeys(ids)), _Budget(self.read_budget))

    def _received_in(self, window: Window) -> Iterator[str]:
        """Ids from the day folders the window covers, newest first (a superset)."""
        for day in window.local_days():
            yield from self._day_ids(day)

    def _views_of(self, ids: list[str], budget: _Budget) -> list[TicketPublic]:
        out = []
        for ticket_id in ids:
            try:
                view = self.view(ticket_id, budget)
            except Open311Error as exc:
                if exc.status != 503:
                    raise
                continue  # held back: it is not published anywhere either
            if view is not None:
                out.append(view)
        return out

    def changed_in(self, window: Window) -> list[str]:
        """Tickets the journal shows as written during the window (in journal order)."""
        # Journal times are the store's fixed-width UTC strings: compared as text.
        start, end = format_ts(window.start), format_ts(window.end + JOURNAL_LAG)
        last_segment = end[:10].replace("-", "")
        cursor = f"{start[:10].replace('-', '')}:0"
        seen: dict[str, None] = {}
        while True:
            changes, cursor = self.store.journal.read_since(cursor, limit=50_000)
            for ch in changes:
                if start <= ch.at <= end:
                    seen.setdefault(ch.ticket_id, None)
            if not changes or cursor.split(":", 1)[0] > last_segment:
                break
        return list(seen)

    def updates_in(self, window: Window) -> list[TicketPublic]:
        """Public views of the tickets that may have public updates in the window."""
        self.refresh()
        budget = _Budget(self.read_budget)
        ids = []
        for ticket_id in self.changed_in(window):
            s = self.summary(ticket_id, budget)
            # A ticket received after the window or last changed before it has nothing in it.
            if s.public and s.received <= window.end and s.updated >= window.start:
                ids.append(ticket_id)
        return self._views_of(ids, budget)

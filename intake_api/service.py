"""The hotline service: store, catalog, dispatcher and clock wired together.

Routes and commands call one method of `Service`; it owns the write path (validate,
build events, store under the ticket's lock).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import locks
from .catalog import Catalog, load_catalog
from .clock import Clock, SystemClock
from .dispatch import Decision, Dispatcher
from .duplicates import Match, lock_keys
from .index import OpenIndex
from .linkbacks import LinkBack, LinkBacks
from .model import SYSTEM, Actor, EventType, Ticket, TicketCreate
from .settings import Settings
from .store import Store, TicketNotFound
from .workflow import ACTION_ADAPTER, Context, new_tracking_code, open_ticket, perform, tick

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intake:
    ticket: Ticket
    tracking_code: str
    decision: Decision
    duplicate_of: Match | None = None


# Called with (ticket id, tracking code) just before a new ticket is stored, so that a
# caller (the Idempotency-Key record) can remember both; its `sync` makes that durable
# and is run by the store's group commit before the ticket goes into place.
Reserve = Callable[[str, str], None]
Sync = Callable[[], None]


class Service:
    def __init__(
        self,
        *,
        data_dir: Path,
        catalog: Catalog,
        clock: Clock | None = None,
        durable: bool = True,
        detect_duplicates: bool = True,
        background_links: bool = False,
    ) -> None:
        """`background_links`: write link-backs after the intake is answered, in batches
        (the API server); otherwise before `create` returns (scripts, tests)."""
        self.data_dir = Path(data_dir)
        self.catalog = catalog
        self.clock = clock or SystemClock()
        self.store = Store(self.data_dir, prefix=catalog.city.id_prefix, clock=self.clock, durable=durable)
        self.dispatcher = Dispatcher(catalog, self.data_dir / "rulings")
        self.ctx = Context(catalog=catalog, dispatcher=self.dispatcher, clock=self.clock)
        self.detect_duplicates = detect_duplicates
        self._index: OpenIndex | None = None
        self._index_lock = threading.Lock()
        self.links = LinkBacks(self.store, self.clock, on_write=self._linked_back, background=background_links)

    @property
    def index(self) -> OpenIndex:
        """The open-ticket index (built from the store on first use)."""
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    index = OpenIndex(self.store, self.catalog)
                    index.build()
                    self._index = index
        return self._index

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Service:
        return cls(
            data_dir=settings.data_dir,
            catalog=load_catalog(settings.catalog_path),
            clock=clock,
            durable=settings.durable,
        )

    def create(
        self,
        create: TicketCreate,
        *,
        actor: Actor,
        reserve: Reserve | None = None,
        sync: Sync | None = None,
    ) -> Intake:
        """File a new ticket: dispatch it, link it to an open one it repeats, store it durably.

        Intakes from the same citizen or place are serialised across processes (a lock
        per stripe of their keys), so that each sees the one before it in the index (via
        the journal), except a repeat of a ticket this process knows to be open, or
        learns of while it waits for the lock: it is linked to the earliest one, which
        no concurrent intake changes, and is filed without the lock, so that a storm of
        repeats (a burst main, one building's many callers) shares group commits like
        any other intake, and its first wave waits for the first report only.
        """
        code = new_tracking_code()
        keys = lock_keys(create)
        decisions: list[Decision] = []
        matches: list[Match | None] = []
        held = contextlib.ExitStack()
        locked = False

        def build(ticket_id: str) -> Ticket:
            nonlocal locked
            now = self.clock.now()
            ticket, decision = open_ticket(
                ticket_id, create, ctx=self.ctx, actor=actor, tracking_code=code, at=now
            )
            match = None
            if self.detect_duplicates:
                match = self.index.find_duplicate(ticket.state, now=now)
                if match is None and not locked:
                    # Not a repeat after all (the same citizen or place, another matter):
                    # take the lock, catch up with the other processes' intakes and look
                    # again. Received now, not before the wait: the earliest open ticket
                    # is the one filed first.
                    held.enter_context(self._duplicate_lock(keys))
                    locked = True
                    self.index.refresh()
                    now = self.clock.now()
                    ticket, decision = open_ticket(
                        ticket_id, create, ctx=self.ctx, actor=actor, tracking_code=code, at=now
                    )
                    match = self.index.find_duplicate(ticket.state, now=now)
            if match is not None:
                self.links.owe()  # durable before the repeat is: see linkbacks.py
                ticket = ticket.with_event(EventType.LINKED, at=now, actor=SYSTEM, data={
                    "ticket": match.ticket_id, "relation": "duplicate_of", "basis": match.basis,
                })
            if reserve is not None:
                reserve(ticket_id, code)
            decisions.append(decision)
            matches.append(match)
            return ticket

        with held:  # the lock, if taken, until the index holds the new ticket
            if self.detect_duplicates and not self.index.knows(keys):
                # No open ticket from this citizen or place here: not a repeat, unless
                # another process has just filed one. Serialise and catch up first.
                held.enter_context(self._duplicate_lock(keys))
                locked = True
                self.index.refresh()
                if self.index.knows(keys):
                    # Another intake from this citizen or place was filed while this one
                    # waited (the first wave of a storm): go on as a known one, without
                    # the lock, so that the wave does not file one at a time.
                    held.close()
                    locked = False
            ticket = self.store.create(build, before=sync)
            if self.detect_duplicates:
                self.index.apply(ticket)
        match = matches[-1]
        if match is not None:
            # The earlier ticket's side of the link: written after the answer, with the
            # other repeats of it queued meanwhile (see linkbacks.py).
            self.links.add([LinkBack(match.ticket_id, ticket.id, match.basis)])
        return Intake(ticket=ticket, tracking_code=code, decision=decisions[-1], duplicate_of=match)

    def _duplicate_lock(self, keys: list[str]) -> contextlib.AbstractContextManager[None]:
        stripes = sorted({locks.stripe(k) for k in keys})  # in order: no deadlock between two intakes
        return locks.hold([self.store.locks_dir / locks.stripe_name(n, "dup-") for n in stripes])

    def get(self, ticket_id: str) -> Ticket:
        """The ticket as stored, with the link-backs this process has queued for it."""
        self.links.wait(ticket_id)
        return self.store.get(ticket_id)

    def reconcile_links(self) -> int:
        """Queue the link-backs of open repeats that a stopped process had not written."""
        return self.links.reconcile(self.index.repeats)

    def _linked_back(self, ticket: Ticket) -> None:
        if self._index is not None:
            self._index.apply(ticket)

    def act(self, ticket_id: str, action: Any, *, actor: Actor) -> Ticket:
        """Perform one workflow action (a dict or a parsed action) on a ticket."""
        return self.act_step(ticket_id, action, actor=actor)[0]

    def act_step(self, ticket_id: str, action: Any, *, actor: Actor) -> tuple[Ticket, int]:
        """Perform one action; return the ticket and how many events it had before."""
        parsed = ACTION_ADAPTER.validate_python(action) if isinstance(action, dict) else action
        before: list[int] = []

        def change(t: Ticket) -> Ticket:
            before.append(len(t.events))
            return perform(t, parsed, actor=actor, ctx=self.ctx)

        ticket = self.store.update(ticket_id, change)
        if self._index is not None:
            self._index.apply(ticket)
        return ticket, before[-1]

    def tick_one(self, ticket_id: str) -> Ticket:
        ticket = self.store.update(ticket_id, lambda t: tick(t, ctx=self.ctx))
        if self._index is not None:
            self._index.apply(ticket)
        return ticket

    def tick_due(self) -> int:
        """Apply deadlines and supervision to the open tickets that are due; return how many changed."""
        index = self.index
        index.refresh()
        changed = 0
        for ticket_id in index.due(self.clock.now()):
            try:
                before = index.get(ticket_id)
                new = self.tick_one(ticket_id)
            except TicketNotFound:
                continue
            if before is None or new.last.seq != before.seq:
                changed += 1
        return changed

    def tick_all(self) -> int:
        """Apply deadlines and supervision to every open ticket that is due (for cron)."""
        return self.tick_due()

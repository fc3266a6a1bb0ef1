"""The hotline service: store, catalog, dispatcher and clock wired together.

Routes and commands call one method of `Service`; it owns the write path (validate,
build events, store under the ticket's lock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import Catalog, load_catalog
from .clock import Clock, SystemClock
from .dispatch import Decision, Dispatcher
from .model import Actor, Ticket, TicketCreate
from .settings import Settings
from .store import Store
from .workflow import ACTION_ADAPTER, Context, new_tracking_code, open_ticket, perform, tick

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intake:
    ticket: Ticket
    tracking_code: str
    decision: Decision


class Service:
    def __init__(self, *, data_dir: Path, catalog: Catalog, clock: Clock | None = None, durable: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.catalog = catalog
        self.clock = clock or SystemClock()
        self.store = Store(self.data_dir, prefix=catalog.city.id_prefix, clock=self.clock, durable=durable)
        self.dispatcher = Dispatcher(catalog, self.data_dir / "rulings")
        self.ctx = Context(catalog=catalog, dispatcher=self.dispatcher, clock=self.clock)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Service:
        return cls(
            data_dir=settings.data_dir,
            catalog=load_catalog(settings.catalog_path),
            clock=clock,
            durable=settings.durable,
        )

    def create(self, create: TicketCreate, *, actor: Actor) -> Intake:
        """File a new ticket: dispatch it and store it durably."""
        code = new_tracking_code()
        decisions: list[Decision] = []

        def build(ticket_id: str) -> Ticket:
            ticket, decision = open_ticket(
                ticket_id, create, ctx=self.ctx, actor=actor, tracking_code=code, at=self.clock.now()
            )
            decisions.append(decision)
            return ticket

        ticket = self.store.create(build)
        return Intake(ticket=ticket, tracking_code=code, decision=decisions[-1])

    def act(self, ticket_id: str, action: Any, *, actor: Actor) -> Ticket:
        """Perform one workflow action (a dict or a parsed action) on a ticket."""
        parsed = ACTION_ADAPTER.validate_python(action) if isinstance(action, dict) else action
        return self.store.update(ticket_id, lambda t: perform(t, parsed, actor=actor, ctx=self.ctx))

    def tick_one(self, ticket_id: str) -> Ticket:
        return self.store.update(ticket_id, lambda t: tick(t, ctx=self.ctx))

    def tick_all(self) -> int:
        """Apply deadlines and supervision to every open ticket; return how many changed."""
        changed = 0
        for ticket in self.store.scan():
            if not ticket.state.is_open:
                continue
            new = self.store.update(ticket.id, lambda t: tick(t, ctx=self.ctx))
            if len(new.events) != len(ticket.events):
                changed += 1
        return changed

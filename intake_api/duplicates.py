"""Duplicate detection: a new ticket that repeats an open one is linked to it.

Two tickets are duplicates when they concern the same matter (the dispatched category,
or the duty-list entry if no category is known) and come from the same citizen (phone
number, normalised) or the same place (exact address, normalised), and the earlier one
is still open and was received within the catalog's `sla.duplicate_window_hours`.

This module only computes keys; `index.OpenIndex` keeps them for the open tickets.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .model import TicketCreate, TicketState

_NOT_DIGIT = re.compile(r"\D")


def phone_key(phone: str | None) -> str | None:
    """Digits of a phone number without the +86/0086 country prefix."""
    if not phone:
        return None
    digits = _NOT_DIGIT.sub("", unicodedata.normalize("NFKC", phone))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 11:
            digits = digits[len(prefix) :]
            break
    return digits if len(digits) >= 5 else None


def address_key(address: str | None) -> str | None:
    """An address with case, width, spaces and punctuation folded away."""
    if not address:
        return None
    text = unicodedata.normalize("NFKC", address).lower()
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")
    return kept if len(kept) >= 4 else None


def matter_of(state: TicketState) -> str | None:
    if state.category:
        return f"cat:{state.category}"
    entry = (state.dispatch_rule or {}).get("entry")
    return f"entry:{entry}" if entry else None


def keys_for(state: TicketState) -> tuple[str, ...]:
    """The duplicate keys of a ticket: (who or where) x matter."""
    matter = matter_of(state)
    if matter is None:
        return ()
    out = []
    phone = phone_key(state.private.citizen_phone)
    if phone:
        out.append(f"phone:{phone}|{matter}")
    addr = address_key(state.private.address)
    if addr:
        out.append(f"addr:{addr}|{matter}")
    return tuple(out)


def lock_keys(create: TicketCreate) -> list[str]:
    """Who and where of an intake, before dispatch: what concurrent intakes must not race on."""
    keys = [f"phone:{phone_key(create.citizen_phone)}", f"addr:{address_key(create.address)}"]
    return sorted(k for k in keys if not k.endswith(":None"))


@dataclass(frozen=True)
class Match:
    ticket_id: str
    basis: str  # "same_citizen" or "same_address"

    @classmethod
    def from_key(cls, ticket_id: str, key: str) -> Match:
        return cls(ticket_id, "same_citizen" if key.startswith("phone:") else "same_address")

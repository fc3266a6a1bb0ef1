"""Idempotency-Key for intake: a retried request files its ticket once.

A record per (token, key) holds the fingerprint of the request body, the ticket id and
the tracking code. It is written durably *before* the ticket file is linked into place
(through `Service.create(reserve=...)`), under a cross-process lock for the key, so:

- same key, same body: the ticket the first request filed is answered again (from its
  creation events), nothing is created;
- same key, other body: 422;
- same key at the same time in two processes: the second waits for the first, then
  gets its answer;
- a crash between the record and the ticket: the retry finds no ticket under the
  recorded id and files it.

Records live in the secrets folder (they hold tracking codes, which are credentials),
never in data/, and are pruned after `ttl_hours`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from .clock import Clock, SystemClock, format_ts
from .errors import ApiError
from .groupcommit import BatchFailed, GroupCommit
from .journal import _fsync_dir
from .model import Actor, EventType, Ticket, TicketCreate
from .service import Service

log = logging.getLogger(__name__)

KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"
KEY_RE = re.compile(KEY_PATTERN)
LOCK_STRIPES = 256


def fingerprint(payload: object) -> str:
    """SHA-256 of the canonical JSON of a validated request."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def creation_view(ticket: Ticket) -> Ticket:
    """The ticket as it was when filed: received, dispatched and a duplicate link."""
    n = 2
    if len(ticket.events) > 2:
        ev = ticket.events[2]
        if (
            ev.type == EventType.LINKED
            and ev.data.get("relation") == "duplicate_of"
            and ev.at == ticket.events[0].at
        ):
            n = 3
    return Ticket(v=ticket.v, id=ticket.id, events=ticket.events[:n])


@dataclass
class Slot:
    """The claim on one key while its request runs."""

    path: Path
    fingerprint: str
    ticket_id: str | None = None
    tracking_code: str | None = None
    _store: IdempotencyRecords | None = None

    def reserve(self, ticket_id: str, tracking_code: str) -> None:
        """Remember the id and code durably before the ticket is stored."""
        assert self._store is not None
        self._store._write(
            self.path,
            {
                "fingerprint": self.fingerprint,
                "ticket_id": ticket_id,
                "tracking_code": tracking_code,
                "created": format_ts(self._store.clock.now()),
            },
        )
        self.ticket_id, self.tracking_code = ticket_id, tracking_code


class IdempotencyRecords:
    def __init__(
        self, root: Path, *, clock: Clock | None = None, ttl_hours: float = 24, durable: bool = True
    ) -> None:
        self.root = Path(root)
        self.clock = clock or SystemClock()
        self.ttl_seconds = ttl_hours * 3600
        self.durable = durable
        # Concurrent intakes share the sync of the records' folder (one per batch).
        self._dir_sync: GroupCommit[Path] = GroupCommit(_sync_dirs)

    def _paths(self, scope: str, key: str) -> tuple[Path, Path]:
        digest = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
        stripe = int(digest[:4], 16) % LOCK_STRIPES
        return self.root / f"{digest}.json", self.root / ".locks" / f"{stripe:03d}.lock"

    @contextlib.contextmanager
    def claim(self, *, scope: str, key: str, fingerprint: str) -> Iterator[Slot]:
        """Hold the key's lock; yield its slot (with the earlier ticket id if any)."""
        if not KEY_RE.fullmatch(key):
            raise ApiError(
                422,
                "validation_error",
                "Idempotency-Key must be 1-200 visible ASCII characters",
                field="Idempotency-Key",
            )
        path, lock_path = self._paths(scope, key)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path.parent.mkdir(exist_ok=True, mode=0o700)
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            slot = Slot(path=path, fingerprint=fingerprint, _store=self)
            record = self._read(path)
            if record is not None:
                if record.get("fingerprint") != fingerprint:
                    raise ApiError(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was already used with a different request body",
                        field="Idempotency-Key",
                    )
                slot.ticket_id = record.get("ticket_id")
                slot.tracking_code = record.get("tracking_code")
            yield slot

    def _read(self, path: Path) -> dict | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        if time.time() - path.stat().st_mtime > self.ttl_seconds:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("ignoring unreadable idempotency record %s", path.name)
            return None

    def _write(self, path: Path, record: dict) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, orjson.dumps(record))
            if self.durable:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.durable:
            try:
                self._dir_sync.submit(path.parent)  # returns once a sync after the rename is done
            except BatchFailed as exc:  # the sync's own error (a full or failing disk)
                raise exc.__cause__ from None

    def prune(self) -> int:
        """Delete records older than the time to live; return how many."""
        if not self.root.exists():
            return 0
        cutoff = time.time() - self.ttl_seconds
        n = 0
        for entry in os.scandir(self.root):
            if entry.is_file() and entry.name.endswith((".json", ".tmp")):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        n += 1
        return n


def _sync_dirs(dirs: list[Path]) -> None:
    for d in dict.fromkeys(dirs):
        _fsync_dir(d)


def file_ticket(
    service: Service,
    records: IdempotencyRecords,
    create: TicketCreate,
    *,
    actor: Actor,
    scope: str,
    key: str | None,
) -> tuple[Ticket, str, bool]:
    """File a ticket at most once per key; return (ticket as filed, tracking code, replayed)."""
    if key is None:
        intake = service.create(create, actor=actor)
        return intake.ticket, intake.tracking_code, False
    fp = fingerprint(create.model_dump(mode="json"))
    with records.claim(scope=scope, key=key, fingerprint=fp) as slot:
        if slot.ticket_id and slot.tracking_code and service.store.exists(slot.ticket_id):
            ticket = service.store.get(slot.ticket_id)
            return creation_view(ticket), slot.tracking_code, True
        intake = service.create(create, actor=actor, reserve=slot.reserve)
        return intake.ticket, intake.tracking_code, False

"""Idempotency-Key for intake: a retried request files its ticket once.

A record per (token, key) holds the fingerprint of the request body, the ticket id and
the tracking code. It is made durable *before* the ticket file is linked into place
(through `Service.create(reserve=..., sync=...)`), under a cross-process lock for the
key, so:

- same key, same body: the ticket the first request filed is answered again (from its
  creation events), nothing is created;
- same key, other body: 422;
- same key at the same time in two processes: the second waits for the first, then
  gets its answer;
- a crash between the record and the ticket: the retry finds no ticket under the
  recorded id and files it.

The records log is the only copy: one line per record, appended to `log/YYYYMMDDHH.jsonl`
(UTC hours) with a single `write`. The store's group commit syncs it (`sync_log`, one
`fdatasync` for the whole batch) before the batch's tickets go into place, so a stored
ticket's record is always in the synced log. Each process keeps the live records in
memory and, holding a key's lock, first reads the lines appended since it last looked
(by any process: whoever used the key before appended its line under the same lock).
There is no file per key: that was a new inode, a rename and a failed open per keyed
intake (measured in turns: 0.1 ms of system time, about 6% of a keyed intake's CPU in
the store), and a folder of a day's records to list when pruning.
Hourly segments are deleted once all their lines are older than the time to live.

Records live in the secrets folder (they hold tracking codes, which are credentials),
never in data/, and are forgotten after `ttl_hours`.
"""

from __future__ import annotations

import calendar
import contextlib
import errno
import functools
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from . import locks
from .clock import Clock, SystemClock, format_ts
from .errors import ApiError
from .fileio import read_from
from .model import Actor, EventType, Ticket, TicketCreate
from .service import Service

log = logging.getLogger(__name__)

KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"
KEY_RE = re.compile(KEY_PATTERN)


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

    name: str  # the record's name in the log: the digest of (token, key)
    fingerprint: str
    ticket_id: str | None = None
    tracking_code: str | None = None
    _store: IdempotencyRecords | None = None

    def reserve(self, ticket_id: str, tracking_code: str) -> None:
        """Remember the id and code (durable once the store's group commit calls
        `sync_log`, before the ticket goes into place)."""
        assert self._store is not None
        self._store._write(
            self.name,
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
        self.log_dir = self.root / "log"
        # Log segments (and folders) written since the last sync: concurrent intakes share
        # one sync per batch of the store's group commit.
        self._dirty: dict[Path, None] = {}
        self._dirty_lock = threading.Lock()
        self._append: tuple[Path, int, int] | None = None  # (segment, pid, fd) open for appends
        self._append_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        # The live records read from the log: name -> (time written, record); and how far
        # each segment has been read.
        self._live: dict[str, tuple[float, dict]] = {}
        self._read_to: dict[str, int] = {}
        self._read_all: set[str] = set()  # segments of hours long past, read to the end
        self._read_lock = threading.Lock()

    def _name(self, scope: str, key: str) -> str:
        return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()

    def _lock_path(self, name: str) -> Path:
        return self.root / ".locks" / locks.stripe_name(int(name[:4], 16) % locks.STRIPES)

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
        name = self._name(scope, key)
        lock_path = self._lock_path(name)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path.parent.mkdir(exist_ok=True, mode=0o700)
        with locks.hold([lock_path]):
            slot = Slot(name=name, fingerprint=fingerprint, _store=self)
            record = self.get(name)
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

    def get(self, name: str) -> dict | None:
        """The live record of this name, as of every line appended so far."""
        self.load()
        with self._read_lock:
            entry = self._live.get(name)
        if entry is None or entry[0] < time.time() - self.ttl_seconds:
            return None
        return entry[1]

    def load(self) -> int:
        """Read the lines appended since the last call (by any process); return how many
        records are live. A server runs it at start, so its first request reads little."""
        now = time.time()
        cutoff = now - self.ttl_seconds
        with self._read_lock:
            names = self._segment_names()
            if set(self._read_to) - set(names):  # a segment was pruned
                self._read_to = {n: off for n, off in self._read_to.items() if n in names}
                self._read_all &= set(names)
                self._live = {k: v for k, v in self._live.items() if v[0] >= cutoff}
            for name in names:
                if name in self._read_all or _segment_end(name) < cutoff:
                    continue  # read, or every line of it is older than the time to live
                if now > _segment_end(name) + LATE_SECONDS:
                    self._read_all.add(name)  # nobody appends to it any more: read it once more
                start = self._read_to.get(name, 0)
                try:
                    data = read_from(self.log_dir / name, start)
                except FileNotFoundError:
                    continue  # pruned meanwhile
                end = data.rfind(b"\n") + 1  # complete lines only: a writer may be midway
                for raw in data[:end].split(b"\n"):
                    if raw:
                        self._take(raw, cutoff)
                self._read_to[name] = start + end
            return len(self._live)

    def _take(self, raw: bytes, cutoff: float) -> None:
        try:
            line = orjson.loads(raw)
            name, written, record = line["name"], float(line["written"]), line["record"]
            name = name.removesuffix(".json")  # as earlier versions named their record files
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return  # a line a crash or a full disk cut short
        if written >= cutoff and _is_record_name(name) and isinstance(record, dict):
            self._live[name] = (written, record)  # a later line of a name replaces it

    def _write(self, name: str, record: dict) -> None:
        """Append the record's line to the log (not synced: `sync_log` does that, from
        the store's group commit, before the ticket is placed)."""
        written = time.time()
        line = orjson.dumps({"name": name, "written": written, "record": record})
        seg = self.log_dir / f"{time.strftime('%Y%m%d%H', time.gmtime(written))}.jsonl"
        # One write, so lines of concurrent writers never mix; the leading newline ends a
        # line that a failed write (a full disk) cut short.
        data = b"\n" + line + b"\n"
        with self._append_lock:
            fd = self._segment_fd(seg)
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write to the idempotency log", str(seg))
        with self._dirty_lock:
            self._dirty[seg] = None

    def _segment_fd(self, seg: Path) -> int:
        """The hour's segment, kept open for appending (one system call per line, not
        five); opened again when the hour turns, and in a forked process."""
        if self._append is not None and self._append[:2] == (seg, os.getpid()):
            return self._append[2]
        if self._append is not None and self._append[1] == os.getpid():
            os.close(self._append[2])
        self._append = None
        new_dir = not self.log_dir.is_dir()
        if new_dir:
            self.log_dir.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(seg, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        new_segment = os.fstat(fd).st_size == 0
        with self._dirty_lock:
            if new_segment:  # the segment's name must last too
                self._dirty[self.log_dir] = None
            if new_dir:
                self._dirty[self.root] = None
        self._append = (seg, os.getpid(), fd)
        return fd

    def close(self) -> None:
        """Close the segment kept open for appends (a server's shutdown)."""
        with self._append_lock:
            if self._append is not None and self._append[1] == os.getpid():
                os.close(self._append[2])
            self._append = None

    def sync_log(self) -> None:
        """Make every line this process appended so far durable (one sync per segment)."""
        with self._sync_lock:  # a sync that returns covers every line appended before it
            with self._dirty_lock:
                dirty, self._dirty = self._dirty, {}
            if not self.durable:
                return
            try:
                for path in dirty:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        if path.suffix == ".jsonl":
                            os.fdatasync(fd)
                        else:  # a folder
                            os.fsync(fd)
                    finally:
                        os.close(fd)
            except OSError:
                with self._dirty_lock:  # the next sync tries them again
                    self._dirty = dirty | self._dirty
                raise

    def _segment_names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.log_dir) if _SEGMENT_RE.fullmatch(n))
        except FileNotFoundError:
            return []

    def prune(self) -> int:
        """Delete the log segments whose lines are all older than the time to live, and the
        record files of earlier versions (one per key); return how many files went."""
        if not self.root.exists():
            return 0
        cutoff = time.time() - self.ttl_seconds
        n = 0
        for name in self._segment_names():
            if _segment_end(name) < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    (self.log_dir / name).unlink()
                    n += 1
        for entry in os.scandir(self.root):
            if entry.is_file() and entry.name.endswith((".json", ".tmp")):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        n += 1
        self.load()  # and forget the expired records
        return n


# A line is appended right after its time is taken, so a segment's last line comes within
# this long after its hour ends (a process paused by the machine may take seconds).
LATE_SECONDS = 60.0
_SEGMENT_RE = re.compile(r"[0-9]{10}\.jsonl")
_NAME_RE = re.compile(r"[0-9a-f]{64}")


@functools.lru_cache(maxsize=64)
def _segment_end(name: str) -> float:
    """When the hour of a segment (`YYYYMMDDHH.jsonl`, UTC) ends."""
    return calendar.timegm(time.strptime(name[:10], "%Y%m%d%H")) + 3600


def _is_record_name(name: object) -> bool:
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


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
        intake = service.create(create, actor=actor, reserve=slot.reserve, sync=records.sync_log)
        return intake.ticket, intake.tracking_code, False

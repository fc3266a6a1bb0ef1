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

Durably, without a sync of its own: the record's file (`<digest>.json`, what a request
looks up) is renamed into place unsynced, and its line is appended to the records log
(`log/YYYYMMDDHH.jsonl`, UTC hours). The store's group commit syncs the log
(`sync_log`, one `fdatasync` for the whole batch) before the batch's tickets go into
place, so a stored ticket's record is always in the synced log. `recover()`, run when a
server starts, rewrites from the log every record whose file a crash lost or left stale.
The log covers every live record: hourly segments are deleted once all their lines are
older than the time to live.

Records live in the secrets folder (they hold tracking codes, which are credentials),
never in data/, and are pruned after `ttl_hours`.
"""

from __future__ import annotations

import calendar
import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from . import locks
from .clock import Clock, SystemClock, format_ts
from .errors import ApiError
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

    path: Path
    fingerprint: str
    ticket_id: str | None = None
    tracking_code: str | None = None
    _store: IdempotencyRecords | None = None

    def reserve(self, ticket_id: str, tracking_code: str) -> None:
        """Remember the id and code (durable once the store's group commit calls
        `sync_log`, before the ticket goes into place)."""
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
        self.log_dir = self.root / "log"
        # Log segments (and folders) written since the last sync: concurrent intakes share
        # one sync per batch of the store's group commit.
        self._dirty: dict[Path, None] = {}
        self._dirty_lock = threading.Lock()
        self._sync_lock = threading.Lock()

    def _paths(self, scope: str, key: str) -> tuple[Path, Path]:
        digest = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
        return self.root / f"{digest}.json", self._lock_path(digest)

    def _lock_path(self, digest: str) -> Path:
        return self.root / ".locks" / locks.stripe_name(int(digest[:4], 16) % locks.STRIPES)

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
        with locks.hold([lock_path]):
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
        """Put the record's file in place and append its line to the log (not synced:
        `sync_log` does that, from the store's group commit, before the ticket is placed)."""
        written = time.time()
        _replace(path, orjson.dumps(record), mtime=None)
        line = orjson.dumps({"name": path.name, "written": written, "record": record})
        new_dir = not self.log_dir.is_dir()
        if new_dir:
            self.log_dir.mkdir(mode=0o700, exist_ok=True)
        seg = self.log_dir / f"{time.strftime('%Y%m%d%H', time.gmtime(written))}.jsonl"
        fd = os.open(seg, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            new_segment = os.fstat(fd).st_size == 0
            # One write, so lines of concurrent writers never mix; the leading newline
            # ends a line that a failed write (a full disk) cut short.
            data = b"\n" + line + b"\n"
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write to the idempotency log", str(seg))
        finally:
            os.close(fd)
        with self._dirty_lock:
            self._dirty[seg] = None
            if new_segment:  # the segment's name must last too
                self._dirty[self.log_dir] = None
            if new_dir:
                self._dirty[self.root] = None

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

    def recover(self) -> int:
        """Rewrite the records whose files a crash lost or left stale; return how many.

        Runs when a server starts (each worker; the key locks make that safe)."""
        latest: dict[str, dict] = {}
        cutoff = time.time() - self.ttl_seconds
        for seg in self._segments():
            for raw in seg.read_bytes().split(b"\n"):
                try:
                    line = orjson.loads(raw)
                    name, written, record = line["name"], float(line["written"]), line["record"]
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # an empty line, or one a crash or a full disk cut short
                if written >= cutoff and _is_record_name(name):
                    latest[name] = {"written": written, "record": record}
        fixed = 0
        for name, entry in latest.items():
            path = self.root / name
            with locks.hold([self._locked(name)]):
                try:
                    current = path.read_bytes()
                    newer = path.stat().st_mtime > entry["written"] + 1
                except FileNotFoundError:
                    current, newer = b"", False
                if newer:
                    continue  # written after this line (the key was used again since)
                with contextlib.suppress(orjson.JSONDecodeError):
                    if orjson.loads(current) == entry["record"]:
                        continue
                _replace(path, orjson.dumps(entry["record"]), mtime=entry["written"])
                fixed += 1
        if fixed:
            log.warning("restored %d idempotency record(s) from the records log", fixed)
        return fixed

    def _locked(self, name: str) -> Path:
        lock_path = self._lock_path(name.removesuffix(".json"))
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return lock_path

    def _segments(self) -> list[Path]:
        if not self.log_dir.is_dir():
            return []
        return sorted(p for p in self.log_dir.glob("*.jsonl") if _SEGMENT_RE.fullmatch(p.name))

    def prune(self) -> int:
        """Delete records older than the time to live; return how many."""
        if not self.root.exists():
            return 0
        cutoff = time.time() - self.ttl_seconds
        n = 0
        for seg in self._segments():  # every line of it is older than the time to live
            hour = calendar.timegm(time.strptime(seg.name[:10], "%Y%m%d%H"))
            if hour + 3600 < cutoff:
                seg.unlink(missing_ok=True)
        for entry in os.scandir(self.root):
            if entry.is_file() and entry.name.endswith((".json", ".tmp")):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        n += 1
        return n


_SEGMENT_RE = re.compile(r"[0-9]{10}\.jsonl")
_NAME_RE = re.compile(r"[0-9a-f]{64}\.json")


def _is_record_name(name: object) -> bool:
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


def _replace(path: Path, payload: bytes, *, mtime: float | None) -> None:
    """Write a file under a temporary name and rename it into place (not synced)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if os.write(fd, payload) != len(payload):
                raise OSError(errno.ENOSPC, "short write of an idempotency record", str(tmp))
        finally:
            os.close(fd)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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

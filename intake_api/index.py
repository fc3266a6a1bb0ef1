"""The in-memory index of open tickets, kept current from the change journal.

Every worker process builds it once from the store (one scan at start) and then reads
only the journal lines written since its cursor, by any process, before it answers a
question: which open ticket repeats this one, what is in a department's queue, which
tickets are due for a deadline step. No request scans the store.

A journal line is written once its ticket file is in place, but a line may still name a
change that is not visible: a write that failed after its line was appended, and was
taken back. Such tickets are re-read on the next refresh until the file catches up (or
for a minute, after which the line was a failed write).

Reading every ticket file takes minutes at a million tickets, so the index is saved to
`data/.index/open.jsonl` (its open entries and the journal cursor they reflect) after a
scan, every few minutes by the scheduler and when a worker stops. A worker that starts
loads that snapshot and replays the journal after its cursor, which reads only the
tickets changed since. The snapshot is not used (and the store is scanned) if it is
missing, unreadable, of another format, or if the journal no longer reaches its cursor;
if the SLA policy changed since, the tickets it lists are re-read.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from pydantic import ValidationError

from .catalog import Catalog
from .duplicates import Match, keys_for
from .fileio import read_from
from .model import ChainError, Ticket, TicketState
from .sla import next_due
from .store import InvalidTicketId, Store

log = logging.getLogger(__name__)

PENDING_SECONDS = 60.0
MAX_REMEMBERED = 500_000
SNAPSHOT_VERSION = 2
SNAPSHOT_NAME = Path(".index") / "open.jsonl"


@dataclass(frozen=True)
class OpenEntry:
    id: str
    seq: int
    status: str
    department: str | None
    category: str | None
    area: str | None
    priority: str
    received_at: datetime
    updated_at: datetime
    sign_for: datetime | None
    close: datetime | None
    supervision_level: int
    overdue: tuple[str, ...]
    extension_pending: bool
    confidential: bool
    hidden: bool
    summary: str
    next_due: datetime | None
    dup_keys: tuple[str, ...]
    repeat_of: str | None  # the earlier ticket this one repeats (linked duplicate_of)


def open_entry(state: TicketState, seq: int, catalog: Catalog) -> OpenEntry:
    """The index entry of an open ticket's state at event `seq`."""
    dl = state.deadlines
    return OpenEntry(
        id=state.id,
        seq=seq,
        status=str(state.status),
        department=state.department,
        category=state.category,
        area=state.area,
        priority=state.priority,
        received_at=state.received_at,
        updated_at=state.updated_at,
        sign_for=dl.sign_for if dl else None,
        close=dl.close if dl else None,
        supervision_level=state.supervision_level,
        overdue=tuple(x for x in state.overdue if x),
        extension_pending=state.extension_pending is not None,
        confidential=state.confidential,
        hidden=state.hidden,
        summary=state.content[:80],
        next_due=next_due(catalog.sla, state),
        dup_keys=keys_for(state),
        repeat_of=next((link["ticket"] for link in state.links if link["relation"] == "duplicate_of"), None),
    )


class OpenIndex:
    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        self._lock = threading.RLock()
        self._built = False
        self._cursor = ""
        self._entries: dict[str, OpenEntry] = {}
        # Last seq seen of tickets touched since start (bounded), so an older version
        # never replaces a newer one.
        self._seqs: OrderedDict[str, int] = OrderedDict()
        # Each duplicate key's open tickets in order of receipt (of two received in the
        # same millisecond, one that repeats nothing first): the earliest within the
        # window is found by bisection (a storm of repeats puts thousands under one key).
        self._by_key: dict[str, list[tuple[datetime, bool, str]]] = {}
        self._who_where: dict[str, int] = {}  # open tickets per phone or address (any matter)
        self._pending: dict[str, tuple[int, float]] = {}

    # -- maintenance ---------------------------------------------------------

    @property
    def snapshot_path(self) -> Path:
        return self.store.data_dir / SNAPSHOT_NAME

    def build(self) -> None:
        """Load the saved snapshot (or scan the store once); later changes come from the journal."""
        with self._lock:
            loaded = self._load_snapshot()
            if not loaded:
                self._scan()
        self.refresh()
        if not loaded:
            self.save()

    def _scan(self) -> None:
        started = time.perf_counter()
        cursor = self.store.journal.head()
        n = 0
        for path in self.store.paths():
            ticket = self._read_path(path)
            if ticket is not None:
                self._put(ticket.state, ticket.last.seq, remember=False)
                n += 1
        self._cursor = cursor
        self._built = True
        log.info(
            "open-ticket index: %d of %d tickets open (%.2f s)",
            len(self._entries),
            n,
            time.perf_counter() - started,
        )

    def _load_snapshot(self) -> bool:
        started = time.perf_counter()
        path = self.snapshot_path
        try:
            snap = read_snapshot(path)
        except FileNotFoundError:
            return False
        except (OSError, SnapshotError) as exc:
            log.warning("open-ticket index: %s; scanning the store", exc)
            return False
        if not self.store.journal.reaches(snap.cursor):
            log.warning(
                "open-ticket index: the journal no longer reaches the cursor %s of %s; "
                "scanning the store", snap.cursor, path,
            )
            return False
        reread = snap.sla != sla_fingerprint(self.catalog)
        for entry in snap.entries:
            try:
                if not self.store.path_for(entry.id).exists():
                    continue  # removed from the store behind the journal's back
            except InvalidTicketId:
                continue
            if reread:
                # The SLA policy changed: deadlines and next steps are worked out again.
                self._reload(entry.id, entry.seq, time.monotonic())
            else:
                self._insert(entry)
        now = time.monotonic()
        for tid, seq in snap.pending.items():
            self._pending.setdefault(tid, (seq, now))
        self._cursor = snap.cursor
        self._built = True
        log.info(
            "open-ticket index: %d open tickets from %s%s (%.2f s)",
            len(self._entries),
            path,
            ", re-read for a new SLA policy" if reread else "",
            time.perf_counter() - started,
        )
        return True

    def save(self) -> Path | None:
        """Write the snapshot a later start loads (atomically; a failure is only logged)."""
        with self._lock:
            if not self._built:
                return None
            cursor = self._cursor
            entries = list(self._entries.values())
            pending = {tid: seq for tid, (seq, _) in self._pending.items()}
        try:
            return write_snapshot(
                self.snapshot_path,
                cursor=cursor,
                entries=entries,
                pending=pending,
                sla=sla_fingerprint(self.catalog),
                durable=self.store.durable,
            )
        except OSError as exc:
            log.warning("open-ticket index: snapshot not saved: %s", exc)
            return None

    def ensure(self) -> None:
        if not self._built:
            with self._lock:
                if not self._built:
                    self.build()

    def refresh(self) -> None:
        """Apply every change journaled since the last refresh (by any process)."""
        self.ensure()
        with self._lock:
            changes, self._cursor = self.store.journal.read_since(self._cursor)
            wanted: dict[str, int] = {}
            for ch in changes:
                wanted[ch.ticket_id] = max(wanted.get(ch.ticket_id, 0), ch.seq)
            now = time.monotonic()
            for tid, (seq, since) in list(self._pending.items()):
                if now - since > PENDING_SECONDS:
                    del self._pending[tid]
                elif tid not in wanted:
                    wanted[tid] = seq
            for tid, seq in wanted.items():
                if self._seqs.get(tid, 0) >= seq:
                    self._pending.pop(tid, None)
                    continue
                self._reload(tid, seq, now)

    def _read_path(self, path) -> Ticket | None:
        try:
            return Ticket.from_json(read_from(path))
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ChainError, ValueError, KeyError, TypeError) as exc:
            log.warning("index: skipping unreadable ticket %s: %s", path, exc)
            return None

    def _reload(self, ticket_id: str, seq: int, now: float) -> None:
        try:
            path = self.store.path_for(ticket_id)
        except InvalidTicketId:
            return
        ticket = self._read_path(path)
        if ticket is None or ticket.last.seq < seq:
            self._pending.setdefault(ticket_id, (seq, now))
            if ticket is None:
                return
        else:
            self._pending.pop(ticket_id, None)
        self._put(ticket.state, ticket.last.seq)

    def apply(self, ticket: Ticket) -> None:
        """Record a ticket this process just wrote (the journal will repeat it; harmless)."""
        self.ensure()
        with self._lock:
            self._put(ticket.state, ticket.last.seq)

    def _put(self, state: TicketState, seq: int, *, remember: bool = True) -> None:
        if self._seqs.get(state.id, 0) > seq:
            return  # an older version than we already hold
        if remember or state.is_open:
            self._seqs[state.id] = seq
            self._seqs.move_to_end(state.id)
            if len(self._seqs) > MAX_REMEMBERED:
                self._seqs.popitem(last=False)
        self._remove(state.id)
        if state.is_open:
            self._insert(open_entry(state, seq, self.catalog))

    def _remove(self, ticket_id: str) -> None:
        old = self._entries.pop(ticket_id, None)
        if old is None:
            return
        item = (old.received_at, old.repeat_of is not None, ticket_id)
        for k in old.dup_keys:
            who = k.partition("|")[0]
            if self._who_where.get(who, 0) <= 1:
                self._who_where.pop(who, None)
            else:
                self._who_where[who] -= 1
            ids = self._by_key.get(k)
            if ids is not None:
                i = bisect.bisect_left(ids, item)
                if i < len(ids) and ids[i] == item:
                    del ids[i]
                if not ids:
                    del self._by_key[k]

    def _insert(self, entry: OpenEntry) -> None:
        self._remove(entry.id)
        if self._seqs.get(entry.id, 0) < entry.seq:
            self._seqs[entry.id] = entry.seq
        self._entries[entry.id] = entry
        for k in entry.dup_keys:
            who = k.partition("|")[0]
            self._who_where[who] = self._who_where.get(who, 0) + 1
            bisect.insort(self._by_key.setdefault(k, []), (entry.received_at, entry.repeat_of is not None, entry.id))

    # -- questions -----------------------------------------------------------

    def find_duplicate(self, state: TicketState, *, now: datetime) -> Match | None:
        """The earliest open ticket within the window that this one repeats, if any."""
        window = timedelta(hours=self.catalog.sla.duplicate_window_hours)
        best: tuple[datetime, bool, str, str] | None = None
        with self._lock:
            for key in keys_for(state):
                ids = self._by_key.get(key, ())
                i = bisect.bisect_left(ids, (now - window,))
                # The earliest within the window, unless that is this ticket itself.
                for received_at, repeat, tid in ids[i : i + 2]:
                    if tid != state.id:
                        cand = (received_at, repeat, tid, key)
                        if best is None or cand < best:
                            best = cand
                        break
        return Match.from_key(best[2], best[3]) if best else None

    def due(self, now: datetime) -> list[str]:
        """Open tickets with a deadline step due at `now`."""
        with self._lock:
            return sorted(
                e.id for e in self._entries.values() if e.next_due is not None and e.next_due <= now
            )

    def entries(
        self, *, department: str | None = None, status: str | None = None
    ) -> list[OpenEntry]:
        with self._lock:
            items = [
                e
                for e in self._entries.values()
                if (department is None or e.department == department)
                and (status is None or e.status == status)
            ]
        items.sort(key=lambda e: (e.close or e.received_at, e.id))
        return items

    def knows(self, who_where: list[str]) -> bool:
        """Whether an open ticket has one of these phone or address keys (`lock_keys`)."""
        with self._lock:
            return any(k in self._who_where for k in who_where)

    def repeats(self) -> list[tuple[str, str]]:
        """(repeat, earlier ticket) of every open ticket linked as a repeat."""
        with self._lock:
            return [(e.id, e.repeat_of) for e in self._entries.values() if e.repeat_of]

    def open_count(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, ticket_id: str) -> OpenEntry | None:
        with self._lock:
            return self._entries.get(ticket_id)


# -- snapshot ----------------------------------------------------------------

_TIMES = ("received_at", "updated_at", "sign_for", "close", "next_due")
_TUPLES = ("overdue", "dup_keys")
_FIELDS = tuple(f.name for f in dataclasses.fields(OpenEntry))


class SnapshotError(ValueError):
    """A snapshot file that cannot be used (the store is scanned instead)."""


@dataclass(frozen=True)
class Snapshot:
    cursor: str
    sla: str
    entries: list[OpenEntry]
    pending: dict[str, int]


def sla_fingerprint(catalog: Catalog) -> str:
    """What the entries' deadlines and next steps were worked out with."""
    return hashlib.sha256(catalog.sla.model_dump_json().encode()).hexdigest()[:16]


def write_snapshot(
    path: Path,
    *,
    cursor: str,
    entries: list[OpenEntry],
    pending: dict[str, int],
    sla: str,
    durable: bool = True,
) -> Path:
    """Write a snapshot: a header line, then one line per open entry (temp file, renamed)."""
    head = {
        "version": SNAPSHOT_VERSION,
        "cursor": cursor,
        "sla": sla,
        "count": len(entries),
        "pending": pending,
    }
    lines = [orjson.dumps(head)]
    lines += [orjson.dumps({f: getattr(e, f) for f in _FIELDS}) for e in entries]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(b"\n".join(lines) + b"\n")
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_snapshot(path: Path) -> Snapshot:
    """Read a snapshot; raise SnapshotError (saying what is wrong) if it cannot be used."""
    lines = path.read_bytes().splitlines()
    try:
        head = orjson.loads(lines[0]) if lines else None
        if not isinstance(head, dict):
            raise SnapshotError(f"{path}: no header line")
        if head.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError(
                f"{path}: format {head.get('version')!r}, this version reads {SNAPSHOT_VERSION}"
            )
        entries = [_entry_from(orjson.loads(line)) for line in lines[1:] if line.strip()]
        if head["count"] != len(entries):
            raise SnapshotError(f"{path}: {len(entries)} entries, the header says {head['count']}")
        pending = {str(k): int(v) for k, v in head["pending"].items()}
        return Snapshot(str(head["cursor"]), str(head["sla"]), entries, pending)
    except SnapshotError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc


def _entry_from(rec: dict) -> OpenEntry:
    for f in _TIMES:
        if rec[f] is not None:
            rec[f] = datetime.fromisoformat(rec[f])
    for f in _TUPLES:
        rec[f] = tuple(rec[f])
    return OpenEntry(**{f: rec[f] for f in _FIELDS})

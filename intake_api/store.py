"""The file store: one crash-safe JSON file per ticket, the only writer of data/tickets.

Layout: `tickets/YYYY/MM/DD/<id>.json` (the date is the one inside the id, Asia/Shanghai).
A write goes to a temp file in the same folder, which its writer fsyncs, then joins the
process's group commit (`groupcommit.py`): for a whole batch of writes at once, the
changes are recorded as pending in the journal, the files are renamed (or hard-linked,
for a new ticket, so that an id can never be taken twice) into place, their journal lines
are appended, and the journal and the folders are synced; only then is any write of the
batch acknowledged. Updates of one ticket are serialised across processes by a striped
`flock`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
from pydantic import ValidationError

from . import locks
from .clock import Clock, SystemClock, format_ts, local_date_str
from .fileio import read_from
from .groupcommit import GroupCommit
from .journal import QUARANTINED, Change, Journal, _fsync_dir
from .model import ID_RE, ChainError, Ticket

log = logging.getLogger(__name__)

TMP_SUFFIX = ".tmp"


class StoreError(Exception):
    """A write could not be made durable; nothing was changed."""


class TicketNotFound(KeyError):
    pass


class InvalidTicketId(ValueError):
    pass


class CorruptTicket(ValueError):
    """A ticket file that does not parse, validate or verify."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def check_id(ticket_id: str) -> str:
    """Refuse anything that is not a well-formed ticket id, before touching a file."""
    if not isinstance(ticket_id, str) or not ID_RE.fullmatch(ticket_id):
        raise InvalidTicketId(f"not a ticket id: {ticket_id!r}")
    return ticket_id


@dataclass
class ScanReport:
    """What a scan found besides valid tickets."""

    invalid: list[CorruptTicket] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    temp_removed: list[Path] = field(default_factory=list)
    replayed: list[Change] = field(default_factory=list)  # journaled late, after a crash


@dataclass(eq=False)
class _Write:
    """One ticket version on its way into the store through the group commit."""

    ticket: Ticket
    tmp: Path  # written (and synced, if durable)
    path: Path
    previous: Ticket | None  # None: a new ticket, linked so that its id is never taken twice
    taken: bool = False  # a new ticket's id was taken meanwhile: allocate another
    error: StoreError | None = None
    # Made durable with the batch, before anything goes into place (an idempotency record).
    before: Callable[[], None] | None = None

    def change(self, at: str) -> Change:
        return Change(self.ticket.id, self.ticket.last.seq, str(self.ticket.last.type), at)


def _store_error(message: str, exc: BaseException | None) -> StoreError:
    err = StoreError(f"{message}: {getattr(exc, 'strerror', None) or exc}")
    err.__cause__ = exc  # is_enospc() looks here
    return err


class _BigTickets:
    """The last bytes read or written of up to 32 recently used big tickets, with the ticket.

    An earlier ticket with thousands of repeats linked back to it is read and written for
    every batch of them, at tens of milliseconds a parse. A ticket read again unchanged
    (byte for byte) is not parsed and verified again; one that another process has
    since appended events to is parsed and verified by those events only, and an update
    serializes only its new events (`Ticket.appended`, `Ticket.to_json`). Small tickets
    are not kept.
    """

    MIN_BYTES = 64 * 1024
    MAX_ENTRIES = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[Path, tuple[bytes, Ticket]] = OrderedDict()

    def get(self, path: Path, raw: bytes) -> tuple[Ticket | None, tuple[bytes, Ticket] | None]:
        """(the ticket if these bytes are the ones kept, else None; what is kept for path)."""
        if len(raw) < self.MIN_BYTES:
            return None, None
        with self._lock:
            item = self._items.get(path)
            if item is None:
                return None, None
            self._items.move_to_end(path)
            return (item[1] if item[0] == raw else None), item

    def bytes_of(self, path: Path, ticket: Ticket) -> bytes | None:
        """The bytes kept for path, if they are this very ticket's."""
        item = self._items.get(path)  # (no lock: one lookup, and nearly every ticket is small)
        return item[0] if item is not None and item[1] is ticket else None

    def put(self, path: Path, raw: bytes, ticket: Ticket) -> None:
        if len(raw) < self.MIN_BYTES and path not in self._items:
            return  # nearly every ticket: no lock on the build's and the API's reads
        with self._lock:
            if len(raw) < self.MIN_BYTES:
                self._items.pop(path, None)
                return
            self._items[path] = (raw, ticket)
            self._items.move_to_end(path)
            while len(self._items) > self.MAX_ENTRIES:
                self._items.popitem(last=False)


class Store:
    def __init__(
        self,
        data_dir: Path,
        *,
        prefix: str = "LY",
        clock: Clock | None = None,
        durable: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.tickets_dir = self.data_dir / "tickets"
        self.quarantine_dir = self.data_dir / "quarantine"
        self.locks_dir = self.data_dir / ".locks"
        self.prefix = prefix
        self.clock = clock or SystemClock()
        self.durable = durable
        for d in (self.tickets_dir, self.locks_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.data_dir / "journal", durable=durable)
        self._group: GroupCommit[_Write] = GroupCommit(self._flush)
        self._big = _BigTickets()

    # -- paths ---------------------------------------------------------------

    def path_for(self, ticket_id: str) -> Path:
        check_id(ticket_id)
        day = ticket_id[len(ticket_id) - 14 : len(ticket_id) - 6]
        return self.tickets_dir / day[:4] / day[4:6] / day[6:8] / f"{ticket_id}.json"

    def _day_dir(self, day: str) -> Path:
        return self.tickets_dir / day[:4] / day[4:6] / day[6:8]

    # -- locking -------------------------------------------------------------

    def lock(self, ticket_id: str) -> contextlib.AbstractContextManager[None]:
        """Hold the cross-process lock for one ticket (striped, see locks.py)."""
        return locks.hold([self.locks_dir / locks.stripe_name(locks.stripe(ticket_id))])

    # -- ids -----------------------------------------------------------------

    def _next_seq(self, day: str) -> int:
        """Take the next sequence number of a day (a hint; link() makes it unique)."""
        day_dir = self._day_dir(day)
        try:
            return self._take_seq(day_dir)
        except FileNotFoundError:
            day_dir.mkdir(parents=True, exist_ok=True)
            return self._take_seq(day_dir)

    def _take_seq(self, day_dir: Path) -> int:
        with locks.hold([day_dir / ".seq"]) as (fd,):
            raw = os.pread(fd, 32, 0).strip()
            current = int(raw) if raw.isdigit() else self._max_seq(day_dir)
            nxt = current + 1
            # Overwritten in place, at a width no number of the day exceeds. A truncate
            # waits for the previous number's page if it is being written out and has
            # ext4 start writing the file at close: up to a millisecond under I/O load,
            # under the lock that every intake of every process takes.
            os.pwrite(fd, b"%07d" % nxt, 0)
            return nxt

    def _max_seq(self, day_dir: Path) -> int:
        best = 0
        for name in os.listdir(day_dir):
            if name.endswith(".json") and ID_RE.fullmatch(name[:-5]):
                best = max(best, int(name[-11:-5]))
        return best

    def new_id(self, when: datetime | None = None) -> str:
        day = local_date_str(when or self.clock.now())
        seq = self._next_seq(day)
        if seq > 999_999:
            raise StoreError(f"sequence for {day} exhausted")
        return f"{self.prefix}{day}{seq:06d}"

    # -- writing -------------------------------------------------------------

    def _write_tmp(self, path: Path, payload: bytes, *, durable: bool | None = None) -> Path:
        durable = self.durable if durable is None else durable
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(payload)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if durable:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        os.close(fd)
        return tmp

    def create(
        self,
        build: Callable[[str], Ticket],
        *,
        when: datetime | None = None,
        before: Callable[[], None] | None = None,
    ) -> Ticket:
        """Allocate an id, build the ticket with it and store it; retried on id collision.

        `before` is called by the group commit before the batch goes into place (once per
        batch for equal callables); if it raises OSError, this ticket is not stored."""
        for _attempt in range(50):
            ticket_id = self.new_id(when)
            ticket = build(ticket_id)
            if ticket.id != ticket_id:
                raise ValueError("build() must use the id it was given")
            if self._commit(ticket, previous=None, before=before).taken:
                # The day's counter was behind the folder (a crash lost its update).
                self._reset_seq_dir(self._day_dir(ticket_id[-14:-6]))
                continue
            return ticket
        raise StoreError("could not allocate a free ticket id")

    def update(self, ticket_id: str, change: Callable[[Ticket], Ticket]) -> Ticket:
        """Apply `change` to the current version under the ticket's lock and store it."""
        with self.lock(ticket_id):
            current = self.get(ticket_id)
            new = change(current)
            if new is current:
                return current
            if new.id != current.id or new.events[: len(current.events)] != current.events:
                raise ValueError("an update may only append events")
            self._commit(new, previous=current)
            return new

    def _commit(
        self, ticket: Ticket, *, previous: Ticket | None, before: Callable[[], None] | None = None
    ) -> _Write:
        """Write `ticket` to a temp file, then store it with the writes queued meanwhile."""
        path = self.path_for(ticket.id)
        kept = self._big.bytes_of(path, previous) if previous is not None else None
        payload = ticket.to_json(base=kept, base_events=len(previous.events) if kept else 0)
        try:
            tmp = self._write_tmp(path, payload)
        except OSError as exc:
            raise _store_error(f"cannot write ticket {ticket.id}", exc) from exc
        write = _Write(ticket, tmp, path, previous, before=before)
        try:
            self._group.submit(write)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()  # a new ticket's second name, or a write that failed
        if write.error is not None:
            raise write.error
        if not write.taken:
            self._big.put(path, payload, ticket)
        return write

    def _flush(self, batch: list[_Write]) -> None:
        """Store a batch: pending, in place, journaled, synced; or, failing, nothing at all.

        Every write learns its outcome (`taken`, `error`); a failure of the journal or of
        a folder sync takes the batch's files back out and fails all its writes.
        """
        now = self.clock.now()
        stamp = format_ts(now)
        for before in dict.fromkeys(w.before for w in batch if w.before is not None):
            try:
                before()
            except OSError as exc:
                for w in batch:
                    if w.before == before:
                        w.error = _store_error(f"cannot store ticket {w.ticket.id}", exc)
        batch = [w for w in batch if w.error is None]
        if not batch:
            return
        try:
            self.journal.intend(w.change(stamp) for w in batch)
        except OSError as exc:
            for w in batch:
                w.error = _store_error(f"cannot journal ticket {w.ticket.id}", exc)
            return
        placed = [w for w in batch if self._place(w)]
        try:
            self.journal.append([w.change(stamp) for w in placed], now=now)
            for folder in sorted({w.path.parent for w in placed}):
                self._sync_dir(folder)
        except (OSError, StoreError) as exc:
            cause = exc.__cause__ if isinstance(exc, StoreError) else exc
            for w in placed:
                self._undo(w)
                w.error = _store_error(f"cannot store ticket {w.ticket.id}", cause)
        with contextlib.suppress(OSError):
            self.journal.settle()

    def _place(self, w: _Write) -> bool:
        """Move one written version into place (not durable yet)."""
        try:
            if w.previous is None:
                os.link(w.tmp, w.path)
            else:
                os.replace(w.tmp, w.path)
        except FileExistsError:
            w.taken = True
            return False
        except OSError as exc:
            w.error = _store_error(f"cannot store ticket {w.ticket.id}", exc)
            return False
        return True

    def _undo(self, w: _Write) -> None:
        """Take a version that could not be made durable back out, so that what is stored
        is what its caller is told (nothing changed). Best effort: the disk is failing,
        so the previous version is not synced either."""
        with contextlib.suppress(OSError):
            if w.previous is None:
                w.path.unlink()
            else:
                os.replace(self._write_tmp(w.path, w.previous.to_json(), durable=False), w.path)

    def _sync_dir(self, path: Path) -> None:
        if self.durable:
            try:
                _fsync_dir(path)
            except OSError as exc:
                raise StoreError(f"cannot sync {path}: {exc.strerror}") from exc

    def bulk_write(self, tickets: Iterable[Ticket], *, batch: int = 2000) -> int:
        """Write many tickets fast (demo data, benchmarks): same format and guarantees.

        Temp files of a batch are written, flushed to disk with one sync(), then renamed
        into place and their folders fsynced: one sync per batch instead of per file.
        """
        count = 0
        pending: list[tuple[Path, Path, Ticket]] = []
        for ticket in tickets:
            path = self.path_for(ticket.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
            tmp.write_bytes(ticket.to_json())
            pending.append((tmp, path, ticket))
            if len(pending) >= batch:
                count += self._commit_batch(pending)
                pending = []
        count += self._commit_batch(pending)
        return count

    def _commit_batch(self, pending: list[tuple[Path, Path, Ticket]]) -> int:
        if not pending:
            return 0
        if self.durable:
            os.sync()
        now = self.clock.now()
        stamp = format_ts(now)
        changes = [Change(t.id, t.last.seq, "bulk", stamp) for _, _, t in pending]
        # As for single writes: recorded as pending, in place, then journaled, so a reader
        # that follows a line finds its file (a watcher may run while demo data loads).
        self.journal.intend(changes)
        dirs = set()
        for tmp, path, _ in pending:
            os.replace(tmp, path)
            dirs.add(path.parent)
        for d in dirs:
            if self.durable:
                _fsync_dir(d)
            self._reset_seq_dir(d)
        self.journal.append(changes, now=now)
        self.journal.settle()
        return len(pending)

    def _reset_seq_dir(self, day_dir: Path) -> None:
        with locks.hold([day_dir / ".seq"]) as (fd,):
            raw = os.pread(fd, 32, 0).strip()
            current = int(raw) if raw.isdigit() else 0
            best = max(current, self._max_seq(day_dir))
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(best).encode(), 0)

    # -- reading -------------------------------------------------------------

    def read_path(self, path: Path) -> Ticket:
        """Read, validate and verify one ticket file; CorruptTicket if it is not sound."""
        try:
            raw = read_from(path)
        except OSError as exc:
            raise CorruptTicket(path, f"unreadable: {exc.strerror}") from None
        known, kept = self._big.get(path, raw)
        if known is not None:
            return known  # these very bytes were verified (or written) before
        # Written since by another process (a batch of link-backs, an action): the kept
        # bytes with events spliced in, of which only those need parsing and verifying.
        ticket = Ticket.appended(*kept, raw) if kept is not None else None
        verified = ticket is not None
        if ticket is None:
            try:
                ticket = Ticket.from_json(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise CorruptTicket(path, f"invalid at '{loc}': {first['msg']}") from None
        try:
            if not verified:
                ticket.verify_chain()
            ticket.state  # noqa: B018 - derivation must succeed too
        except (ChainError, ValidationError, KeyError, TypeError, ValueError) as exc:
            raise CorruptTicket(path, f"event log does not verify: {exc}") from None
        if path.stem != ticket.id:
            raise CorruptTicket(path, f"file name does not match ticket id {ticket.id}")
        self._big.put(path, raw, ticket)
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        path = self.path_for(ticket_id)
        if not path.exists():
            raise TicketNotFound(ticket_id)
        try:
            return self.read_path(path)
        except CorruptTicket as exc:
            self.quarantine(path, exc.reason)
            raise

    def exists(self, ticket_id: str) -> bool:
        return self.path_for(ticket_id).exists()

    def paths(self) -> Iterator[Path]:
        """Every ticket file, in id order (days sorted, then names)."""
        root = self.tickets_dir
        for y in sorted(_subdirs(root)):
            for m in sorted(_subdirs(root / y)):
                for d in sorted(_subdirs(root / y / m)):
                    day = root / y / m / d
                    for name in sorted(os.listdir(day)):
                        if name.endswith(".json") and not name.startswith("."):
                            yield day / name

    def scan(self, *, quarantine: bool = False, report: ScanReport | None = None) -> Iterator[Ticket]:
        """Yield every valid ticket; invalid files are reported (and quarantined if asked)."""
        report = report if report is not None else ScanReport()
        for path in self.paths():
            try:
                yield self.read_path(path)
            except CorruptTicket as exc:
                log.warning("invalid ticket file %s", exc)
                report.invalid.append(exc)
                if quarantine:
                    report.quarantined.append(self.quarantine(path, exc.reason))

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move a bad ticket file out of the store, keeping it and the reason."""
        rel = path.relative_to(self.tickets_dir)
        stamp = format_ts(self.clock.now()).replace(":", "")
        dest = self.quarantine_dir / rel.parent / f"{path.name}.{stamp}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, dest)
        except FileNotFoundError:
            return dest
        dest.with_name(dest.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        log.error("quarantined %s -> %s: %s", path, dest, reason)
        self._sync_dir(path.parent)
        if ID_RE.fullmatch(path.stem):
            # Tell the incremental build, which follows the journal, that the ticket is gone.
            now = self.clock.now()
            try:
                self.journal.append([Change(path.stem, 0, QUARANTINED, format_ts(now))], now=now)
            except OSError as exc:
                log.error("could not journal the quarantine of %s: %s", path.stem, exc)
        return dest

    def quarantined(self) -> list[Path]:
        if not self.quarantine_dir.exists():
            return []
        return sorted(p for p in self.quarantine_dir.rglob("*") if p.is_file() and not p.name.endswith(".reason.txt"))

    def recover(self) -> ScanReport:
        """Clean up after a crash (run at service start): journal what a dead writer
        stored without journaling, and remove stray temp files."""
        report = ScanReport(replayed=self.replay_pending())
        for dirpath, _dirs, files in os.walk(self.tickets_dir):
            for name in files:
                if name.startswith(".") and name.endswith(TMP_SUFFIX):
                    p = Path(dirpath) / name
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
                        report.temp_removed.append(p)
        if report.temp_removed:
            log.warning("removed %d stray temp files", len(report.temp_removed))
        return report

    def replay_pending(self) -> list[Change]:
        """Journal the changes that writers which have died stored but did not journal."""
        replayed = self.journal.replay_pending(self._is_stored, now=self.clock.now())
        if replayed:
            log.warning("journaled %d changes that a stopped writer had stored", len(replayed))
        return replayed

    def _is_stored(self, change: Change) -> bool:
        try:
            raw = self.path_for(change.ticket_id).read_bytes()
        except (OSError, InvalidTicketId):
            return False
        try:
            return orjson.loads(raw)["events"][-1]["seq"] >= change.seq
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return True  # unreadable: the entry sends readers to it, and they set it aside

    def check(self) -> ScanReport:
        """Verify every ticket file, quarantining the bad ones."""
        report = self.recover()
        for _ in self.scan(quarantine=True, report=report):
            pass
        return report


def _subdirs(path: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(path) if e.is_dir() and e.name.isdigit()]
    except FileNotFoundError:
        return []


def is_enospc(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)

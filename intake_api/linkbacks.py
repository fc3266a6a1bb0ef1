"""Link-backs: a repeat's link in the timeline of the earlier ticket it repeats.

A repeat is stored with its own link (`duplicate_of`) before the intake is answered. The
link back (`duplicate`, in the earlier ticket) is written after the answer, by one thread
per process that writes all the link-backs waiting for a ticket in one update: a storm of
repeats (a burst main, one building's many callers) costs the earlier ticket one write
per batch instead of one per repeat, and no caller waits for it.

Nothing is lost if the process dies first: the repeat itself says what it repeats, and
`reconcile` (run at every start) writes every missing link-back of the open repeats.
Writing is idempotent: a link-back already in the timeline is not written twice (two
processes may reconcile the same repeat).

Reconciling reads the first report of every open repeat, seconds of CPU for each worker
at a million tickets, so it is done only when some process may have died owing
link-backs. Before its first repeat is stored, a process marks itself as owing them:
a file in `data/.locks/link-backs/`, synced, locked for as long as the process lives,
and deleted when it stops with every link-back written. At start, a mark nobody holds
is a process that died (or failed a write): `reconcile` takes it, reads and writes
what is missing, and deletes it. A clean restart finds no mark and reads nothing; of
two workers starting at once, one takes a dead process's mark and the other finds it
taken. A store without the folder (an earlier version wrote its repeats) is
reconciled once.

Reads of a ticket through `Service.get` wait for its link-backs queued in this process,
so a client that files a repeat and then reads the earlier ticket sees the link.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .clock import Clock
from .journal import _fsync_dir
from .model import SYSTEM, EventType, Ticket
from .store import Store, StoreError, TicketNotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkBack:
    target: str  # the earlier ticket
    new_id: str  # the repeat
    basis: str  # "same_citizen" or "same_address"


class LinkBacks:
    PAUSE_MAX = 0.5  # seconds the writer rests after a long batch

    def __init__(self, store: Store, clock: Clock, *, on_write: Callable[[Ticket], None],
                 background: bool = True) -> None:
        """`on_write` is called with each earlier ticket as written (the open index).
        Without `background`, `add` writes before it returns (scripts, tests)."""
        self.background = background
        self.store = store
        self.clock = clock
        self.on_write = on_write
        self._cond = threading.Condition()
        self._queue: dict[str, list[LinkBack]] = {}  # by target, in order of arrival
        self._writing: set[str] = set()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.writes = 0  # updates of earlier tickets written (for tests)
        self.marks_dir = Path(store.locks_dir) / "link-backs"
        self._mark: tuple[int, int, Path] | None = None  # (pid, fd, path): this process owes
        self._mark_lock = threading.Lock()
        self._lost = False  # a link-back this process could not write

    def owe(self) -> None:
        """Mark this process as owing link-backs (durably, once), before a repeat is stored."""
        mark = self._mark
        if mark is not None and mark[0] == os.getpid():
            return
        with self._mark_lock:
            if self._mark is not None and self._mark[0] == os.getpid():
                return
            path = self.marks_dir / f"owed-{os.getpid()}-{secrets.token_hex(4)}.lock"
            try:
                new_dir = not self.marks_dir.is_dir()
                self.marks_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    if self.store.durable:
                        _fsync_dir(self.marks_dir)
                        if new_dir:
                            _fsync_dir(self.marks_dir.parent)
                except OSError:
                    os.close(fd)
                    path.unlink(missing_ok=True)
                    raise
            except OSError as exc:
                err = StoreError(f"cannot mark link-backs as owed: {exc.strerror or exc}")
                err.__cause__ = exc  # is_enospc() looks here
                raise err from exc
            self._mark = (os.getpid(), fd, path)

    def _settle_mark(self) -> None:
        """Stopping: delete this process's mark if it wrote every link-back it owed."""
        with self._mark_lock:
            mark, self._mark = self._mark, None
            if mark is None or mark[0] != os.getpid():
                return
            if not self._lost:
                mark[2].unlink(missing_ok=True)
            os.close(mark[1])  # a mark kept (a lost link-back) is free for the next start

    def _dead_marks(self) -> list[tuple[int, Path]] | None:
        """The marks of processes that died owing link-backs, locked by this one now; None
        when the store has no marks folder (written by an earlier version)."""
        try:
            names = sorted(os.listdir(self.marks_dir))
        except FileNotFoundError:
            return None
        dead = []
        for name in names:
            path = self.marks_dir / name
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue  # taken and deleted by another process meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # its process is alive (or reconciling it)
                continue
            if os.fstat(fd).st_nlink == 0:
                os.close(fd)  # deleted by the process that reconciled it
                continue
            dead.append((fd, path))
        return dead

    def add(self, links: Iterable[LinkBack]) -> None:
        """Queue link-backs; they are written soon, after this returns."""
        if not self.background:
            by_target: dict[str, list[LinkBack]] = {}
            for link in links:
                by_target.setdefault(link.target, []).append(link)
            for target, batch in by_target.items():
                self._write(target, batch)
            return
        with self._cond:
            for link in links:
                self._queue.setdefault(link.target, []).append(link)
            if self._closed:
                self._drain_locked()
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="link-backs", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait(self, target: str | None = None, timeout: float = 30.0) -> bool:
        """Wait until the link-backs queued for `target` (None: all) are written."""
        def done() -> bool:
            if target is None:
                return not self._queue and not self._writing
            return target not in self._queue and target not in self._writing

        with self._cond:
            return self._cond.wait_for(done, timeout)

    def close(self) -> None:
        """Write what is queued and stop the thread (a server's shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._cond:
            self._drain_locked()
        self._settle_mark()

    def reconcile(self, repeats: Callable[[], Iterable[tuple[str, str]]]) -> int:
        """Queue the missing link-backs of (repeat, earlier ticket) pairs; return how many.

        Only when a process died owing some (a mark nobody holds), this one failed to
        write one, or the store predates the marks; otherwise nothing is read. Reads each
        earlier ticket once, and a repeat only when its link-back is missing (to learn the
        basis of its link)."""
        dead = self._dead_marks()
        if dead is not None and not dead and not self._lost:
            return 0
        self._lost = False
        try:
            missing = self._missing(repeats())
            if missing:
                self.owe()  # this process owes them now: the dead marks may go
                log.info("writing %d link-back(s) a stopped process had not written", len(missing))
                self.add(missing)
            if dead is None:
                self.marks_dir.mkdir(parents=True, exist_ok=True)
        except BaseException:
            for fd, _path in dead or ():
                os.close(fd)  # left for the next start
            raise
        for fd, path in dead or ():
            path.unlink(missing_ok=True)
            os.close(fd)
        return len(missing)

    def _missing(self, repeats: Iterable[tuple[str, str]]) -> list[LinkBack]:
        by_target: dict[str, list[str]] = {}
        for new_id, target in repeats:
            by_target.setdefault(target, []).append(new_id)
        missing: list[LinkBack] = []
        for target, ids in by_target.items():
            try:
                have = _linked(self.store.get(target))
            except (StoreError, TicketNotFound, OSError) as exc:
                log.warning("cannot reconcile the link-backs of %s: %s", target, exc)
                self._lost = True  # tried again at the next start
                continue
            for new_id in ids:
                if new_id in have:
                    continue
                try:
                    repeat = self.store.get(new_id)
                except (StoreError, TicketNotFound, OSError):
                    continue
                basis = next(
                    (e.data.get("basis", "") for e in repeat.events
                     if e.type == EventType.LINKED and e.data.get("relation") == "duplicate_of"
                     and e.data.get("ticket") == target),
                    None,
                )
                if basis is not None:
                    missing.append(LinkBack(target, new_id, basis))
        return missing

    # -- the writer ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return  # closed, nothing left
                batch, self._queue = self._queue, {}
                self._writing.update(batch)
            started = time.monotonic()
            try:
                for target, links in batch.items():
                    self._write(target, links)
            finally:
                with self._cond:
                    self._writing.difference_update(batch)
                    self._cond.notify_all()
            # Rest as long as the batch took (at most PAUSE_MAX): an earlier ticket with
            # thousands of repeats takes tens of milliseconds to read and write, which this
            # thread would otherwise spend over and over, a few repeats at a time, holding
            # the interpreter the intakes need. Resting lets the next batch grow instead.
            pause = min(self.PAUSE_MAX, time.monotonic() - started)
            if pause > 0.002:
                with self._cond:
                    self._cond.wait_for(lambda: self._closed, pause)

    def _drain_locked(self) -> None:
        """Write what is queued in the caller's thread (after close); holds the condition."""
        batch, self._queue = self._queue, {}
        for target, links in batch.items():
            self._write(target, links)
        self._cond.notify_all()

    def _write(self, target: str, links: list[LinkBack]) -> None:
        def add(t: Ticket) -> Ticket:
            have = _linked(t)
            at = self.clock.now()
            new = []
            for link in links:
                if link.new_id not in have:
                    have.add(link.new_id)
                    new.append((EventType.LINKED, at, SYSTEM,
                                {"ticket": link.new_id, "relation": "duplicate", "basis": link.basis}))
            return t.with_events(new) if new else t

        try:
            ticket = self.store.update(target, add)
        except (StoreError, TicketNotFound, OSError) as exc:
            # The repeats carry their links; the next start's reconcile writes these.
            log.error("could not link %s back to %s: %s", target, ", ".join(x.new_id for x in links), exc)
            self._lost = True
            return
        except Exception:  # a bug must not stop the writer thread: the next start reconciles
            log.exception("could not link %s back to %s", target, ", ".join(x.new_id for x in links))
            self._lost = True
            return
        self.writes += 1
        self.on_write(ticket)


def _linked(ticket: Ticket) -> set[str]:
    """The repeats already linked back in a ticket's timeline."""
    return {link["ticket"] for link in ticket.state.links if link["relation"] == "duplicate"}

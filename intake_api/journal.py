"""The append-only change journal: what changed since a cursor, without scanning tickets.

One JSON line per stored change in `data/journal/YYYYMMDD.jsonl` (UTC day segments).
A cursor is `"YYYYMMDD:offset"`; readers consume only complete lines, so a line being
written is never half-read. Lines are appended under an exclusive lock with a single
`write`, after the ticket files they name are in place: a reader that follows a line
finds the change it names.

A crash after a file went into place but before its line was appended would leave a
stored change without an entry. So the writer first records the changes it is about to
store in its own pending file (`.pending-<pid>-<hex>`, locked while the process lives,
synced before any file moves); `replay_pending`, run when a server or worker starts,
appends the lines of the changes that a dead writer stored. An entry may thus name a
change that was not stored, or repeat one (harmless: readers re-read the ticket), but a
stored change always gets its entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from . import locks
from .clock import format_ts
from .fileio import read_from

START = "00000000:0"
QUARANTINED = "quarantined"  # type of the entry written when a bad ticket file is set aside
PENDING_PREFIX = ".pending-"
# A folder whose time is this recent may change again within one tick of the file
# system's coarse clock and keep its time: its listing is not reused (see `segments`).
RACY_NS = 100_000_000
# A pending file is created this long, all empty lines; a batch's record then overwrites
# blocks it already has, and its fdatasync writes data without a file system commit.
PENDING_SIZE = 64 * 1024
# `read_since` with a limit reads a segment in pieces of about this much a change, and at
# least the second figure.
LIMIT_LINE_BYTES = 256
LIMIT_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class Change:
    ticket_id: str
    seq: int  # the ticket's last event sequence number after the change
    type: str  # the last event's type ("bulk" for bulk loads)
    at: str  # UTC timestamp of the write


class Journal:
    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.root / ".lock"
        self._pending_fd: int | None = None
        self._pending_pid = 0
        self._listing: tuple[tuple[int, int], list[str]] | None = None

    def _segment(self, name: str) -> Path:
        return self.root / f"{name}.jsonl"

    def append(self, changes: Iterable[Change], *, now: datetime) -> None:
        """Append changes durably as complete lines."""
        lines = _lines(changes)
        if not lines:
            return
        seg = self._segment(format_ts(now)[:10].replace("-", ""))
        fd = os.open(seg, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # The lock keeps lines whole; it is not held while syncing, so that
            # concurrent writers' fdatasync calls share one journal commit.
            with locks.hold([self._lock_path]):
                new_segment = os.fstat(fd).st_size == 0
                view = memoryview(lines)
                while view:
                    view = view[os.write(fd, view) :]
            if self.durable:
                os.fdatasync(fd)
                if new_segment:  # the day's first line: its file name must last too
                    _fsync_dir(self.root)
        finally:
            os.close(fd)

    # -- pending changes -------------------------------------------------------

    def intend(self, changes: Iterable[Change]) -> None:
        """Record, durably, the changes about to be stored (before their files move)."""
        fd = self._pending_file()
        _write_all(fd, _lines(changes) + b"\n", offset=0)  # an empty line ends the record
        if self.durable:
            os.fdatasync(fd)

    def settle(self) -> None:
        """Forget the recorded changes: they are journaled, or were not stored."""
        if self._pending_fd is not None and self._pending_pid == os.getpid():
            os.pwrite(self._pending_fd, b"\n", 0)

    def _pending_file(self) -> int:
        if self._pending_fd is not None and self._pending_pid == os.getpid():
            return self._pending_fd
        while True:
            path = self.root / f"{PENDING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            # Locked for as long as this process lives: recovery skips a live writer's file.
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:
                break
            os.close(fd)  # a recovery run removed it between the open and the lock
        try:
            _write_all(fd, b"\n" * PENDING_SIZE, offset=0)
            if self.durable:
                os.fsync(fd)
                _fsync_dir(self.root)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        self._pending_fd, self._pending_pid = fd, os.getpid()
        return fd

    def replay_pending(self, stored: Callable[[Change], bool], *, now: datetime) -> list[Change]:
        """Append the lines of the changes that dead writers stored without journaling them."""
        replayed: list[Change] = []
        for path in sorted(self.root.glob(PENDING_PREFIX + "*")):
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its writer is alive
                if not os.fstat(fd).st_nlink:
                    continue  # another recovery run took care of it
                with open(fd, "rb", closefd=False) as fh:
                    changes = [c for c in _parse(fh.read()) if stored(c)]
                self.append(changes, now=now)
                replayed += changes
                path.unlink()
            finally:
                os.close(fd)
        return replayed

    def segments(self) -> list[str]:
        """The segments' names, oldest first.

        Listed again only when the folder changed (a new segment, a writer's pending
        file): every intake's catch-up with the other processes asks, and a year of
        daily segments took 2.1 ms to list with `glob`, more than the rest of the
        catch-up. A listing made while the folder's time is recent is not reused: a
        second change within the same tick of the clock would leave that time as it was.
        """
        try:
            st = os.stat(self.root)
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_mtime_ns)
        cached = self._listing
        if cached is not None and cached[0] == key:
            return list(cached[1])
        names = sorted(n[:-6] for n in os.listdir(self.root) if n.endswith(".jsonl") and not n.startswith("."))
        self._listing = (key, names) if time.time_ns() - st.st_mtime_ns > RACY_NS else None
        return list(names)

    def head(self) -> str:
        """Return the cursor at the end of the journal."""
        segs = self.segments()
        if not segs:
            return START
        return f"{segs[-1]}:{self._segment(segs[-1]).stat().st_size}"

    def reaches(self, cursor: str) -> bool:
        """Whether `cursor` points into this journal (its segment holds at least that much)."""
        seg_name, _, off = cursor.partition(":")
        try:
            offset = int(off or 0)
        except ValueError:
            return False
        if cursor == START:
            return True
        try:
            return self._segment(seg_name).stat().st_size >= offset >= 0
        except (OSError, ValueError):
            return False

    def read_since(self, cursor: str = START, *, limit: int | None = None) -> tuple[list[Change], str]:
        """Return the changes after `cursor` and the cursor to resume from.

        With a limit, a segment is read a piece at a time (about `LIMIT_LINE_BYTES` a
        change asked for, at least `LIMIT_READ_BYTES`): the health check asks for the
        one oldest change not yet published, and a day's segment of Linyi's changes
        holds megabytes.
        """
        seg_name, _, off = cursor.partition(":")
        offset = int(off or 0)
        out: list[Change] = []
        new_cursor = cursor
        for name in self.segments():
            if name < seg_name:
                continue
            path = self._segment(name)
            start = offset if name == seg_name else 0
            size = None
            while True:
                if limit is not None:
                    size = max(size or 0, LIMIT_READ_BYTES, (limit - len(out)) * LIMIT_LINE_BYTES)
                data = read_from(path, start, size)
                end = data.rfind(b"\n") + 1  # only complete lines
                pos = 0
                for line in data[:end].splitlines(keepends=True):
                    pos += len(line)
                    line = line.strip()
                    if line:
                        out.append(_change(orjson.loads(line)))
                    if limit is not None and len(out) >= limit:
                        return out, f"{name}:{start + pos}"
                start += end
                if size is None or len(data) < size:
                    break  # the end the segment has now
                if not end:
                    size *= 2  # a line longer than the piece
            new_cursor = f"{name}:{start}"
        return out, new_cursor


def _change(rec: dict) -> Change:
    return Change(rec["id"], rec["seq"], rec["type"], rec["at"])


def _lines(changes: Iterable[Change]) -> bytes:
    return b"".join(
        orjson.dumps({"id": c.ticket_id, "seq": c.seq, "type": c.type, "at": c.at}) + b"\n"
        for c in changes
    )


def _parse(data: bytes) -> list[Change]:
    """The changes of a pending file's record: its lines up to the first empty or bad one.

    A record cut short by a crash was not synced, so no file of it moved: what follows the
    cut (the rest of an older record) may be ignored.
    """
    out = []
    for line in data.split(b"\n")[:-1]:
        try:
            out.append(_change(orjson.loads(line)))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            break
    return out


def _write_all(fd: int, data: bytes, *, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""The append-only change journal: what changed since a cursor, without scanning tickets.

One JSON line per stored change in `data/journal/YYYYMMDD.jsonl` (UTC day segments).
A cursor is `"YYYYMMDD:offset"`; readers consume only complete lines, so a line being
written is never half-read. Lines are appended under an exclusive lock with a single
`write`; the journal is written before the ticket file is renamed into place, so a
crash can leave an entry whose change is not stored (harmless: readers re-read the
ticket) but never a stored change without an entry.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from .clock import format_ts

START = "00000000:0"
QUARANTINED = "quarantined"  # type of the entry written when a bad ticket file is set aside


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

    def _segment(self, name: str) -> Path:
        return self.root / f"{name}.jsonl"

    def append(self, changes: Iterable[Change], *, now: datetime) -> None:
        """Append changes durably as complete lines."""
        lines = b"".join(
            orjson.dumps({"id": c.ticket_id, "seq": c.seq, "type": c.type, "at": c.at}) + b"\n"
            for c in changes
        )
        if not lines:
            return
        seg = self._segment(format_ts(now)[:10].replace("-", ""))
        fd = os.open(seg, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            with open(self._lock_path, "a+b") as lock:
                # The lock keeps lines whole; it is not held while syncing, so that
                # concurrent writers' fdatasync calls share one journal commit.
                fcntl.flock(lock, fcntl.LOCK_EX)
                view = memoryview(lines)
                while view:
                    view = view[os.write(fd, view) :]
            if self.durable:
                os.fdatasync(fd)
        finally:
            os.close(fd)

    def segments(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.jsonl"))

    def head(self) -> str:
        """Return the cursor at the end of the journal."""
        segs = self.segments()
        if not segs:
            return START
        return f"{segs[-1]}:{self._segment(segs[-1]).stat().st_size}"

    def read_since(self, cursor: str = START, *, limit: int | None = None) -> tuple[list[Change], str]:
        """Return the changes after `cursor` and the cursor to resume from."""
        seg_name, _, off = cursor.partition(":")
        offset = int(off or 0)
        out: list[Change] = []
        new_cursor = cursor
        for name in self.segments():
            if name < seg_name:
                continue
            start = offset if name == seg_name else 0
            with open(self._segment(name), "rb") as fh:
                fh.seek(start)
                data = fh.read()
            end = data.rfind(b"\n") + 1  # only complete lines
            pos = 0
            for line in data[:end].splitlines(keepends=True):
                pos += len(line)
                line = line.strip()
                if line:
                    rec = orjson.loads(line)
                    out.append(Change(rec["id"], rec["seq"], rec["type"], rec["at"]))
                if limit is not None and len(out) >= limit:
                    return out, f"{name}:{start + pos}"
            new_cursor = f"{name}:{start + end}"
        return out, new_cursor

"""Striped cross-process locks: `flock` on small files, one per stripe of a key space.

A key (a ticket id, a citizen's phone, an Idempotency-Key) maps to one of `STRIPES`
lock files; unrelated keys share one by chance. With 50 intakes in flight that costs
little: traced through a 3,000-intake run of 6.6 s, one worker's 25 threads waited
0.15 s in all for these locks, and 4,096 stripes measured no faster. Lock files are
opened with `os.open` (one system call, not the four of a buffered `open`): every
intake takes several of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

STRIPES = 256


def stripe(key: str) -> int:
    """The stripe of a key (stable across processes and versions of Python)."""
    return int.from_bytes(hashlib.blake2s(key.encode(), digest_size=2).digest(), "big") % STRIPES


def stripe_name(n: int, prefix: str = "") -> str:
    return f"{prefix}{n:03d}.lock"


@contextlib.contextmanager
def hold(paths: Iterable[Path]) -> Iterator[list[int]]:
    """Hold exclusive locks on these files, taken in the order given, until the block ends;
    yield their file descriptors (a counter file is read and written through its own).

    Callers that take more than one pass them sorted, so that two holders never wait for
    each other. A lock is given up explicitly, not only by closing its file: a process
    forked meanwhile (the watcher's build workers, in `shoufa serve`'s process) shares
    the open file, and would keep the lock for as long as it lives. The process dying
    releases it too.
    """
    fds: list[int] = []
    try:
        for path in paths:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fds
    finally:
        for fd in reversed(fds):
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

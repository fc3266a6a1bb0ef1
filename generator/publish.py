"""Publishing: the only writer of site/.

The live site path is a symlink to a complete build folder. A full build writes a new
folder beside it and swaps the symlink atomically (rename over it), so a citizen sees
either the old site or the new one; a failed build leaves the old one untouched.
Incremental updates write single files into the live folder through a temp file and
a rename, so no page is ever seen half-written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

from .render import Output

log = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def live_root(site_dir: Path) -> Path | None:
    """The folder the live site points to, or None if there is no site yet."""
    if site_dir.is_symlink() or site_dir.is_dir():
        real = site_dir.resolve()
        return real if real.is_dir() else None
    return None


class Writer:
    """Writes outputs under one root; skips files whose content did not change."""

    def __init__(self, root: Path, *, hashes: dict[str, str] | None = None, staging: bool = False) -> None:
        self.root = root
        self.hashes = hashes if hashes is not None else {}
        self.staging = staging
        self.written: list[str] = []
        self.skipped = 0
        self.bytes = 0

    def write(self, out: Output) -> bool:
        digest = out.digest
        if not self.staging and self.hashes.get(out.path) == digest and (self.root / out.path).exists():
            self.skipped += 1
            return False
        data = out.data
        target = self.root / out.path
        if self.staging:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        else:
            write_atomic(target, data)
        self.hashes[out.path] = digest
        self.written.append(out.path)
        self.bytes += len(data)
        return True

    def delete(self, rel: str) -> None:
        path = self.root / rel
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the page's folder, if now empty
        self.hashes.pop(rel, None)


def new_staging(site_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    path = site_dir.parent / f".{site_dir.name}-build-{stamp}"
    path.mkdir(parents=True)
    return path


def swap(site_dir: Path, staging: Path) -> None:
    """Point site_dir at staging atomically and move older builds aside as trash.

    The trash is deleted by `remove_trash`, which the build calls once it has released
    the build lock: deleting the files of a million-ticket site takes minutes, and the
    next change must not wait for it.
    """
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    old = live_root(site_dir)
    if site_dir.exists() and not site_dir.is_symlink():
        # A plain folder from elsewhere: move it aside once, then use a symlink.
        aside = site_dir.parent / f".{site_dir.name}-old-{secrets.token_hex(3)}"
        os.rename(site_dir, aside)
        old = aside
    link = site_dir.parent / f".{site_dir.name}.link-{secrets.token_hex(3)}"
    os.symlink(staging.name, link)
    os.replace(link, site_dir)
    fd = os.open(site_dir.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old and old != staging.resolve():
        _to_trash(site_dir, old)
    cleanup(site_dir, keep=staging)


def cleanup(site_dir: Path, *, keep: Path | None = None) -> None:
    """Move abandoned build folders (from crashed or failed builds) to the trash."""
    live = live_root(site_dir)
    for p in site_dir.parent.glob(f".{site_dir.name}-build-*"):
        if p.resolve() in {live, keep.resolve() if keep else None}:
            continue
        _to_trash(site_dir, p)


def _to_trash(site_dir: Path, folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):  # another build's cleanup took it first
        os.rename(folder, site_dir.parent / f".{site_dir.name}-trash-{secrets.token_hex(4)}")


def remove_trash(site_dir: Path) -> int:
    """Delete the build folders `swap` and `cleanup` moved aside; return how many.

    Safe to run in several processes at once (each deletes what is still there).
    """
    folders = list(site_dir.parent.glob(f".{site_dir.name}-trash-*"))
    for p in folders:
        shutil.rmtree(p, ignore_errors=True)
    return len(folders)

"""How the public site keeps up with the store: what `/healthz` reports.

Light on purpose: the API's workers import it, not the generator's renderers.
The watcher (`generator.watch`) writes `STATUS_FILE` when its state changes and holds
`ALIVE_FILE` (a shared lock) while it runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from intake_api.journal import START, Journal

from .config import BuildConfig
from .state import read_meta

STATUS_FILE = "watcher.json"  # in the build state's folder
ALIVE_FILE = "watcher.lock"


def site_status(config: BuildConfig, now: datetime | None = None) -> dict:
    """How the public site keeps up with the store, for `/healthz`.

    `watcher`: a watcher (`shoufa serve` or `shoufa watch`) runs for this site.
    `up_to_date`: every change in the journal is published. `waiting_s`: how long the
    oldest change not yet published has waited by `now` (the store's clock; default
    the wall clock). `failures`, `failing_since` and
    `full_build` ("none", "due", "running", "failed"): the running watcher's builds.
    """
    cursor = published_cursor(config) or START
    journal = Journal(config.data_dir / "journal", durable=False)
    waiting = None
    if journal.head() != cursor:
        changes, _ = journal.read_since(cursor, limit=1)
        if changes:
            at = datetime.fromisoformat(changes[0].at)
            waiting = round(max(0.0, ((now or datetime.now(UTC)) - at).total_seconds()), 3)
    out = {"watcher": _watcher_alive(config), "up_to_date": waiting is None, "waiting_s": waiting,
           "failures": 0, "failing_since": None, "full_build": "none"}
    if out["watcher"]:
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads((config.state_dir / STATUS_FILE).read_text(encoding="utf-8"))
            out.update({k: saved[k] for k in ("failures", "failing_since", "full_build") if k in saved})
    return out


def published_cursor(config: BuildConfig) -> str | None:
    """The journal position the live site is built through (None: no build state yet)."""
    state = config.state_dir / "state.sqlite"
    return read_meta(state, "cursor") if state.exists() else None


def _watcher_alive(config: BuildConfig) -> bool:
    return lock_held(config.state_dir / ALIVE_FILE)


def lock_held(path: Path) -> bool:
    """Whether some open file (of any process, this one included) holds an flock on `path`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also lets go of the lock just taken
    return False

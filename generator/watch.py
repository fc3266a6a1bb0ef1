"""Rebuild on every change: the store's journal, content/ and the catalog.

Incremental builds run in this process, one at a time (the build takes a lock),
debounced. A full build (a template, the catalog or a shell page changed) runs in a
child process of its own at a lower CPU priority (nice +5), and takes the build lock
only for its last minute's catch-up and the swap: meanwhile every change is still
published on the live site within a second (a full build takes 20 minutes at a
million tickets). The slow lane (search shards,
exports, current periods of rankings and reports) runs at most once per interval, in a
child process of its own, at a lower CPU priority (nice +10): it takes seconds to
minutes at Linyi's volume and must neither hold this process's interpreter nor take a
core from the build that publishes a change.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from watchfiles import watch

from intake_api.settings import Settings

from .build import build, full_build_due, full_build_running, remove_trash_later, warm_up
from .config import BuildConfig
from .status import ALIVE_FILE, STATUS_FILE, published_cursor

log = logging.getLogger(__name__)

SLOW_LANE_NICE = 10
FULL_BUILD_NICE = 5
RETRY_MAX_SECONDS = 60.0


class Watcher:
    def __init__(self, config: BuildConfig, *, debounce_ms: int = 20, slow_interval: float = 60.0) -> None:
        self.config = config
        self.debounce_ms = debounce_ms
        self.slow_interval = slow_interval
        self.stop = threading.Event()
        self.builds = 0
        self.last_error: str | None = None
        self.failures = 0  # builds failed in a row
        self._retry_at = 0.0  # monotonic time before which the journal poll does not retry
        self._last_slow = 0.0
        self._slow_proc: multiprocessing.process.BaseProcess | None = None
        self._slow_again = False  # a run was asked for while one was under way (a full build swapped)
        # Full builds, in a child process: due (and forced by `--full`), failed in a row,
        # not tried again before.
        self.full_due = False
        self._full_forced = False
        self.full_builds = 0
        self.full_failures = 0
        self._full_retry_at = 0.0
        self._full_proc: multiprocessing.process.BaseProcess | None = None
        self._full_lock = threading.Lock()
        self._stop_registered = False
        self.failing_since: str | None = None  # UTC time of the first of the failures in a row
        self._status_saved: dict | None = None
        self._alive: int | None = None  # the lock file held while this watcher runs

    def paths(self) -> list[Path]:
        c = self.config
        (c.data_dir / "journal").mkdir(parents=True, exist_ok=True)
        out = [c.data_dir / "journal", c.catalog_dir]
        if c.content_dir.exists():
            out.append(c.content_dir)
        return out

    def build_once(self, *, full: bool = False, edited: bool = False) -> None:
        """Publish the journal's changes on the live site; start a full build if one is due.

        `edited`: the content or the catalog was edited, which may mend a full build
        that failed; it is tried again at once.
        """
        try:
            report = build(self.config, incremental_only=True)
        except Exception as exc:  # noqa: BLE001 - keep watching; the live site stays as it was
            self.last_error = str(exc)
            self.failures += 1
            self.failing_since = self.failing_since or _utc_now()
            # A build that fails fails again until someone mends the cause (a leak the scan
            # found, a full disk, a broken template): the journal poll waits 1, 2, 4 ... 60 s
            # between tries instead of rebuilding (and logging) without pause. An edit to
            # the content or the catalog, which may be the fix, is built at once.
            delay = min(RETRY_MAX_SECONDS, 2.0 ** (self.failures - 1))
            self._retry_at = time.monotonic() + delay
            log.exception("build failed (%d in a row); the live site stays as it was; tried again in %.0f s, "
                          "or at once on an edit of the content or catalog", self.failures, delay)
            # A full build may be what mends it (the catalog changed under the live site),
            # when one is due anyway; a failed incremental build does not call for one.
            with contextlib.suppress(Exception):
                due = full_build_due(self.config)
                with self._full_lock:
                    self.full_due = self.full_due or due
        else:
            if report.mode != "none":
                self.builds += 1
            self.last_error = None
            self.failures = 0
            self._retry_at = 0.0
            if self.full_failures == 0:
                self.failing_since = None
            with self._full_lock:
                self.full_due = self.full_due or report.full_due
        with self._full_lock:
            self._full_forced |= full
            self.full_due |= full
            if edited:
                self._full_retry_at = 0.0
        self.check_full()
        self.save_status()

    def check_full(self) -> None:
        """Start the due full build (unless one runs, or it failed and waits to be tried
        again); take note of the end of one."""
        with self._full_lock:
            proc = self._full_proc
            if proc is not None and proc.exitcode is not None:
                self._full_proc = None
                self._full_ended(proc.exitcode)
            if not (self._full_proc is not None or not self.full_due or time.monotonic() < self._full_retry_at
                    or full_build_running(self.config)):  # `shoufa build` may be running one
                forced, self._full_forced, self.full_due = self._full_forced, False, False
                # Not a daemon: its own worker processes render the tickets. It is stopped
                # when this process exits (`_stop_full`), and with the server's process group.
                self._full_proc = multiprocessing.get_context("spawn").Process(
                    target=_full_build_child, args=(self.config, forced, logging.getLogger().getEffectiveLevel()),
                    name="shoufa-full-build"
                )
                self._full_proc.start()
                if not self._stop_registered:
                    atexit.register(self._stop_full)
                    self._stop_registered = True
                log.info("full build started in process %d; changes are published on the live site meanwhile",
                         self._full_proc.pid)
        self.save_status()

    def _stop_full(self) -> None:
        """Stop a full build still under way (this process is exiting); it cleans up after itself."""
        proc = self._full_proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(30)
            if proc.is_alive():
                proc.kill()

    def _full_ended(self, code: int) -> None:
        if code == 0:
            # What incremental builds reported due meanwhile is done; an input edited since
            # the full build started makes the next incremental build report it due again.
            self.full_due = self._full_forced
            self.full_builds += 1
            self.full_failures = 0
            if self.failures == 0:
                self.failing_since = None
            self._full_retry_at = 0.0
            remove_trash_later(self.config)  # the replaced site, in a thread of this process
            self.slow(force=True)
            return
        self.full_failures += 1
        self.full_due = True
        self.failing_since = self.failing_since or _utc_now()
        delay = min(RETRY_MAX_SECONDS, 2.0 ** (self.full_failures - 1))
        self._full_retry_at = time.monotonic() + delay
        how = f"was stopped by signal {-code}" if code < 0 else f"failed (exit code {code})"
        log.error("full build %s (%d in a row); the live site stays as it was and still gets every change; "
                  "tried again in %.0f s, or at once on an edit of the content or catalog",
                  how, self.full_failures, delay)

    def status(self) -> dict:
        """What `/healthz` tells of this watcher (no error text: it may name a withheld ticket)."""
        if self._full_proc is not None:
            full = "running"
        elif self.full_failures:
            full = "failed"
        else:
            full = "due" if self.full_due else "none"
        return {"pid": os.getpid(), "failures": self.failures + self.full_failures,
                "failing_since": self.failing_since, "full_build": full}

    def save_status(self) -> None:
        """Write `status()` for the API's health check, when it changed (atomically)."""
        status = self.status()
        if status == self._status_saved:
            return
        path = self.config.state_dir / STATUS_FILE
        with contextlib.suppress(OSError):  # the health check's view may lag; the build goes on
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(status, fh)
                os.replace(tmp, path)
                self._status_saved = status
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def hold_alive(self) -> None:
        """Hold the watcher's lock file (shared) while this process lives: the health
        check tells a running watcher from a status file a stopped one left."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        if self._alive is None:
            fd = os.open(self.config.state_dir / ALIVE_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._alive = fd

    def slow(self, *, force: bool = False) -> None:
        """Start the slow lane in a child process (unless one is still running).

        A forced run asked for while one is under way (after a full build's swap, that
        one may be writing into the replaced site) starts as soon as it ends, at the
        next tick, not an interval later.
        """
        if self._slow_proc is not None and self._slow_proc.is_alive():
            self._slow_again |= force
            return
        if not (force or self._slow_again) and time.monotonic() - self._last_slow < self.slow_interval:
            return
        self._slow_again = False
        self._last_slow = time.monotonic()
        code = self._slow_proc.exitcode if self._slow_proc is not None else None
        if code and code < 0:  # killed (the server stopping takes its process group along)
            log.warning("slow lane was stopped by signal %d", -code)
        elif code:
            log.error("slow lane exited with code %s", code)
        self._slow_proc = multiprocessing.get_context("spawn").Process(
            target=_slow_lane_child, args=(self.config, logging.getLogger().getEffectiveLevel()),
            name="shoufa-slow-lane", daemon=True
        )
        self._slow_proc.start()

    def pending(self) -> bool:
        """Whether the journal holds changes the last build did not publish."""
        from intake_api.journal import Journal

        cursor = published_cursor(self.config)
        return cursor is None or Journal(self.config.data_dir / "journal", durable=False).head() != cursor

    def run(self) -> None:
        self.hold_alive()
        try:
            warm_up(self.config)
        except Exception:  # noqa: BLE001 - the first build reports whatever is wrong
            log.exception("warm-up failed")
        self.build_once()
        threading.Thread(target=self._tick, daemon=True).start()
        threading.Thread(target=self._poll_journal, daemon=True).start()
        # Editors' content and the catalog: file events (a full or content build follows).
        paths = [p for p in self.paths() if p != self.config.data_dir / "journal"]
        for changes in watch(*paths, debounce=self.debounce_ms, step=20, stop_event=self.stop,
                             rust_timeout=1000, yield_on_timeout=True):
            if self.stop.is_set():
                break
            if changes:
                self.build_once(edited=True)

    def _poll_journal(self) -> None:
        """Publish the store's changes: the journal's end is compared with the published cursor.

        A stat and one small read every 25 ms; unlike file events it cannot miss a change
        that lands while a build is running.
        """
        while not self.stop.wait(0.025):
            try:
                if time.monotonic() >= self._retry_at and self.pending():
                    time.sleep(self.debounce_ms / 1000)  # let a burst of writes land together
                    self.build_once()
                elif self._full_proc is not None or self.full_due:
                    self.check_full()
            except Exception:  # noqa: BLE001 - keep polling; the live site stays as it was
                log.exception("journal poll failed")

    def _tick(self) -> None:
        while not self.stop.wait(5):
            self.slow()


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def _full_build_child(config: BuildConfig, forced: bool, log_level: int = logging.INFO) -> None:
    """A full build, in a process of its own; its exit code tells the watcher how it went.

    The replaced site is deleted by the watcher (minutes at a million tickets): this
    process ends with the swap.
    """
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.nice(FULL_BUILD_NICE)  # the builds that publish changes, and intake, come first
    # Stopped (the watcher exits): unwind, so that the build removes its folder and state.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    from .build import _full
    from .config import cached_catalog

    try:
        report = _full(config, cached_catalog(config.catalog_dir), forced=forced)
    except Exception:
        log.exception("full build failed; the live site stays as it was")
        raise SystemExit(1) from None
    if report.mode == "none":  # another process's full build did it (a full build logs its own line)
        log.info(report.summary())


def _slow_lane_child(config: BuildConfig, log_level: int = logging.INFO) -> None:
    # A spawned process starts without the server's logging: the same format, so that
    # its lines sit among the builds' in the server's log.
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.nice(SLOW_LANE_NICE)  # Pagefind and the exports yield the cores to the fast lane
    t0 = time.perf_counter()
    done = run_slow_lane(config)
    log.info("slow lane finished in %.1f s: %s", time.perf_counter() - t0, done)


def run_slow_lane(config: BuildConfig) -> dict[str, int]:
    """The slow lane: search shards and exports marked dirty, then the sections' current
    periods (rankings, top lists, reports, warnings) and the home page's extras."""
    done: dict[str, int] = {}
    try:
        from . import slowlane

        done = slowlane.run(config)
    except Exception:  # noqa: BLE001 - the sections still get their turn
        log.exception("slow lane failed")
    try:
        from .sections import refresh_periodic

        done["periodic"] = refresh_periodic(config)
    except Exception:  # noqa: BLE001
        log.exception("slow lane (periodic pages) failed")
    return done


def start_background(settings: Settings, *, drafts: bool = False, slow_interval: float = 60.0) -> Watcher:
    """Start watching in a daemon thread (used by `shoufa serve`)."""
    w = Watcher(BuildConfig.from_settings(settings, drafts=drafts), slow_interval=slow_interval)
    threading.Thread(target=w.run, name="shoufa-watch", daemon=True).start()
    return w

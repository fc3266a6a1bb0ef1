"""Rebuild on every change: the store's journal, content/ and the catalog.

One build at a time (the build takes a lock), debounced; the slow lane (search shards,
exports, current periods of rankings and reports) runs at most once per interval, in a
child process of its own, at a lower CPU priority (nice +10): it takes seconds to
minutes at Linyi's volume and must neither hold this process's interpreter nor take a
core from the build that publishes a change.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from pathlib import Path

from watchfiles import watch

from intake_api.settings import Settings

from .build import build, warm_up
from .config import BuildConfig

log = logging.getLogger(__name__)

SLOW_LANE_NICE = 10
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

    def paths(self) -> list[Path]:
        c = self.config
        (c.data_dir / "journal").mkdir(parents=True, exist_ok=True)
        out = [c.data_dir / "journal", c.catalog_dir]
        if c.content_dir.exists():
            out.append(c.content_dir)
        return out

    def build_once(self, *, full: bool = False) -> None:
        try:
            report = build(self.config, full=full)
            self.builds += 1
            self.last_error = None
            self.failures = 0
            self._retry_at = 0.0
            if report.mode == "full":
                self.slow(force=True)
        except Exception as exc:  # noqa: BLE001 - keep watching; the live site stays as it was
            self.last_error = str(exc)
            self.failures += 1
            # A build that fails fails again until someone mends the cause (a leak the scan
            # found, a full disk, a broken template): the journal poll waits 1, 2, 4 ... 60 s
            # between tries instead of rebuilding (and logging) without pause. An edit to
            # the content or the catalog, which may be the fix, is built at once.
            delay = min(RETRY_MAX_SECONDS, 2.0 ** (self.failures - 1))
            self._retry_at = time.monotonic() + delay
            log.exception("build failed (%d in a row); the live site stays as it was; tried again in %.0f s, "
                          "or at once on an edit of the content or catalog", self.failures, delay)

    def slow(self, *, force: bool = False) -> None:
        """Start the slow lane in a child process (unless one is still running)."""
        if self._slow_proc is not None and self._slow_proc.is_alive():
            return
        if not force and time.monotonic() - self._last_slow < self.slow_interval:
            return
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

        from .state import read_meta

        path = self.config.state_dir / "state.sqlite"
        if not path.exists():
            return True
        cursor = read_meta(path, "cursor") or ""
        return Journal(self.config.data_dir / "journal", durable=False).head() != cursor

    def run(self) -> None:
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
                self.build_once()

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
            except Exception:  # noqa: BLE001 - keep polling; the live site stays as it was
                log.exception("journal poll failed")

    def _tick(self) -> None:
        while not self.stop.wait(5):
            self.slow()


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

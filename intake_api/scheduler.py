"""The in-service scheduler: deadlines and five-level supervision every N seconds.

Every worker process starts one, but only the worker holding the `flock` on
`data/.locks/scheduler.lock` runs the ticks; the others keep trying, so when the leader
dies another worker takes over. `shoufa tick` does the same work once, for cron.
The leader also saves the open-ticket index's snapshot every few minutes, so a worker
that starts later replays only the recent journal.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

from .idempotency import IdempotencyRecords
from .service import Service

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 3600.0
SNAPSHOT_EVERY_SECONDS = 300.0


class Scheduler:
    def __init__(
        self, service: Service, *, interval: float, records: IdempotencyRecords | None = None
    ) -> None:
        self.service = service
        self.interval = interval
        self.records = records
        self.lock_path = Path(service.data_dir) / ".locks" / "scheduler.lock"
        self._fd: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0
        self._last_snapshot = time.monotonic()

    @property
    def leader(self) -> bool:
        return self._fd is not None

    def try_lead(self) -> bool:
        """Become the leader if no other process is (non-blocking)."""
        if self._fd is not None:
            return True
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        log.info(
            "scheduler: this worker (pid %d) runs deadlines every %g s", os.getpid(), self.interval
        )
        return True

    def run_once(self) -> int:
        """Tick every due ticket now; return how many changed."""
        changed = self.service.tick_due()
        if changed:
            log.info("scheduler: %d ticket(s) overdue or supervised", changed)
        now = time.monotonic()
        if self.records is not None and now - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = now
            self.records.prune()
        if now - self._last_snapshot > SNAPSHOT_EVERY_SECONDS:
            self._last_snapshot = now
            self.service.index.save()
        return changed

    def _loop(self) -> None:
        # A first round at start catches up with whatever fell due while nobody ran.
        while True:
            try:
                if self.try_lead():
                    self.run_once()
            except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
                log.exception("scheduler round failed")
            if self._stop.wait(self.interval):
                return

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="shoufa-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

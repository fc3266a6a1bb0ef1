"""Group commit: the writers of one process share the syncs of one batch.

A writer queues its item and waits. If no batch is being committed, it commits at once
everything queued, its own item included (so an idle store adds no delay); otherwise it
waits, and the items queued meanwhile are committed together by the next writer to take
the lead. Only whole batches are flushed, one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchFailed(RuntimeError):
    """The flush of the batch this item was in raised (a bug: flushes report per item)."""


class _Slot(Generic[T]):
    __slots__ = ("done", "error", "item")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(self, flush: Callable[[list[T]], None]) -> None:
        """`flush` commits a batch and records each item's outcome on the item itself."""
        self._flush = flush
        self._cond = threading.Condition()
        self._queue: list[_Slot[T]] = []
        self._busy = False

    def submit(self, item: T) -> None:
        """Commit `item` together with whatever else is queued; return once it is flushed."""
        slot = _Slot(item)
        with self._cond:
            self._queue.append(slot)
            while self._busy and not slot.done:
                self._cond.wait()
            lead = not slot.done
            if lead:
                batch, self._queue = self._queue, []
                self._busy = True
        if lead:
            self._lead(batch)
        if slot.error is not None:
            raise BatchFailed("the batch could not be committed") from slot.error

    def _lead(self, batch: list[_Slot[T]]) -> None:
        error: BaseException | None = None
        try:
            self._flush([s.item for s in batch])
        except BaseException as exc:  # noqa: BLE001 - handed to every writer of the batch
            error = exc
        finally:
            with self._cond:
                for s in batch:
                    s.error = error
                    s.done = True
                self._busy = False
                self._cond.notify_all()

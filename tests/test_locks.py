"""Striped cross-process locks (intake_api/locks.py)."""

from __future__ import annotations

import fcntl
import os
import signal
import threading

import pytest

from intake_api import locks


def _free(path) -> bool:
    """Whether another open file could take the lock now."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_lock_excludes_others_until_its_block_ends(tmp_path):
    a, b = tmp_path / "a.lock", tmp_path / "b.lock"
    with locks.hold([a, b]):
        assert not _free(a) and not _free(b)
        taken = threading.Event()

        def other() -> None:
            with locks.hold([b]):
                taken.set()

        t = threading.Thread(target=other)
        t.start()
        assert not taken.wait(0.2)  # another thread waits for it
    t.join(5)
    assert taken.is_set() and _free(a) and _free(b)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_process_forked_while_it_is_held_does_not_keep_it(tmp_path):
    """`shoufa serve` forks build workers beside the API's threads: a child that inherited
    a held lock's file must not keep other intakes waiting for as long as it lives."""
    path = tmp_path / "dup-001.lock"
    with locks.hold([path]):
        child = os.fork()
        if child == 0:  # pragma: no cover - the child only sleeps, holding its copy
            signal.pause()
            os._exit(0)
    try:
        assert _free(path)
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_keys_map_to_stable_stripes():
    assert locks.stripe("LY20261207000001") == locks.stripe("LY20261207000001")
    assert {locks.stripe(f"k{i}") for i in range(5000)} == set(range(locks.STRIPES))
    assert locks.stripe_name(7, "dup-") == "dup-007.lock"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_fork_while_an_intake_takes_its_number_does_not_keep_the_days_counter(tmp_path, monkeypatch):
    """Every intake of every process takes the day's counter lock: a build worker forked
    in that moment must not hold up all intakes until it ends."""
    from intake_api.store import Store

    store = Store(tmp_path / "data")
    real_pread = os.pread
    children: list[int] = []

    def pread_after_a_fork(fd: int, n: int, offset: int) -> bytes:
        if not children:
            child = os.fork()
            if child == 0:  # pragma: no cover - the child only sleeps, holding its copy
                signal.pause()
                os._exit(0)
            children.append(child)
        return real_pread(fd, n, offset)

    monkeypatch.setattr(os, "pread", pread_after_a_fork)
    try:
        ticket_id = store.new_id()
        monkeypatch.undo()
        assert children, "the counter was not read under its lock"
        assert _free(store.path_for(ticket_id).parent / ".seq")
        assert store.new_id() != ticket_id
    finally:
        for child in children:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)

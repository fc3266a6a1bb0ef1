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

"""Group commit: concurrent writes share their syncs, and are stored and journaled, or not at all.

- many intakes at once in one process: every acknowledged ticket is on disk, valid and
  in the journal (where the site's incremental build finds it), with far fewer syncs
  than tickets;
- a writer that dies between putting its files in place and journaling them: the next
  start journals what it stored, and only that;
- a batch whose journal cannot be written: every write in it fails, none is stored, the
  earlier versions stay;
- the batching itself: an idle writer commits at once, writers that queue meanwhile are
  committed together.
"""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from intake_api.app import create_app
from intake_api.catalog import load_catalog
from intake_api.clock import FixedClock
from intake_api.groupcommit import BatchFailed, GroupCommit
from intake_api.journal import PENDING_PREFIX, Change, Journal
from intake_api.model import TicketCreate
from intake_api.server import ApiSettings
from intake_api.service import Service
from intake_api.store import Store, StoreError

from .conftest import CATALOG_DIR, OPERATOR, T0, dept

TEXTS = ["小区门口垃圾好几天没人清运了，兰山区", "楼上装修噪音太大，罗庄区", "路灯坏了一个月没人修，河东区"]


def _intake(service: Service, i: int):
    return service.create(TicketCreate(channel="web", content=f"{TEXTS[i % 3]} 第{i}次"), actor=OPERATOR)


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# -- concurrent intakes -------------------------------------------------------------------


def test_concurrent_intakes_are_all_stored_and_journaled_with_shared_syncs(service, monkeypatch):
    n = 96
    syncs = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real(fd))[1])
    with ThreadPoolExecutor(24) as pool:
        ids = [r.ticket.id for r in pool.map(lambda i: _intake(service, i), range(n))]

    assert len(set(ids)) == n
    store = Store(service.data_dir)
    assert {p.stem for p in store.paths()} == set(ids), "files = acknowledged tickets"
    for p in store.paths():
        store.read_path(p)  # parses, validates, the chain verifies
    changes, _ = store.journal.read_since()
    assert sorted(c.ticket_id for c in changes) == sorted(ids), "each intake journaled once"
    assert not list(store.tickets_dir.rglob("*.tmp"))
    # Without grouping, two journal syncs (pending changes, lines) per ticket.
    assert len(syncs) < n, f"{len(syncs)} journal syncs for {n} tickets"


def test_updates_during_intakes_are_journaled_in_each_tickets_order(service):
    first = _intake(service, 0)
    d = dept(first.decision.department)
    service.act(first.ticket.id, {"action": "accept"}, actor=d)

    def reply(i: int) -> None:
        service.act(first.ticket.id, {"action": "reply", "text": f"进展{i}"}, actor=d)

    with ThreadPoolExecutor(16) as pool:
        jobs = [pool.submit(reply, i) for i in range(20)]
        jobs += [pool.submit(_intake, service, i) for i in range(1, 41)]
        for j in jobs:
            j.result()

    ticket = service.store.get(first.ticket.id)
    assert len([e for e in ticket.events if e.type == "replied"]) == 20
    changes, _ = service.store.journal.read_since()
    seqs = [c.seq for c in changes if c.ticket_id == first.ticket.id]
    assert seqs == sorted(seqs) and seqs[-1] == ticket.last.seq
    assert len({c.ticket_id for c in changes}) == 41


# -- a crash between the files and the journal -----------------------------------------------


def _file_and_die(data_dir: str, where: str) -> None:
    """File a ticket, dying (SIGKILL) before its file goes into place, or right after."""
    import intake_api.store

    svc = Service(data_dir=Path(data_dir), catalog=load_catalog(CATALOG_DIR), clock=FixedClock(T0))

    def die(*_args, **_kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "before_journal":
        Journal.append = die
    else:
        intake_api.store.os.link = die
    svc.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR)


@pytest.mark.parametrize("where", ["before_link", "before_journal"])
def test_a_writer_killed_between_file_and_journal_is_journaled_at_the_next_start(
    data_dir, tmp_path, where
):
    p = mp.get_context("spawn").Process(target=_file_and_die, args=(str(data_dir), where))
    p.start()
    p.join(60)
    assert p.exitcode == -signal.SIGKILL
    store = Store(data_dir)
    stored = [path.stem for path in store.paths()]
    assert len(stored) == (0 if where == "before_link" else 1)
    assert store.journal.read_since()[0] == [], "killed before any line was written"

    # A worker starting over the same data (the replacement of the killed one).
    settings = ApiSettings(
        data_dir=data_dir, site_dir=tmp_path / "site", secrets_dir=tmp_path / "secrets",
        content_dir=tmp_path / "content", tick_seconds=0,
    )
    with TestClient(create_app(settings, clock=FixedClock(T0))):
        pass

    changes, _ = store.journal.read_since()
    assert [c.ticket_id for c in changes] == stored, "the stored ticket is journaled, nothing else"
    assert not list(store.journal.root.glob(PENDING_PREFIX + "*"))
    for path in store.paths():
        store.read_path(path)
    report = store.recover()  # `shoufa serve` at start: stray temp files go too
    assert report.replayed == []
    assert not list(store.tickets_dir.rglob("*.tmp"))


def test_a_live_writers_pending_changes_are_left_alone(service):
    t = _intake(service, 0).ticket
    service.store.journal.intend([Change(t.id, t.last.seq, "received", "2026-11-20T01:00:00Z")])
    other = Store(service.data_dir, clock=FixedClock(T0))
    assert other.replay_pending() == [], "the writer is alive: its changes may still be in flight"
    os.close(service.store.journal._pending_fd)  # the writer dies: its lock goes with it
    assert [c.ticket_id for c in other.replay_pending()] == [t.id]


# -- a batch that cannot be made durable --------------------------------------------------------


def test_a_failed_batch_fails_every_write_in_it_and_stores_none(service, monkeypatch):
    olds = [_intake(service, i) for i in range(2)]
    before = {r.ticket.id: service.store.path_for(r.ticket.id).read_bytes() for r in olds}
    journal = service.store.journal
    real_intend, real_append = journal.intend, journal.append
    batches: list[list[Change]] = []

    def intend(changes):
        batches.append(list(changes))
        if len(batches) == 1:  # hold the first batch until four writes queue behind it
            _wait_until(lambda: len(service.store._group._queue) == 4)
        real_intend(batches[-1])

    def append(changes, *, now):
        if len(batches) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_append(changes, now=now)

    monkeypatch.setattr(journal, "intend", intend)
    monkeypatch.setattr(journal, "append", append)
    results: dict[str, object] = {}

    def run(name, fn):
        try:
            results[name] = fn()
        except StoreError as exc:
            results[name] = exc

    threads = [threading.Thread(target=run, args=("lead", lambda: _intake(service, 10)))]
    threads[0].start()
    _wait_until(lambda: len(batches) == 1)
    for r in olds:
        d = dept(r.decision.department)
        threads.append(threading.Thread(target=run, args=(
            r.ticket.id, lambda r=r, d=d: service.act(r.ticket.id, {"action": "accept"}, actor=d))))
    for i in (11, 12):
        threads.append(threading.Thread(target=run, args=(f"new{i}", lambda i=i: _intake(service, i))))
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(30)

    assert len(batches) == 2 and len(batches[1]) == 4
    failed = {k: v for k, v in results.items() if k != "lead"}
    assert all(isinstance(v, StoreError) for v in failed.values()), failed
    stored = {p.stem for p in service.store.paths()}
    assert stored == {*before, results["lead"].ticket.id}, "none of the failed batch is stored"
    for tid, raw in before.items():
        assert service.store.path_for(tid).read_bytes() == raw, "the earlier version stays"
    assert not list(service.store.tickets_dir.rglob("*.tmp"))
    monkeypatch.undo()
    assert _intake(service, 13).ticket.id in {p.stem for p in service.store.paths()}


# -- the batching ---------------------------------------------------------------------------


def test_an_idle_writer_commits_at_once_in_its_own_thread():
    flushed = []
    group = GroupCommit(lambda batch: flushed.append((threading.current_thread(), batch)))
    group.submit("a")
    assert flushed == [(threading.current_thread(), ["a"])]


def test_writers_that_queue_during_a_commit_are_committed_together():
    release = threading.Event()
    batches = []

    def flush(batch):
        batches.append(batch)
        if batch == ["first"]:
            release.wait(10)

    group = GroupCommit(flush)
    threads = [threading.Thread(target=group.submit, args=("first",))]
    threads[0].start()
    _wait_until(lambda: batches)
    for queued, name in enumerate(("b", "c", "d"), start=1):
        threads.append(threading.Thread(target=group.submit, args=(name,)))
        threads[-1].start()
        _wait_until(lambda n=queued: len(group._queue) == n)
    release.set()
    for t in threads:
        t.join(10)
    assert batches == [["first"], ["b", "c", "d"]]


def test_a_flush_that_raises_fails_its_batch_only():
    calls = []

    def flush(batch):
        calls.append(batch)
        if len(calls) == 1:
            raise ValueError("bug")

    group = GroupCommit(flush)
    with pytest.raises(BatchFailed) as info:
        group.submit("x")
    assert isinstance(info.value.__cause__, ValueError)
    group.submit("y")
    assert calls == [["x"], ["y"]]


# -- bulk loads (demo data) -----------------------------------------------------------------------


def _bulk_tickets(service: Service, n: int):
    """n tickets made in memory (as the demo does) by filing them in a scratch store."""
    return [_intake(service, i).ticket for i in range(n)]


def test_a_bulk_load_journals_each_line_after_its_file(service, tmp_path, monkeypatch):
    tickets = _bulk_tickets(service, 5)
    target = Store(tmp_path / "bulk", clock=FixedClock(T0), durable=False)
    seen: list[tuple[str, bool]] = []
    append = Journal.append

    def checking_append(self, changes, *, now):
        changes = list(changes)
        seen.extend((c.ticket_id, target.path_for(c.ticket_id).exists()) for c in changes)
        return append(self, changes, now=now)

    monkeypatch.setattr(Journal, "append", checking_append)
    assert target.bulk_write(tickets, batch=2) == 5
    assert seen == [(t.id, True) for t in tickets], "a line named a file not in place yet"
    assert [c.ticket_id for c in target.journal.read_since()[0]] == [t.id for t in tickets]


def test_a_bulk_load_killed_before_its_journal_line_is_journaled_at_the_next_start(
    service, tmp_path, monkeypatch
):
    tickets = _bulk_tickets(service, 3)
    target = Store(tmp_path / "bulk", clock=FixedClock(T0), durable=False)

    def crash(self, changes, *, now):
        raise KeyboardInterrupt("killed between the files and the journal")

    monkeypatch.setattr(Journal, "append", crash)
    with pytest.raises(KeyboardInterrupt):
        target.bulk_write(tickets)
    monkeypatch.undo()
    assert all(target.path_for(t.id).exists() for t in tickets)
    assert target.journal.read_since()[0] == []
    os.close(target.journal._pending_fd)  # the loader is dead: its lock goes with it
    after = Store(tmp_path / "bulk", clock=FixedClock(T0), durable=False)
    assert [c.ticket_id for c in after.replay_pending()] == [t.id for t in tickets]
    assert [c.ticket_id for c in after.journal.read_since()[0]] == [t.id for t in tickets]

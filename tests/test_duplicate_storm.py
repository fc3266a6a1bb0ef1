"""A storm of repeats: many citizens report the same matter at one place at once (a burst
main, one building without water). Every repeat is linked both ways, as one at a time
would be, but the repeats do not queue behind each other: they are filed without the
duplicate lock, and the API server writes the link-backs to the earlier ticket after
answering, in batches; a start writes those a stopped process had not."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from intake_api.model import Actor, EventType, Role, TicketCreate
from intake_api.service import Service

from .conftest import OPERATOR, ROOT

WATER = "兰山区柳青街道幸福小区3号楼停水两天了，请尽快恢复供水。"
ADDRESS = "兰山区柳青街道幸福小区3号楼"


def _call(i: int, *, address: str = ADDRESS) -> TicketCreate:
    return TicketCreate(channel="hotline", content=WATER, address=address, citizen_phone=f"139{i:08d}")


@pytest.fixture
def server_service(data_dir, catalog, clock) -> Service:
    """The service as the API server runs it: link-backs written in the background."""
    svc = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    yield svc
    svc.links.close()


def test_a_storm_of_repeats_is_linked_both_ways_and_written_in_batches(server_service: Service, monkeypatch):
    service = server_service
    first = service.create(_call(0), actor=OPERATOR).ticket
    locks = []
    real_lock = service._duplicate_lock
    monkeypatch.setattr(service, "_duplicate_lock", lambda keys: (locks.append(keys), real_lock(keys))[1])
    # Each write of the earlier ticket takes a while (it grows with every link): the
    # repeats that arrive meanwhile must go into the next write together.
    real_update = service.store.update
    writes = []

    def slow_update(ticket_id, change):
        if ticket_id == first.id:
            writes.append(threading.get_ident())
            time.sleep(0.03)
        return real_update(ticket_id, change)

    monkeypatch.setattr(service.store, "update", slow_update)
    n = 48
    with ThreadPoolExecutor(16) as pool:
        intakes = list(pool.map(lambda i: service.create(_call(i), actor=OPERATOR), range(1, n + 1)))

    assert service.links.wait(timeout=30)
    assert all(x.duplicate_of is not None and x.duplicate_of.ticket_id == first.id for x in intakes)
    assert all(x.duplicate_of.basis == "same_address" for x in intakes)
    for x in intakes:
        assert x.ticket.state.links == [{"ticket": first.id, "relation": "duplicate_of"}]
    original = service.store.get(first.id)
    back = [link["ticket"] for link in original.state.links]
    assert sorted(back) == sorted(x.ticket.id for x in intakes), "every repeat linked back once"
    linked = [e for e in original.events if e.type == EventType.LINKED]
    assert [e.data["relation"] for e in linked] == ["duplicate"] * n
    original.verify_chain()
    assert len(writes) < n // 2, f"{len(writes)} writes of the earlier ticket for {n} repeats"
    assert locks == [], "a repeat of an open ticket waited for the duplicate lock"
    assert service.links.writes == len(writes)


def test_a_repeat_is_answered_before_its_link_back_and_a_read_waits_for_it(server_service: Service, monkeypatch):
    service = server_service
    first = service.create(_call(0), actor=OPERATOR).ticket
    release = threading.Event()
    real_update = service.store.update

    def held_update(ticket_id, change):
        assert release.wait(10)
        return real_update(ticket_id, change)

    monkeypatch.setattr(service.store, "update", held_update)
    repeat = service.create(_call(1), actor=OPERATOR)  # answered while the link-back waits
    assert repeat.duplicate_of.ticket_id == first.id
    assert service.store.get(first.id).state.links == []
    threading.Timer(0.2, release.set).start()
    # A read through the service (the API's) sees its own process's link-backs.
    assert service.get(first.id).state.links == [{"ticket": repeat.ticket.id, "relation": "duplicate"}]


_DIE = """
import os, sys
from pathlib import Path
import orjson
from intake_api.catalog import load_catalog
from intake_api.clock import FixedClock
from intake_api.service import Service
from tests.conftest import OPERATOR, T0
from tests.test_duplicate_storm import _call
data = Path(sys.argv[1])
svc = Service(data_dir=data, catalog=load_catalog(data / "catalog"), clock=FixedClock(T0), background_links=True)
first = svc.create(_call(0), actor=OPERATOR).ticket.id
svc.links.add = lambda links: None  # killed before the writer thread runs
repeats = [svc.create(_call(i), actor=OPERATOR).ticket.id for i in (1, 2, 3)]
print(orjson.dumps([first, repeats]).decode(), flush=True)
os._exit(0)  # no shutdown: as a killed worker
"""


def _die_owing_link_backs(data_dir) -> tuple[str, list[str]]:
    """A worker process files a first report and three repeats, then dies (killed)
    before writing their link-backs; return the ids."""
    out = subprocess.run(
        [sys.executable, "-c", _DIE, str(data_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    first, repeats = json.loads(out.stdout.strip().splitlines()[-1])
    return first, repeats


def _reads_nothing(service: Service, monkeypatch) -> None:
    def no_read(*args, **kwargs):
        raise AssertionError("read a ticket")

    monkeypatch.setattr(service.store, "get", no_read)


def test_link_backs_a_stopped_process_had_not_written_are_written_at_start(data_dir, catalog, clock, monkeypatch):
    first, repeats = _die_owing_link_backs(data_dir)
    assert Service(data_dir=data_dir, catalog=catalog, clock=clock).store.get(first).state.links == []

    restarted = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    other = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    try:
        assert restarted.reconcile_links() == 3
        # The other worker, starting with it, finds the dead worker's mark taken: it
        # reads nothing.
        _reads_nothing(other, monkeypatch)
        assert other.reconcile_links() == 0
        assert restarted.links.wait(timeout=30)
        links = restarted.store.get(first).state.links
        assert sorted(link["ticket"] for link in links) == sorted(repeats)
        assert {link["relation"] for link in links} == {"duplicate"}
        restarted.links.add([])  # harmless
        restarted.store.get(first).verify_chain()
    finally:
        restarted.links.close()
        other.links.close()
    # Once written and stopped cleanly, nothing is owed: the next start reads nothing.
    again = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    _reads_nothing(again, monkeypatch)
    assert again.reconcile_links() == 0
    assert list((data_dir / ".locks" / "link-backs").iterdir()) == []


def test_a_clean_stop_leaves_nothing_to_reconcile(data_dir, catalog, clock, monkeypatch):
    svc = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    first = svc.create(_call(0), actor=OPERATOR).ticket
    marks = data_dir / ".locks" / "link-backs"
    ids = [svc.create(_call(i), actor=OPERATOR).ticket.id for i in range(1, 4)]
    assert len(list(marks.iterdir())) == 1  # marked before the first repeat was stored
    svc.links.close()
    assert list(marks.iterdir()) == []
    assert sorted(link["ticket"] for link in svc.store.get(first.id).state.links) == sorted(ids)
    restarted = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    _reads_nothing(restarted, monkeypatch)
    assert restarted.reconcile_links() == 0


def test_a_store_from_before_the_marks_is_reconciled_once(data_dir, catalog, clock, monkeypatch):
    first, repeats = _die_owing_link_backs(data_dir)
    shutil.rmtree(data_dir / ".locks" / "link-backs")  # as an earlier version left it
    restarted = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    try:
        assert restarted.reconcile_links() == 3
        assert restarted.links.wait(timeout=30)
    finally:
        restarted.links.close()
    assert len(restarted.store.get(first).state.links) == 3
    again = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    _reads_nothing(again, monkeypatch)
    assert again.reconcile_links() == 0


def test_a_server_stop_writes_the_queued_link_backs(data_dir, catalog, clock):
    svc = Service(data_dir=data_dir, catalog=catalog, clock=clock, background_links=True)
    first = svc.create(_call(0), actor=OPERATOR).ticket
    ids = [svc.create(_call(i), actor=OPERATOR).ticket.id for i in range(1, 6)]
    svc.links.close()
    assert sorted(link["ticket"] for link in svc.store.get(first.id).state.links) == sorted(ids)
    # After the stop, a late link-back is written at once, in the caller's thread.
    late = svc.create(_call(9), actor=OPERATOR).ticket.id
    assert late in {link["ticket"] for link in svc.store.get(first.id).state.links}


def test_the_first_of_a_storm_is_filed_under_the_lock(service: Service, monkeypatch):
    """Intakes that repeat nothing yet are serialised: of many at once, one is the first and
    every other one links to it (none is a second unlinked "first")."""
    locks = []
    real_lock = service._duplicate_lock
    monkeypatch.setattr(service, "_duplicate_lock", lambda keys: (locks.append(keys), real_lock(keys))[1])
    with ThreadPoolExecutor(12) as pool:
        intakes = list(pool.map(lambda i: service.create(_call(i), actor=OPERATOR), range(24)))
    firsts = [x for x in intakes if x.duplicate_of is None]
    assert len(firsts) == 1
    assert {x.duplicate_of.ticket_id for x in intakes if x.duplicate_of} == {firsts[0].ticket.id}
    assert locks, "the first intake of a place took the lock"
    # Ids stay gap-free: every number of the day was given to a stored ticket.
    seqs = sorted(int(x.ticket.id[-6:]) for x in intakes)
    assert seqs == list(range(seqs[0], seqs[0] + len(intakes)))


def test_the_first_wave_of_a_storm_waits_only_for_the_first_report(service: Service, monkeypatch):
    """Calls that arrive while the first report of a place is being stored wait for it,
    then file as repeats without the lock: only the first report is written under it."""
    held = threading.local()
    real_lock = service._duplicate_lock

    @contextlib.contextmanager
    def tracked(keys):
        with real_lock(keys):
            held.n = getattr(held, "n", 0) + 1
            try:
                yield
            finally:
                held.n -= 1

    monkeypatch.setattr(service, "_duplicate_lock", tracked)
    real_create = service.store.create
    under_lock = []
    first_writing = threading.Event()

    def slow_create(build, **kw):
        locked = getattr(held, "n", 0) > 0
        under_lock.append(locked)
        if len(under_lock) == 1:
            first_writing.set()
            time.sleep(0.3)  # the first report's durable write, while the wave arrives
        return real_create(build, **kw)

    monkeypatch.setattr(service.store, "create", slow_create)
    with ThreadPoolExecutor(12) as pool:
        first = pool.submit(service.create, _call(0), actor=OPERATOR)
        assert first_writing.wait(5)
        wave = list(pool.map(lambda i: service.create(_call(i), actor=OPERATOR), range(1, 12)))
    first_id = first.result().ticket.id
    assert first.result().duplicate_of is None
    assert all(x.duplicate_of is not None and x.duplicate_of.ticket_id == first_id for x in wave)
    assert under_lock == [True] + [False] * 11, "the wave filed one at a time under the lock"


def test_a_repeat_links_to_the_earliest_open_ticket_within_the_window(service: Service, clock):
    window = timedelta(hours=service.catalog.sla.duplicate_window_hours)
    a = service.create(_call(1), actor=OPERATOR).ticket
    clock.advance(hours=1)
    b = service.create(_call(2, address=ADDRESS + " "), actor=OPERATOR)  # the same place, folded
    assert b.duplicate_of.ticket_id == a.id
    # The earliest closes: the next repeat links to the earliest still open.
    dept = Actor(role=Role.DEPARTMENT, department=a.state.department)
    service.act(a.id, {"action": "accept"}, actor=dept)
    service.act(a.id, {"action": "resolve", "text": "已恢复供水。"}, actor=dept)
    service.act(a.id, {"action": "close", "reason": "resolved"}, actor=Actor(role=Role.SUPERVISOR, name="s"))
    clock.advance(hours=1)
    c = service.create(_call(3), actor=OPERATOR)
    assert c.duplicate_of.ticket_id == b.ticket.id
    # Past the window of the earliest open one, a repeat starts over.
    clock.set(b.ticket.state.received_at + window + timedelta(minutes=1))
    d = service.create(_call(4), actor=OPERATOR)
    assert d.duplicate_of.ticket_id == c.ticket.id
    clock.set(c.ticket.state.received_at + window + timedelta(minutes=1))
    assert service.create(_call(5), actor=OPERATOR).duplicate_of.ticket_id == d.ticket.id


def test_the_dispatch_rules_page_states_the_catalogs_duplicate_window(catalog):
    """The site's rules page tells citizens when a report is linked as a repeat."""
    from .conftest import ROOT

    page = (ROOT / "content" / "pages" / "about" / "dispatch.md").read_text(encoding="utf-8")
    hours = catalog.sla.duplicate_window_hours
    assert f"**{hours:g} 小时（{hours / 24:g} 天）**" in page
    assert "重复诉求" in page
    # ... and how a ticket page shows many repeats (the numbers the page renderer uses)
    from generator.pages.ticket import REPEATS_INLINE
    from generator.public import REPEATS_GROUPED

    assert f"重复诉求超过 {REPEATS_INLINE} 件时" in page
    assert f"连续 {REPEATS_GROUPED} 件以上的“收到重复诉求”合为一项" in page


def test_a_failing_link_back_does_not_stop_the_writer(server_service: Service, monkeypatch, caplog):
    service = server_service
    first = service.create(_call(0), actor=OPERATOR).ticket
    real_update = service.store.update
    calls = []

    def broken_once(ticket_id, change):
        calls.append(ticket_id)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real_update(ticket_id, change)

    monkeypatch.setattr(service.store, "update", broken_once)
    lost = service.create(_call(1), actor=OPERATOR).ticket.id
    assert service.links.wait(timeout=10)
    assert "could not link" in caplog.text
    kept = service.create(_call(2), actor=OPERATOR).ticket.id
    assert service.links.wait(timeout=10)
    linked = {link["ticket"] for link in service.store.get(first.id).state.links}
    assert kept in linked and lost not in linked
    # A stop keeps the process's mark: the next start writes the one the bug lost.
    service.links.close()
    assert len(list((service.data_dir / ".locks" / "link-backs").iterdir())) == 1
    restarted = Service(data_dir=service.data_dir, catalog=service.catalog, clock=service.clock, background_links=True)
    try:
        assert restarted.reconcile_links() == 1
        assert restarted.links.wait(timeout=10)
    finally:
        restarted.links.close()
    assert {link["ticket"] for link in restarted.store.get(first.id).state.links} == {lost, kept}

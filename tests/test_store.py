"""The file store: crash safety, concurrency, the journal, quarantine."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from intake_api.catalog import load_catalog
from intake_api.clock import FixedClock
from intake_api.journal import START
from intake_api.model import Actor, Role, TicketCreate
from intake_api.service import Service
from intake_api.store import CorruptTicket, InvalidTicketId, Store, TicketNotFound

from .conftest import CATALOG_DIR, OPERATOR, T0

TEXTS = ["小区门口垃圾好几天没人清运了，兰山区", "楼上装修噪音太大，罗庄区", "路灯坏了一个月没人修，河东区"]


def _worker(data_dir: str, n: int, out: str) -> None:
    """Create n tickets and reply to each, recording what the store acknowledged."""
    svc = Service(data_dir=Path(data_dir), catalog=load_catalog(CATALOG_DIR), clock=FixedClock(T0))
    acked = []
    for i in range(n):
        r = svc.create(TicketCreate(channel="web", content=TEXTS[i % 3] + f" 第{i}次"), actor=OPERATOR)
        d = Actor(role=Role.DEPARTMENT, department=r.decision.department)
        svc.act(r.ticket.id, {"action": "accept"}, actor=d)
        acked.append(r.ticket.id)
    Path(out).write_text(json.dumps(acked))


def _replier(data_dir: str, ticket_id: str, dept_code: str, n: int) -> None:
    svc = Service(data_dir=Path(data_dir), catalog=load_catalog(CATALOG_DIR), clock=FixedClock(T0))
    d = Actor(role=Role.DEPARTMENT, department=dept_code)
    for i in range(n):
        svc.act(ticket_id, {"action": "reply", "text": f"进展{os.getpid()}-{i}"}, actor=d)


@pytest.mark.slow
def test_processes_creating_and_updating_at_once_lose_nothing(data_dir, tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(data_dir), 25, str(tmp_path / f"ack{i}.json"))) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    acked = [tid for i in range(4) for tid in json.loads((tmp_path / f"ack{i}.json").read_text())]
    assert len(acked) == 100 and len(set(acked)) == 100  # no id reused
    store = Store(data_dir)
    files = list(store.paths())
    assert len(files) == 100
    for tid in acked:
        t = store.get(tid)  # parses, validates and verifies the chain
        assert [e.type for e in t.events] == ["received", "dispatched", "accepted"]


@pytest.mark.slow
def test_concurrent_updates_of_one_ticket_are_all_recorded_in_order(service, data_dir):
    r = service.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR)
    d = Actor(role=Role.DEPARTMENT, department=r.decision.department)
    service.act(r.ticket.id, {"action": "accept"}, actor=d)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_replier, args=(str(data_dir), r.ticket.id, d.department, 15)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    t = Store(data_dir).get(r.ticket.id)
    replies = [e.data["text"] for e in t.events if e.type == "replied"]
    assert len(replies) == 45
    for pid in {x.split("-")[0] for x in replies}:
        mine = [int(x.split("-")[1]) for x in replies if x.startswith(pid + "-")]
        assert mine == sorted(mine)  # each writer's updates in its order


def _slow_writer(data_dir: str, ticket_id: str) -> None:
    """Rewrite one ticket forever; killed with SIGKILL by the test."""
    svc = Service(data_dir=Path(data_dir), catalog=load_catalog(CATALOG_DIR), clock=FixedClock(T0))
    big = "很长的答复" * 3000
    i = 0
    while True:
        svc.act(ticket_id, {"action": "reply", "text": f"{i}{big}"[:2000]}, actor=Actor(role=Role.ADMIN))
        i += 1


@pytest.mark.slow
def test_a_write_killed_midway_leaves_a_valid_version(service, data_dir):
    r = service.create(TicketCreate(channel="web", content=TEXTS[1]), actor=OPERATOR)
    service.act(r.ticket.id, {"action": "accept"}, actor=Actor(role=Role.ADMIN))
    ctx = mp.get_context("spawn")
    for delay in (0.8, 1.1, 1.4):
        p = ctx.Process(target=_slow_writer, args=(str(data_dir), r.ticket.id))
        p.start()
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        store = Store(data_dir)
        t = store.get(r.ticket.id)  # the previous or the new version, complete and verified
        assert t.events[2].type == "accepted"
    report = Store(data_dir).recover()
    leftovers = [p for p in data_dir.rglob("*.tmp")]
    assert leftovers == []
    assert all(p.name.endswith(".tmp") for p in report.temp_removed)


def test_corrupt_and_hand_edited_files_are_quarantined_and_reported(service, data_dir):
    a = service.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR).ticket
    b = service.create(TicketCreate(channel="web", content=TEXTS[1]), actor=OPERATOR).ticket
    c = service.create(TicketCreate(channel="web", content=TEXTS[2]), actor=OPERATOR).ticket
    store = service.store
    store.path_for(a.id).write_bytes(b'{"v": 1, "id": "' + a.id.encode() + b'", "events": [')
    edited = json.loads(store.path_for(b.id).read_text())
    edited["events"][0]["data"]["content"] = "悄悄改过的内容"
    store.path_for(b.id).write_text(json.dumps(edited, ensure_ascii=False))
    report = store.check()
    assert sorted(Path(e.path).stem for e in report.invalid) == sorted([a.id, b.id])
    assert "does not verify" in next(e.reason for e in report.invalid if b.id in str(e.path))
    assert len(report.quarantined) == 2 and all(p.exists() for p in report.quarantined)
    assert all(p.with_name(p.name + ".reason.txt").exists() for p in report.quarantined)
    assert [t.id for t in store.scan()] == [c.id]
    with pytest.raises(TicketNotFound):
        store.get(a.id)


def test_scan_reports_but_never_crashes_on_garbage(service, data_dir):
    service.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR)
    day = next(p.parent for p in data_dir.rglob("LY*.json"))
    (day / "LY20261120999999.json").write_bytes(b"\xff\xfe not json")
    from intake_api.store import ScanReport

    report = ScanReport()
    assert len(list(service.store.scan(report=report))) == 1
    assert len(report.invalid) == 1 and isinstance(report.invalid[0], CorruptTicket)


def test_journal_tells_what_changed_since_a_cursor(service):
    r1 = service.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR)
    changes, cursor = service.store.journal.read_since(START)
    assert [c.ticket_id for c in changes] == [r1.ticket.id]
    assert service.store.journal.read_since(cursor)[0] == []
    r2 = service.create(TicketCreate(channel="web", content=TEXTS[1]), actor=OPERATOR)
    service.act(r1.ticket.id, {"action": "accept"}, actor=Actor(role=Role.ADMIN))
    changes, _ = service.store.journal.read_since(cursor)
    assert [(c.ticket_id, c.type) for c in changes] == [(r2.ticket.id, "dispatched"), (r1.ticket.id, "accepted")]


def test_journal_reader_ignores_a_half_written_line(service):
    service.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR)
    seg = next(service.store.journal.root.glob("*.jsonl"))
    with open(seg, "ab") as fh:
        fh.write(b'{"id": "LY2026')
    changes, cursor = service.store.journal.read_since(START)
    assert len(changes) == 1
    with open(seg, "ab") as fh:
        fh.write(b'1120000777", "seq": 1, "type": "received", "at": "x"}\n')
    more, _ = service.store.journal.read_since(cursor)
    assert [c.ticket_id for c in more] == ["LY20261120000777"]


def test_a_reader_sees_the_segment_another_process_starts_right_after_it_listed(tmp_path):
    """Segments are listed again only when the folder changed; a change within the same
    moment as the listing (the clock's tick) is never missed."""
    from datetime import timedelta

    from intake_api.journal import Change, Journal

    writer, reader = Journal(tmp_path / "j", durable=False), Journal(tmp_path / "j", durable=False)
    writer.append([Change("LY20261128000001", 1, "received", "x")], now=T0)
    changes, cursor = reader.read_since(START)
    assert [c.ticket_id for c in changes] == ["LY20261128000001"]
    for day in (1, 2, 3):  # a new segment each time, at once
        tid = f"LY2026112{8 + day}000001"
        writer.append([Change(tid, 1, "received", "x")], now=T0 + timedelta(days=day))
        changes, cursor = reader.read_since(cursor)
        assert [c.ticket_id for c in changes] == [tid]


def test_the_segments_are_not_listed_again_while_the_folder_is_unchanged(tmp_path, monkeypatch):
    from datetime import timedelta

    from intake_api import journal
    from intake_api.journal import Change, Journal

    j = Journal(tmp_path / "j", durable=False)
    for day in range(30):
        j.append([Change(f"LY202611{day:02d}000001", 1, "received", "x")], now=T0 + timedelta(days=day))
    listings = []
    real = os.listdir
    monkeypatch.setattr(journal.os, "listdir", lambda p: listings.append(p) or real(p))
    settled = time.time_ns() - 2 * journal.RACY_NS
    os.utime(j.root, ns=(settled, settled))
    assert len(j.segments()) == 30 and len(j.segments()) == 30 and len(listings) == 1
    j.append([Change("LY20261230000001", 1, "received", "x")], now=T0 + timedelta(days=30))  # a new one
    assert len(j.segments()) == 31 and len(listings) == 2
    # Just changed: listed each time until the folder's time is old enough to trust.
    assert len(j.segments()) == 31 and len(listings) == 3


def test_id_allocation_survives_a_lost_counter(service):
    ids = [service.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR).ticket.id for _ in range(3)]
    seq_file = service.store.path_for(ids[0]).parent / ".seq"
    seq_file.write_text("1")  # as if a crash lost the counter's last updates
    new = service.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR).ticket.id
    assert new not in ids and new.endswith("000004")


@pytest.mark.parametrize("bad", ["../etc/passwd", "LY2026112800000%2e", "/abs", "LY20261128000001\x00", "ly20261128000001", ""])
def test_path_tricks_in_ids_are_refused_before_touching_files(service, bad):
    with pytest.raises(InvalidTicketId):
        service.store.path_for(bad)


def test_stray_temp_files_are_cleaned_at_start(service, data_dir):
    t = service.create(TicketCreate(channel="web", content=TEXTS[0]), actor=OPERATOR).ticket
    stray = service.store.path_for(t.id).with_name(f".{t.id}.json.999.abcd.tmp")
    stray.write_bytes(b"{half")
    report = Store(data_dir).recover()
    assert stray in report.temp_removed and not stray.exists()
    assert Store(data_dir).get(t.id).id == t.id


def _links(first: int, n: int):
    from intake_api.model import SYSTEM, EventType

    return [(EventType.LINKED, T0, SYSTEM, {"ticket": f"LY20261120{i:06d}", "relation": "duplicate", "basis": "same_address"})
            for i in range(first, first + n)]


def test_a_big_ticket_read_again_unchanged_is_not_parsed_again_and_a_changed_one_is(service, monkeypatch):
    """An earlier ticket with thousands of repeats linked back is read for every batch of
    them: unchanged bytes are not parsed and verified again; any other bytes are."""
    from intake_api.model import Ticket

    t = service.create(TicketCreate(channel="hotline", content="桥上钓鱼很危险，请处理。"), actor=OPERATOR).ticket
    big = service.store.update(t.id, lambda cur: cur.with_events(_links(2, 400)))
    path = service.store.path_for(t.id)
    assert path.stat().st_size > 64 * 1024
    parsed = []
    real = Ticket.from_json
    monkeypatch.setattr(Ticket, "from_json", classmethod(lambda cls, raw: (parsed.append(1), real(raw))[1]))
    assert service.store.get(t.id) == big  # as written: known
    assert parsed == []
    # Changed on disk by anyone else: read, parsed and verified again.
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"LY20261120000200"', b'"LY20261120009999"', 1))
    with pytest.raises(CorruptTicket, match="does not verify"):
        service.store.read_path(path)
    assert parsed == [1]
    path.write_bytes(raw)
    assert service.store.read_path(path) == big


def test_a_big_ticket_another_process_appended_to_is_read_by_its_new_events_only(service, monkeypatch):
    """Two workers link repeats back to one earlier ticket in turns: each reads what the
    other wrote. Its kept bytes with events spliced in are parsed and verified by those
    events only; anything else about the file (an earlier byte, a new event that does not
    chain) is read whole, and refused as before."""
    from intake_api.model import JSON_TAIL, Ticket

    t = service.create(TicketCreate(channel="hotline", content="小区停水两天了。"), actor=OPERATOR).ticket
    service.store.update(t.id, lambda cur: cur.with_events(_links(2, 400)))
    other = Store(service.store.data_dir)  # the other worker process
    other.get(t.id)  # read whole, and kept
    parsed = []
    real = Ticket.from_json
    monkeypatch.setattr(Ticket, "from_json", classmethod(lambda cls, raw: (parsed.append(1), real(raw))[1]))
    path = service.store.path_for(t.id)
    for first in (402, 405, 420):  # batches, written by this worker, read by the other
        written = service.store.update(t.id, lambda cur, first=first: cur.with_events(_links(first, 3)))
        assert path.read_bytes() == written.to_json()  # the splice writes what a whole dump would
        seen = other.get(t.id)
        assert seen == written and seen.state == written.state
    assert parsed == []  # neither side parsed the whole file again
    assert [x["ticket"] for x in other.get(t.id).state.links][-3:] == ["LY20261120000420", "LY20261120000421", "LY20261120000422"]

    def refused(raw: bytes, reason: str) -> None:
        path.write_bytes(raw)
        with pytest.raises(CorruptTicket, match=reason):
            Store(service.store.data_dir).read_path(path)  # no kept bytes: the whole file
        with pytest.raises(CorruptTicket, match=reason):
            other.read_path(path)  # kept bytes of an earlier version

    good = path.read_bytes()
    n = len(written.events)
    now = service.store.update(t.id, lambda cur: cur.with_events(_links(430, 2)))
    appended = path.read_bytes()
    seq_of = {e.data.get("ticket"): e.seq for e in now.events}
    assert seq_of["LY20261120000431"] == n + 2
    # A new event altered after its hash was made.
    refused(appended.replace(b'"LY20261120000431"', b'"LY20261120009999"'), f"event {n + 2} was altered")
    # An earlier event altered, with events appended.
    refused(appended.replace(b'"LY20261120000200"', b'"LY20261120009999"', 1),
            f"event {seq_of['LY20261120000200']} was altered")
    # Events appended that are no events.
    refused(good[: -len(JSON_TAIL)] + b',\n    {"seq": %d}' % (n + 1) + JSON_TAIL, f"invalid at 'events.{n}")
    path.write_bytes(appended)
    assert other.read_path(path).events[-1].data["ticket"] == "LY20261120000431"


def test_a_ticket_written_by_its_new_events_is_byte_for_byte_a_whole_dump():
    """Any event data (nesting, empty containers, line breaks, quotes, non-ASCII)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from intake_api.model import SYSTEM, EventType, Ticket, make_event

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=10,
    )
    datas = st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), min_size=2, max_size=6)

    @settings(max_examples=100, deadline=None, derandomize=True, database=None)
    @given(datas, st.integers(0, 100))
    def check(data_list, cut):
        first = make_event(ticket_id="LY20261120000001", prev=None, type=EventType.RECEIVED, at=T0, actor=SYSTEM,
                           data=data_list[0])
        base = Ticket(id="LY20261120000001", events=[first])
        whole = base.with_events([(EventType.MODERATED, T0, SYSTEM, d) for d in data_list[1:]])
        k = 1 + cut % (len(whole.events) - 1)
        prefix = Ticket(id=whole.id, events=whole.events[:k])
        spliced = whole.to_json(base=prefix.to_json(), base_events=k)
        assert spliced == whole.to_json()
        again = Ticket.appended(prefix.to_json(), prefix, spliced)
        assert again is not None and again.model_dump() == whole.model_dump()

    check()


def test_the_canonical_timestamp_is_the_one_strftime_made():
    """format_ts (every event, every write) takes a quicker path with the same output."""
    from datetime import UTC, datetime, timedelta, timezone

    from hypothesis import given
    from hypothesis import strategies as st

    from intake_api.clock import format_ts

    @given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
           st.integers(min_value=-14 * 60, max_value=14 * 60))
    def check(naive, offset):
        dt = naive.replace(tzinfo=timezone(timedelta(minutes=offset)))
        utc = dt.astimezone(UTC)
        assert format_ts(dt) == utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"

    check()


def test_reading_a_few_changes_reads_a_piece_of_a_big_segment_and_resumes_right(tmp_path, monkeypatch):
    """The health check asks for the oldest change not yet published: a day's segment
    of megabytes is not read whole for it, and the changes read a few at a time, from
    pieces that cut lines anywhere (a line longer than a piece too), are the same as read
    at once."""
    from datetime import timedelta

    from intake_api import fileio, journal
    from intake_api.journal import Change, Journal

    j = Journal(tmp_path / "j", durable=False)
    day1 = [Change(f"LY20261128{i:06d}", i % 7 + 1, "replied" if i % 3 else "x" * (i % 400), "t")
            for i in range(40_000)]
    day2 = [Change(f"LY20261129{i:06d}", 1, "received", "t") for i in range(300)]
    j.append(day1, now=T0)
    j.append(day2, now=T0 + timedelta(days=1))
    segment = sorted(j.root.glob("*.jsonl"))[0]
    assert segment.stat().st_size > 3_000_000
    everything, end = j.read_since(START)
    assert everything == day1 + day2 and end == j.head()

    read = []
    real = journal.read_from
    monkeypatch.setattr(journal, "read_from", lambda *a: read.append(len(out := real(*a))) or out)
    first, cursor = j.read_since(START, limit=1)
    assert first == day1[:1] and sum(read) <= journal.LIMIT_READ_BYTES
    assert j.read_since(cursor, limit=1)[0] == day1[1:2]

    monkeypatch.setattr(journal, "LIMIT_READ_BYTES", 97)
    monkeypatch.setattr(journal, "LIMIT_LINE_BYTES", 13)
    for limit in (1, 5, 333):
        got, cursor = [], START
        while True:
            changes, cursor = j.read_since(cursor, limit=limit)
            if not changes:
                break
            assert len(changes) <= limit
            got += changes
        assert got == everything and cursor == end, limit
    assert fileio.read_from(segment, 10, 5) == segment.read_bytes()[10:15]

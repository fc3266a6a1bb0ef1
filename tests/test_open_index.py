"""The open-ticket index starts from its saved snapshot and the journal, not a store scan."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from intake_api.app import create_app
from intake_api.catalog import load_catalog
from intake_api.cli import main
from intake_api.clock import FixedClock
from intake_api.index import SNAPSHOT_VERSION, OpenIndex, read_snapshot
from intake_api.model import TicketCreate
from intake_api.server import ApiSettings
from intake_api.service import Service
from intake_api.store import Store

from .conftest import CATALOG_DIR, OPERATOR, T0, dept

END = "2026-11-20T01:00:00+00:00"  # = T0: the demo's open tickets are open at the test clock


def _no_scan(monkeypatch) -> None:
    def refuse(self):
        raise AssertionError("the store was scanned")

    monkeypatch.setattr(Store, "paths", refuse)


def _scanned(data: Path, catalog) -> dict:
    snap = data / ".index" / "open.jsonl"
    moved = snap.with_suffix(".off")
    if snap.exists():
        snap.rename(moved)
    try:
        index = OpenIndex(Store(data, durable=False), catalog)
        index.build()
        return dict(index._entries)
    finally:
        snap.unlink(missing_ok=True)  # the scan saved its own
        if moved.exists():
            moved.rename(snap)


def _loaded(data: Path, catalog) -> OpenIndex:
    index = OpenIndex(Store(data, durable=False), catalog)
    index.build()
    return index


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    args = ["demo", "--tickets", "400", "--days", "20", "--seed", "3", "--end", END]
    assert main(["--data-dir", str(data), *args]) == 0
    return data


def test_demo_saves_the_snapshot_a_scan_would_make(demo, catalog, monkeypatch):
    expected = _scanned(demo, catalog)
    assert 0 < len(expected) < 400  # recent tickets are open, most are closed
    _no_scan(monkeypatch)
    index = _loaded(demo, catalog)
    assert dict(index._entries) == expected
    # Questions are answered from the loaded entries.
    some = next(iter(expected.values()))
    assert index.get(some.id) == some
    assert some.id in {e.id for e in index.entries(department=some.department)}


def test_changes_after_the_snapshot_are_replayed(demo, catalog, monkeypatch):
    clock = FixedClock(T0)
    service = Service(data_dir=demo, catalog=catalog, clock=clock)
    open_before = sorted(service.index._entries)
    # Closed behind the snapshot's back: a new ticket, and an open one handled to the end.
    new = service.create(TicketCreate(channel="web", content="小区路灯坏了一个月没人修。"), actor=OPERATOR)
    tid = next(t for t in open_before if service.index.get(t).status == "dispatched")
    d = dept(service.index.get(tid).department)
    for step in ({"action": "accept"}, {"action": "resolve", "text": "已更换路灯。"}):
        service.act(tid, step, actor=d)
    service.act(tid, {"action": "rate", "satisfaction": "satisfied", "solved": True},
                actor=OPERATOR)
    expected = _scanned(demo, catalog)
    assert new.ticket.id in expected and tid not in expected
    _no_scan(monkeypatch)
    assert dict(_loaded(demo, catalog)._entries) == expected


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),  # cut short
        lambda p: p.write_bytes(b"not json\n"),
        lambda p: p.write_bytes(
            p.read_bytes().replace(b'"version":%d' % SNAPSHOT_VERSION, b'"version":99', 1)
        ),
        lambda p: p.write_bytes(
            p.read_bytes().replace(b'"cursor":"', b'"cursor":"29991231:', 1)
        ),  # a journal that does not reach it (reset, or restored from an older backup)
    ],
    ids=["truncated", "garbage", "other-format", "journal-behind"],
)
def test_an_unusable_snapshot_means_a_scan(demo, catalog, damage, caplog):
    expected = _scanned(demo, catalog)
    damage(demo / ".index" / "open.jsonl")
    with caplog.at_level(logging.WARNING, logger="intake_api.index"):
        index = _loaded(demo, catalog)
    assert dict(index._entries) == expected
    assert "scanning the store" in caplog.text
    # The scan saved a good snapshot again.
    assert len(read_snapshot(demo / ".index" / "open.jsonl").entries) == len(expected)


def test_a_new_sla_policy_recomputes_the_deadline_steps(demo, catalog, monkeypatch):
    before = _loaded(demo, catalog)
    policy = catalog.sla.model_copy(update={"rating_window_hours": catalog.sla.rating_window_hours + 24})
    changed = load_catalog(CATALOG_DIR)
    object.__setattr__(changed, "sla", policy)
    _no_scan(monkeypatch)
    after = _loaded(demo, changed)
    resolved = [e for e in before._entries.values() if e.status == "resolved" and e.next_due]
    assert resolved, "the demo has resolved tickets waiting for a rating"
    for e in resolved:
        assert (after.get(e.id).next_due - e.next_due).total_seconds() == 24 * 3600


def test_a_server_saves_its_index_when_it_stops(data_dir, catalog):
    settings = ApiSettings(data_dir=data_dir, tick_seconds=0)
    clock = FixedClock(T0)
    with TestClient(create_app(settings, clock=clock, catalog=catalog)) as client:
        service = client.app.state.runtime.service
        r = service.create(TicketCreate(channel="web", content="楼下烧烤摊油烟太大。"), actor=OPERATOR)
        # Written by another process: known only through the journal.
        other = Service(data_dir=data_dir, catalog=catalog, clock=clock)
        r2 = other.create(TicketCreate(channel="web", content="公交站牌倒了。"), actor=OPERATOR)
        assert client.get("/healthz").status_code == 200
    snap = read_snapshot(data_dir / ".index" / "open.jsonl")
    assert {e.id for e in snap.entries} >= {r.ticket.id}
    index = _loaded(data_dir, catalog)
    assert set(index._entries) == {r.ticket.id, r2.ticket.id}

"""Deadlines and five-level supervision, driven by a fixed clock (no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from intake_api.cli import main
from intake_api.clock import FixedClock, parse_ts
from intake_api.model import Actor, Role, TicketCreate
from intake_api.scheduler import Scheduler
from intake_api.service import Service
from intake_api.store import Store
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, act, file_ticket

NAMES = ["热线督办", "媒体督办", "政务督办", "人大政协督办", "纪委督办"]


def _timeline(client, tid):
    return client.get(f"/api/v1/tickets/{tid}").json()["ticket"]["timeline"]


def test_tick_raises_supervision_step_by_step(client, tokens, app, clock):
    scheduler = app.state.runtime.scheduler
    t = file_ticket(client, tokens)
    tid = t["id"]
    other = file_ticket(
        client, tokens, content="小区门口有人占道经营，早上堵塞交通。", area="lanshan"
    )
    assert act(client, other["id"], tokens.lanshan, action="accept").status_code == 200
    assert (
        act(
            client, other["id"], tokens.lanshan, action="resolve", text="已清理占道摊点。"
        ).status_code
        == 200
    )

    clock.advance(hours=1)
    assert scheduler.run_once() == 0
    clock.advance(hours=2)  # past the 2 h sign-for deadline
    assert scheduler.run_once() == 1
    assert _timeline(client, tid)[-1]["details"]["deadline"] == "签收时限"

    clock.advance(hours=70)  # 73 h: past the 72 h close deadline -> overdue + level 1
    assert scheduler.run_once() == 1
    levels = [e["details"]["level"] for e in _timeline(client, tid) if e["type"] == "supervised"]
    assert levels == [1]
    for hours_after_close, level in ((24, 2), (72, 3), (168, 4), (360, 5)):
        clock.set(parse_ts(t["deadlines"]["close"]) + timedelta(hours=hours_after_close + 0.5))
        scheduler.run_once()
        supervised = [e for e in _timeline(client, tid) if e["type"] == "supervised"]
        assert [e["details"]["level"] for e in supervised] == list(range(1, level + 1))
    assert [e["details"]["name"] for e in supervised] == NAMES
    assert supervised[-1]["text"].startswith("超过办理时限")
    public = client.get(f"/api/v1/tickets/{tid}").json()["ticket"]
    assert public["supervision_level"] == 5 and public["supervision_name"] == "纪委督办"
    assert public["overdue"] is True
    # Nothing more is due once level 5 is reached.
    clock.advance(hours=1000)
    before = len(_timeline(client, tid))
    scheduler.run_once()
    assert len(_timeline(client, tid)) == before
    # The resolved ticket was closed by the system when nobody rated it (168 h window).
    assert client.get(f"/api/v1/tickets/{other['id']}").json()["ticket"]["status"] == "closed"


def test_due_tickets_only_are_touched(client, tokens, app, clock, data_dir):
    t = file_ticket(client, tokens)
    index = app.state.runtime.service.index
    assert index.due(clock.now()) == []
    clock.advance(hours=3)
    assert index.due(clock.now()) == [t["id"]]
    app.state.runtime.scheduler.run_once()
    assert index.due(clock.now()) == []


def test_one_scheduler_leads(app, api_settings, clock):
    a = app.state.runtime.scheduler
    b = Scheduler(Service.from_settings(api_settings, clock=clock), interval=60)
    assert a.try_lead() is True
    assert b.try_lead() is False
    a.stop()
    assert b.try_lead() is True
    b.stop()


def test_shoufa_tick_command(data_dir, catalog, capsys):
    past = FixedClock(datetime(2020, 1, 6, 1, 0, tzinfo=UTC))
    svc = Service(data_dir=data_dir, catalog=catalog, clock=past, durable=False)
    tid = svc.create(
        TicketCreate(channel="hotline", content=FISHING), actor=Actor(role=Role.OPERATOR)
    ).ticket.id
    assert main(["--data-dir", str(data_dir), "tick"]) == 0
    assert "1 ticket(s) changed" in capsys.readouterr().out
    state = Store(data_dir).get(tid).state
    assert state.supervision_level == 5
    assert state.overdue == ["sign_for", "close"]
    assert main(["--data-dir", str(data_dir), "tick"]) == 0
    assert "0 ticket(s) changed" in capsys.readouterr().out


def test_scheduler_thread_leads_at_start(api_settings, clock, catalog):
    """With tick_seconds > 0 the service runs its own scheduler (first round at start)."""
    import time

    from fastapi.testclient import TestClient

    from intake_api.app import create_app

    settings = api_settings.model_copy(update={"tick_seconds": 3600})
    app = create_app(settings, clock=clock, catalog=catalog)
    with TestClient(app) as c:
        deadline = time.monotonic() + 10
        while not c.get("/healthz").json()["scheduler_leader"] and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for the thread to start, not for time to pass
        assert c.get("/healthz").json()["scheduler_leader"] is True
    assert app.state.runtime.scheduler.leader is False  # released at shutdown

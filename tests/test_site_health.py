"""`/healthz` tells operators whether the public site keeps up with the store."""

from __future__ import annotations

import os
import shutil
import threading
import time

from fastapi.testclient import TestClient

from generator.config import ROOT
from intake_api.app import create_app
from intake_api.model import Actor, Role
from intake_api.server import ApiSettings

from .site_fixtures import make_site, pages_name_a_withheld_ticket


def test_healthz_reports_failing_builds_and_changes_waiting_to_be_published(tmp_path, monkeypatch):
    from generator.watch import Watcher

    b = make_site(tmp_path, tickets=30, days=2, search=False)
    # Where `shoufa serve` keeps the build state of this site.
    state_dir = b.config.site_dir.parent / f".{b.config.site_dir.name}-state"
    shutil.move(b.config.state_dir, state_dir)
    config = b.config.__class__(**{**b.config.__dict__, "state_dir": state_dir})
    settings = ApiSettings(data_dir=b.data, site_dir=b.config.site_dir, secrets_dir=tmp_path / "secrets",
                           content_dir=ROOT / "content", durable=False, tick_seconds=0)
    t = next(t for t in b.service.store.scan() if t.state.status == "in_progress" and t.state.is_public)

    clock = b.service.clock
    with TestClient(create_app(settings, clock=clock)) as client:
        h = client.get("/healthz").json()
        assert h["status"] == "ok" and h["site"] is True
        assert h["publishing"] == {"watcher": False, "up_to_date": True, "waiting_s": None, "failures": 0,
                                   "failing_since": None, "full_build": "none"}
        # No watcher runs: a change waits, and after a minute the status says so.
        b.service.act(t.id, {"action": "reply", "text": "已转交街道办理"},
                      actor=Actor(role=Role.DEPARTMENT, department=t.state.department))
        h = client.get("/healthz").json()
        assert h["status"] == "ok" and h["publishing"]["up_to_date"] is False and h["publishing"]["waiting_s"] == 0
        clock.advance(seconds=61)
        h = client.get("/healthz").json()
        assert h["status"] == "degraded" and h["publishing"]["waiting_s"] == 61

        # Every build fails on a leak until it is mended.
        mended = threading.Event()
        pages_name_a_withheld_ticket(monkeypatch, b.confidential_id, unless=mended)
        w = Watcher(config)
        w.hold_alive()
        poll = threading.Thread(target=w._poll_journal, daemon=True)
        poll.start()
        try:
            b.service.act(t.id, {"action": "reply", "text": "已受理，正在核实"},
                          actor=Actor(role=Role.DEPARTMENT, department=t.state.department))
            deadline = time.monotonic() + 10
            while client.get("/healthz").json()["publishing"]["failures"] == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            r = client.get("/healthz")
            h = r.json()
            assert r.status_code == 200 and h["status"] == "degraded"
            p = h["publishing"]
            assert p["watcher"] is True and p["failures"] >= 1 and p["failing_since"].endswith("Z")
            assert p["up_to_date"] is False and p["waiting_s"] >= 61 and p["full_build"] == "none"
            # The build's error names the confidential ticket: the public answer does not.
            assert b.confidential_id in (w.last_error or "") and b.confidential_id not in r.text

            mended.set()
            deadline = time.monotonic() + 10
            while client.get("/healthz").json()["status"] != "ok" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert w.builds == 1
            h = client.get("/healthz").json()
            assert h["status"] == "ok"
            assert h["publishing"] == {"watcher": True, "up_to_date": True, "waiting_s": None, "failures": 0,
                                       "failing_since": None, "full_build": "none"}
        finally:
            w.stop.set()
            poll.join(5)
            os.close(w._alive)  # the watcher's process ends
        # A status file a stopped watcher left is not taken for a running one.
        assert client.get("/healthz").json()["publishing"]["watcher"] is False

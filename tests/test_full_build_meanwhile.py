"""A full build does not stop the site from taking changes.

A template, catalog or shell-page change calls for a full build, which takes 20 minutes
at a million tickets. Meanwhile every change is still published on the live site by
incremental builds, and replayed into the new site before it is swapped in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time

import psutil

import generator.build as gb
from generator.build import build, full_build_running
from intake_api.model import Actor, Role

from .site_fixtures import BuiltSite, differences_from_a_fresh_full_build, make_site


def _page(b: BuiltSite, tid: str) -> str:
    return (b.config.site_dir / "tickets" / tid / "index.html").read_text(encoding="utf-8")


def _in_progress(b: BuiltSite, n: int):
    found = [t for t in b.service.store.scan() if t.state.is_public and t.state.status == "in_progress"]
    assert len(found) >= n
    return found[:n]


def _reply(b: BuiltSite, t, text: str) -> None:
    b.service.act(t.id, {"action": "reply", "text": text}, actor=Actor(role=Role.DEPARTMENT, department=t.state.department))


def _hold_full_builds(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Full builds in this process stop once they have read the journal's end (set the
    first event) until the test sets the second."""
    rendering, release = threading.Event(), threading.Event()
    real_keys = gb._listing_keys

    def held_listing_keys(site):
        rendering.set()
        assert release.wait(60), "the test never let the full build go on"
        yield from real_keys(site)

    monkeypatch.setattr(gb, "_listing_keys", held_listing_keys)
    return rendering, release


def _edit_catalog(b: BuiltSite) -> None:
    """An edit that changes no meaning but calls for a full build (the files' content changed)."""
    path = b.config.catalog_dir / "channels.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# 2026-12-07: reviewed\n", encoding="utf-8")


def test_changes_made_during_a_full_build_are_published_at_once_and_kept_by_it(tmp_path, monkeypatch):
    b = make_site(tmp_path, tickets=60, days=3, search=False)
    first, second = _in_progress(b, 2)
    old_root = b.config.site_dir.resolve()
    _edit_catalog(b)
    rendering, release = _hold_full_builds(monkeypatch)
    result: dict = {}
    full = threading.Thread(target=lambda: result.update(report=build(b.config)))
    full.start()
    try:
        assert rendering.wait(60)
        assert full_build_running(b.config)
        # A department replies while the full build renders: the live (old) site has it.
        _reply(b, first, "全量构建期间的答复")
        report = build(b.config)
        assert report.mode == "incremental" and report.tickets == 1
        assert report.full_due  # the catalog edit still waits for the full build
        assert b.config.site_dir.resolve() == old_root
        assert "全量构建期间的答复" in _page(b, first.id)
        # One more change, not yet built by anyone when the full build goes on.
        _reply(b, second, "全量构建收尾前的答复")
    finally:
        release.set()
        full.join(120)
    report = result["report"]
    assert report.mode == "full" and report.caught_up == 2
    new_root = b.config.site_dir.resolve()
    assert new_root != old_root
    # Nothing published meanwhile is undone by the swap, and the last change is in too.
    assert "全量构建期间的答复" in _page(b, first.id)
    assert "全量构建收尾前的答复" in _page(b, second.id)
    after = build(b.config)
    assert after.mode == "incremental" and not after.full_due and after.changes == 0

    # The caught-up site is the site a full build makes of the same data.
    diff = differences_from_a_fresh_full_build(b.config, tmp_path / "fresh")
    assert diff == [], diff


def test_the_same_inputs_elsewhere_or_touched_are_no_reason_for_a_full_build(tmp_path):
    """A build decides on a full build by the content of the catalog, templates and shell
    pages, not by their paths or times: a redeployed copy does not rebuild a million pages."""
    b = make_site(tmp_path, tickets=20, days=2, search=False)
    for p in b.config.catalog_dir.iterdir():
        os.utime(p, (p.stat().st_atime, p.stat().st_mtime + 3600))
    moved = tmp_path / "release-2" / "catalog"
    shutil.copytree(b.config.catalog_dir, moved)
    config = b.config.__class__(**{**b.config.__dict__, "catalog_dir": moved})
    report = build(config)
    assert report.mode == "incremental" and not report.full_due
    _edit_catalog(b.__class__(**{**b.__dict__, "config": config}))
    assert build(config).mode == "full"


def test_the_watcher_runs_a_due_full_build_in_a_process_of_its_own_and_publishes_meanwhile(tmp_path):
    from generator.watch import FULL_BUILD_NICE, Watcher

    b = make_site(tmp_path, tickets=30, days=2, search=False)
    t = _in_progress(b, 1)[0]
    old_root = b.config.site_dir.resolve()
    _edit_catalog(b)
    # Two worker processes, as on a server: the full build's process has children of its own.
    b = b.__class__(**{**b.__dict__, "config": b.config.__class__(**{**b.config.__dict__, "workers": 2})})
    w = Watcher(b.config, slow_interval=3600)
    w.build_once()  # what the watcher does when it starts
    proc = w._full_proc
    assert proc is not None and proc.pid != os.getpid() and w.full_due is False
    child = psutil.Process(proc.pid)
    expected = min(os.nice(0) + FULL_BUILD_NICE, 19)
    deadline = time.monotonic() + 30
    with contextlib.suppress(psutil.NoSuchProcess):
        while child.nice() != expected and time.monotonic() < deadline:
            time.sleep(0.002)
    os.kill(proc.pid, signal.SIGSTOP)  # the full build is provably not done while we look
    poll = threading.Thread(target=w._poll_journal, daemon=True)
    poll.start()
    try:
        assert child.nice() == expected  # it yields the cores to the builds that publish changes
        _reply(b, t, "看门进程全量构建期间的答复")
        deadline = time.monotonic() + 10
        while "看门进程全量构建期间的答复" not in _page(b, t.id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "看门进程全量构建期间的答复" in _page(b, t.id)
        assert b.config.site_dir.resolve() == old_root and w.full_builds == 0
        os.kill(proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 120
        while w.full_builds == 0 and w.full_failures == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.full_builds == 1 and w.full_failures == 0 and w._full_proc is None
        assert b.config.site_dir.resolve() != old_root
        assert "看门进程全量构建期间的答复" in _page(b, t.id)
        assert build(b.config).full_due is False
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        w.stop.set()
        poll.join(5)
        proc.join(60)


def test_a_full_build_that_fails_is_tried_again_later_and_changes_go_on_meanwhile(tmp_path, caplog):
    """A shell page that breaks the strict mkdocs build fails the full build (in its
    process): the live site stays and keeps taking changes; the watcher tries the full
    build again after 1, 2, 4 ... s, and at once when the content is edited."""
    from generator.config import ROOT
    from generator.status import site_status
    from generator.watch import Watcher

    b = make_site(tmp_path, tickets=20, days=2, search=False)
    t = _in_progress(b, 1)[0]
    old_root = b.config.site_dir.resolve()
    # The editors' own copy of the content, and a mkdocs.yml that builds its pages.
    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "content", proj / "content")
    yml = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for rel in ("content/pages", "site_src/hooks.py", "site_src/overrides"):
        yml = yml.replace(f" {rel}\n", f" {(proj if rel.startswith('content') else ROOT) / rel}\n")
    (proj / "mkdocs.yml").write_text(yml, encoding="utf-8")
    config = b.config.__class__(**{**b.config.__dict__, "content_dir": proj / "content", "mkdocs_yml": proj / "mkdocs.yml"})
    page = proj / "content" / "pages" / "about" / "index.md"
    good = page.read_text(encoding="utf-8")
    page.write_text(good + "\n[方法说明](no-such-page.md)\n", encoding="utf-8")  # strict mkdocs fails on it

    w = Watcher(config, slow_interval=3600)
    w.hold_alive()
    w.build_once()
    assert site_status(config)["full_build"] == "running"
    poll = threading.Thread(target=w._poll_journal, daemon=True)
    poll.start()
    try:
        _reply(b, t, "全量构建失败期间的答复")
        deadline = time.monotonic() + 60
        while site_status(config)["failures"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.full_failures >= 1 and w.full_builds == 0
        status = site_status(config)  # what /healthz reports
        assert status["watcher"] and status["failures"] >= 1 and status["full_build"] in ("failed", "running")
        assert "full build failed (exit code 1) (1 in a row); the live site stays as it was" in caplog.text
        assert "tried again in 1 s" in caplog.text
        assert config.site_dir.resolve() == old_root
        assert "全量构建失败期间的答复" in _page(b, t.id)  # published on the live site all the same
        page.write_text(good, encoding="utf-8")  # mended
        w.build_once(edited=True)  # what an edit of content/ makes the watcher do
        deadline = time.monotonic() + 120
        while w.full_builds == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.full_builds == 1 and w.full_failures == 0
        assert config.site_dir.resolve() != old_root
        assert "全量构建失败期间的答复" in _page(b, t.id)
        deadline = time.monotonic() + 5
        while site_status(config)["full_build"] != "none" and time.monotonic() < deadline:
            time.sleep(0.05)
        status = site_status(config)
        assert status["failures"] == 0 and status["failing_since"] is None and status["full_build"] == "none"
    finally:
        w.stop.set()
        poll.join(5)
        if w._full_proc is not None:
            w._full_proc.join(60)
        os.close(w._alive)


def test_a_build_that_finds_a_full_build_under_way_and_no_site_to_update_waits_for_it(tmp_path, monkeypatch):
    """No site to build incrementally (here: its layout is gone) and another process's full
    build under way: `shoufa build` waits for it instead of starting a second one, then
    publishes what came in since."""
    b = make_site(tmp_path, tickets=20, days=2, search=False)
    (b.config.state_dir / "layout.json").unlink()
    real_keys = gb._listing_keys
    rendering, release = _hold_full_builds(monkeypatch)
    reports: dict = {}
    first = threading.Thread(target=lambda: reports.update(first=build(b.config)))
    first.start()
    assert rendering.wait(60)
    monkeypatch.setattr(gb, "_listing_keys", real_keys)
    second = threading.Thread(target=lambda: reports.update(second=build(b.config)))
    second.start()
    time.sleep(0.5)
    assert second.is_alive()  # waiting for the first full build, not building a second site
    release.set()
    first.join(120)
    second.join(120)
    assert reports["first"].mode == "full"
    assert reports["second"].mode == "incremental" and not reports["second"].full_due
    assert len(list(tmp_path.glob(".site-build-*"))) == 1


def test_a_watcher_that_exits_stops_its_full_build_which_cleans_up(tmp_path):
    from generator.watch import Watcher

    b = make_site(tmp_path, tickets=400, days=4, search=False)
    live = b.config.site_dir.resolve()
    _edit_catalog(b)
    config = b.config.__class__(**{**b.config.__dict__, "workers": 2})
    w = Watcher(config, slow_interval=3600)
    w.build_once()
    proc = w._full_proc
    assert proc is not None
    deadline = time.monotonic() + 60
    while not [p for p in tmp_path.glob(".site-build-*") if p != live] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.is_alive(), "the full build ended before the test could stop it"
    w._stop_full()  # what the watcher's process does when it exits (atexit)
    assert not proc.is_alive() and proc.exitcode == 128 + signal.SIGTERM
    assert config.site_dir.resolve() == live
    assert [p for p in tmp_path.glob(".site-build-*") if p != live] == []  # its folder is removed
    assert list(config.state_dir.glob("state.sqlite.new-*")) == []
    assert not full_build_running(config)

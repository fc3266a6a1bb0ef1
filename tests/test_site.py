"""The public site: pages, privacy on every public byte, literal text, incremental builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.build import build
from intake_api.model import Actor, Role

from .site_fixtures import (
    BuiltSite,
    all_text_files,
    differences_from_a_fresh_full_build,
    make_site,
    pages_name_a_withheld_ticket,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> BuiltSite:
    return make_site(tmp_path_factory.mktemp("site"))


def test_every_public_ticket_has_a_page_with_its_timeline(built):
    tickets = list(built.service.store.scan())
    public = [t for t in tickets if t.state.is_public]
    assert len(public) > 350
    for t in public[:50]:
        html = (built.site / "tickets" / t.id / "index.html").read_text(encoding="utf-8")
        assert t.id in html and "办理全过程" in html
        assert html.count('class="shoufa-event ') == len(t.events)
        assert t.last.hash in html
        assert 'lang="zh' in html


def test_browse_pages_exist(built):
    s = built.site
    for rel in ("index.html", "tickets/index.html", "departments/index.html", "tickets/status/open/index.html",
                "tickets/status/closed/index.html", "open-data/index.html", "search/index.html",
                "sitemap.xml", "feeds/index.html", "feeds/tickets-new.rss.xml", "departments/hrss/index.html",
                "tickets/2026/11/28/index.html", "tickets/area/lanshan/index.html"):
        assert (s / rel).is_file(), rel
    assert list((s / "open-data").glob("tickets-2026-11.csv"))


def test_confidential_and_hidden_tickets_appear_nowhere(built):
    withheld = [t for t in built.service.store.scan() if not t.state.is_public]
    assert built.confidential_id in {t.id for t in withheld}
    assert any(t.state.hidden for t in withheld) or len(withheld) > 5
    texts = all_text_files(built.site)
    for t in withheld:
        assert not (built.site / "tickets" / t.id).exists()
        hits = [path for path, text in texts.items() if t.id in text]
        assert hits == [], (t.id, hits[:3])
    assert not any("郑保密" in text or "13700001111" in text for text in texts.values())


def test_personal_data_in_the_text_is_removed_everywhere(built):
    texts = all_text_files(built.site)
    page = texts[f"tickets/{built.private_id}/index.html"]
    assert "楼下饭店油烟太大" in page  # the matter itself is published verbatim
    assert "［电话已隐去］" in page or "［姓名已隐去］" in page
    for secret in (built.private_phone, built.private_name, "幸福小区8号楼2单元302", "371311198001011234"):
        assert not [p for p, text in texts.items() if secret in text], secret


def test_every_public_ticket_private_fields_stay_private(built):
    texts = all_text_files(built.site)
    joined = "\n".join(texts.values())
    for t in built.service.store.scan():
        p = t.state.private
        if p.citizen_phone:
            assert p.citizen_phone not in joined
        if p.address:
            assert p.address not in joined


def test_citizen_text_is_shown_literally_never_interpreted(built):
    html = (built.site / "tickets" / built.xss_id / "index.html").read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in html and "onerror=\"window" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html and "49" not in re.sub(r"[0-9a-f]{64}", "", html.split("诉求内容")[1].split("</blockquote>")[0])
    assert "--8&lt;--" in html or "--8<--" not in html
    assert 'href="javascript:' not in html
    feed = (built.site / "feeds" / "tickets-new.rss.xml").read_text(encoding="utf-8")
    assert "<script>" not in feed


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and "search/shards" not in str(p)}


def test_incremental_build_touches_only_what_changed_and_equals_a_full_build(tmp_path):
    b = make_site(tmp_path / "one", tickets=150, days=5, search=False)
    before = _snapshot(b.site)
    t = next(t for t in b.service.store.scan() if t.state.status == "in_progress")
    b.service.act(t.id, {"action": "reply", "text": "已协调物业公司今日处理"}, actor=Actor(role=Role.DEPARTMENT, department=t.state.department))
    report = build(b.config)
    assert report.mode == "incremental" and report.tickets == 1
    # The watcher's log line tells where a slow change spent its time.
    stages = ("open", "journal", "setup", "write lock", "tickets", "listings", "leak scan", "publish", "commit")
    assert list(report.stages) == list(stages)
    assert sum(report.stages.values()) <= report.seconds + report.stages["open"]
    assert all(f"{s} " in report.summary().split(" s (")[1] for s in stages)
    after = _snapshot(b.site)
    changed = {k for k in after if before.get(k) != after[k]}
    assert f"tickets/{t.id}/index.html" in changed
    assert f"feeds/department-{t.state.department}.rss.xml" in changed
    allowed = re.compile(
        rf"^(tickets/{t.id}/|tickets/\d{{4}}/\d\d/\d\d/|tickets/status/|tickets/(category|area)/|departments/|feeds/|index\.html|tickets/index\.html|sitemaps/)"
    )
    assert all(allowed.match(k) for k in changed), sorted(changed)
    assert len(changed) < 30
    # The same data built from scratch gives the same files.
    full = b.config.__class__(**{**b.config.__dict__, "site_dir": tmp_path / "full-site", "state_dir": tmp_path / "full-state"})
    build(full, full=True)
    fresh = _snapshot(full.site_dir.resolve())
    diff = [k for k in set(fresh) | set(after) if fresh.get(k) != after.get(k) and not k.startswith("open-data/")]
    assert diff == []


def test_a_confidential_change_removes_the_page_at_once(tmp_path):
    b = make_site(tmp_path, tickets=60, days=3, search=False)
    t = next(t for t in b.service.store.scan() if t.state.is_public)
    assert (b.site / "tickets" / t.id / "index.html").exists()
    b.service.act(t.id, {"action": "moderate", "decision": "confidential", "reason": "诉求人申请保密"}, actor=Actor(role=Role.EDITOR))
    build(b.config)
    assert not (b.site / "tickets" / t.id).exists()
    assert not [p for p, text in all_text_files(b.site).items() if t.id in text and not p.startswith("open-data/") and not p.startswith("search/")]


def test_a_failed_build_leaves_the_live_site_as_it_was(tmp_path, monkeypatch):
    b = make_site(tmp_path, tickets=40, days=2, search=False)
    live = b.config.site_dir.resolve()
    before = _snapshot(live)
    import generator.build as gb

    def boom(*a, **k):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(gb.listings, "render_tickets_index", boom)
    with pytest.raises(RuntimeError):
        build(b.config, full=True)
    assert b.config.site_dir.resolve() == live and _snapshot(live) == before
    assert [p for p in tmp_path.glob(".site-build-*") if p != live] == []  # no half-built folder left
    monkeypatch.undo()
    assert build(b.config, full=True).mode == "full"
    new_live = b.config.site_dir.resolve()
    assert new_live != live and not live.exists() and (new_live / "tickets" / "index.html").exists()


def test_no_page_loads_anything_from_another_host(built):
    # What a browser loads by itself: src, srcset, poster and <link href> (a plain <a href>
    # to another site is a link a reader may follow, not a load).
    bad = re.compile(r'(?:\ssrc|\ssrcset|\sposter|<link[^>]*\shref)="(?:https?:)?//(?!shoufa\.example\.gov\.cn)')
    for path, text in all_text_files(built.site).items():
        if path.endswith(".html"):
            assert not bad.search(text), path


def test_the_leak_scan_stops_a_build_that_would_publish_private_data(tmp_path, monkeypatch):
    b = make_site(tmp_path, tickets=30, days=2, search=False)
    live = b.config.site_dir.resolve()
    before = _snapshot(live)
    from generator import redact
    from generator.leakscan import LeakError

    # A redactor that silently lets everything through: the scan must catch it.
    monkeypatch.setattr(redact.Redactor, "redact", lambda self, text, **kw: redact.Redacted(text, ()))
    with pytest.raises(LeakError, match="leak scan found private data.*private field of LY"):
        build(b.config, full=True)
    assert b.config.site_dir.resolve() == live and _snapshot(live) == before
    b.service.act(b.private_id, {"action": "moderate", "decision": "publish", "reason": "审核"}, actor=Actor(role=Role.EDITOR))
    with pytest.raises(LeakError):
        build(b.config)  # incremental: the changed ticket is scanned too
    assert _snapshot(live) == before


@pytest.mark.parametrize("where", ["summary", "title"])
def test_a_leak_in_a_tickets_own_feed_only_stops_the_build(tmp_path, monkeypatch, where):
    """The feeds are scanned by their strings, not their XML: a private value that only
    a ticket's feed carries (in an item's summary or title) is still found."""
    from generator import feedlist
    from generator.feeds import Item
    from generator.leakscan import LeakError

    b = make_site(tmp_path, tickets=20, days=1, search=False)
    live = b.config.site_dir.resolve()
    before = _snapshot(live)
    real = feedlist.Item

    def leaky(**kw):
        if b.private_id in kw["link"]:
            kw[where] = kw[where] + f" 联系人{b.private_name}，{b.private_phone[:3]} {b.private_phone[3:7]} {b.private_phone[7:]}"
        return real(**kw)

    monkeypatch.setattr(feedlist, "Item", leaky)
    with pytest.raises(LeakError, match=rf"feeds/tickets/.*{b.private_id}\.(rss|atom)\.xml: private field of {b.private_id}"):
        build(b.config, full=True)
    assert b.config.site_dir.resolve() == live and _snapshot(live) == before
    assert Item is real


def test_many_kinds_of_change_built_incrementally_equal_a_full_build(tmp_path):
    """Intake on a new day (a day page appears next to others), replies, closing with a
    rating, reopening, withholding: after incremental builds, the site equals a fresh one
    (listings, neighbours' prev/next links, home and department counters, feeds)."""
    from intake_api.model import TicketCreate

    b = make_site(tmp_path / "one", tickets=120, days=4, search=False)
    svc, clock = b.service, b.service.clock
    op = Actor(role=Role.OPERATOR)
    open_ones = [t for t in svc.store.scan() if t.state.status == "in_progress" and t.state.is_public]
    assert len(open_ones) >= 3
    first, second, third = open_ones[:3]

    def dept(t):
        return Actor(role=Role.DEPARTMENT, department=t.state.department)

    svc.act(first.id, {"action": "reply", "text": "已安排人员现场核实"}, actor=dept(first))
    build(b.config)
    svc.act(second.id, {"action": "resolve", "text": "已处理完毕"}, actor=dept(second))
    svc.act(second.id, {"action": "rate", "satisfaction": "unsatisfied", "solved": False}, actor=Actor(role=Role.CITIZEN))
    build(b.config)
    svc.act(third.id, {"action": "moderate", "decision": "hide", "reason": "涉及隐私"}, actor=Actor(role=Role.EDITOR))
    clock.advance(days=1)  # a day with no ticket yet: its pages appear, neighbours link to them
    svc.create(TicketCreate(channel="web", content="河东区九曲街道路灯不亮已经一周了，晚上出行不安全。", area="河东区"), actor=op)
    report = build(b.config)
    assert report.mode == "incremental"
    # What the watcher runs next, as if its intervals (reports, warnings: 50 s; department
    # profiles: an hour) had passed: current periods, profiles, shards, exports; then the
    # site equals a fresh full build.
    diff = differences_from_a_fresh_full_build(b.config, tmp_path / "fresh")
    assert diff == [], diff


def test_the_watchers_slow_lane_runs_in_its_own_process_and_publishes(tmp_path):
    """The slow lane (search shards, exports) runs in a child process, so the watcher's
    own builds never wait for it; its results land in the live site."""
    import contextlib
    import os
    import time

    import psutil

    from generator.watch import SLOW_LANE_NICE, Watcher

    b = make_site(tmp_path, tickets=40, days=2, search=False)  # shards still to make
    shards = b.site / "search" / "shards"
    assert not shards.exists()
    w = Watcher(b.config)
    w.slow(force=True)
    proc = w._slow_proc
    assert proc is not None and proc.pid != os.getpid()
    w.slow(force=True)  # still running: no second one
    assert w._slow_proc is proc
    # It yields the cores to the builds that publish changes.
    child, niceness = psutil.Process(proc.pid), set()
    expected = min(os.nice(0) + SLOW_LANE_NICE, 19)
    with contextlib.suppress(psutil.NoSuchProcess):
        while proc.is_alive() and expected not in niceness:
            niceness.add(child.nice())
            time.sleep(0.005)
    assert expected in niceness
    proc.join(120)
    assert proc.exitcode == 0
    assert any(shards.rglob("pagefind-entry.json"))
    # The run asked for while that one ran (as after a full build's swap, when the one
    # under way may have written into the replaced site) starts at the next tick, not an
    # interval (60 s) later; once, and then the interval holds again.
    w.slow()
    again = w._slow_proc
    assert again is not proc and again is not None
    again.join(120)
    assert again.exitcode == 0
    w.slow()
    assert w._slow_proc is again


def test_the_watcher_warms_up_before_the_first_change(tmp_path):
    """A restarted server publishes its first change as fast as the next ones: the
    templates are compiled and the editors' content parsed before a change arrives."""
    from generator.build import warm_up
    from generator.render import environment

    b = make_site(tmp_path, tickets=10, days=1)
    # An old site a stopped server had not finished deleting is deleted now.
    left = b.config.site_dir.parent / f".{b.config.site_dir.name}-trash-0a1b2c3d"
    (left / "tickets" / "LY20261101000001").mkdir(parents=True)
    (left / "tickets" / "LY20261101000001" / "index.html").write_text("old", encoding="utf-8")
    environment.cache_clear()
    warm_up(b.config)
    from generator.build import wait_for_trash

    wait_for_trash()
    assert not left.exists() and b.config.site_dir.resolve().is_dir()
    env = environment()
    loaded = {t.name for t in env.cache.values()} if env.cache is not None else set()
    for name in ("ticket.html", "listing.html", "home.html", "value_index.html", "profile.html"):
        assert name in loaded, f"{name} not compiled by the warm-up"
    # It also reads the build state through in the background (every change reads rows
    # from all over it): all of it, the write-ahead log too, and a missing file is no error.
    from generator.build import prefetch

    state = b.config.state_dir / "state.sqlite"
    files = [state, state.with_name("state.sqlite-wal"), state.with_name("absent")]
    assert prefetch(files) == sum(f.stat().st_size for f in files[:2] if f.exists()) > 0


def test_an_incremental_build_stops_at_the_id_of_a_withheld_ticket(tmp_path, monkeypatch):
    """Incremental builds ask the state which ids are withheld (not a set loaded whole):
    a page that would name a confidential ticket still fails the build."""
    from generator.leakscan import LeakError

    b = make_site(tmp_path, tickets=30, days=2, search=False)
    live = b.config.site_dir.resolve()
    t = next(t for t in b.service.store.scan() if t.state.status == "in_progress" and t.state.is_public)
    pages_name_a_withheld_ticket(monkeypatch, b.confidential_id)
    b.service.act(t.id, {"action": "reply", "text": "已受理"}, actor=Actor(role=Role.DEPARTMENT, department=t.state.department))
    before = _snapshot(live)
    with pytest.raises(LeakError, match=f"id of withheld ticket {b.confidential_id}"):
        build(b.config)
    assert _snapshot(live) == before


def test_the_watcher_waits_longer_between_tries_of_a_build_that_keeps_failing(tmp_path, monkeypatch, caplog):
    """A leak the scan finds fails every build until it is mended: the watcher tries again
    after 1, 2, 4 ... s instead of rebuilding without pause, and publishes once it is mended."""
    import threading
    import time

    from generator.watch import Watcher

    b = make_site(tmp_path, tickets=30, days=2, search=False)
    live = b.config.site_dir
    t = next(t for t in b.service.store.scan() if t.state.status == "in_progress" and t.state.is_public)
    mended = threading.Event()
    pages_name_a_withheld_ticket(monkeypatch, b.confidential_id, unless=mended)
    w = Watcher(b.config)
    poll = threading.Thread(target=w._poll_journal, daemon=True)
    poll.start()
    try:
        b.service.act(t.id, {"action": "reply", "text": "已受理，正在核实"},
                      actor=Actor(role=Role.DEPARTMENT, department=t.state.department))
        time.sleep(2.5)  # tries at about 0, 1 and 3 s: two in this time (a poll every 25 ms without the wait)
        assert 1 <= w.failures <= 2 and w.builds == 0
        assert "id of withheld ticket" in (w.last_error or "")
        assert "已受理，正在核实" not in (live / "tickets" / t.id / "index.html").read_text(encoding="utf-8")
        assert "the live site stays as it was; tried again in 1 s" in caplog.text
        mended.set()
        deadline = time.monotonic() + 10
        while w.builds == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.builds == 1 and w.failures == 0 and w.last_error is None
        assert "已受理，正在核实" in (live / "tickets" / t.id / "index.html").read_text(encoding="utf-8")
    finally:
        w.stop.set()
        poll.join(5)


def test_withheld_ids_in_the_state_leave_out_tickets_withheld_for_a_fault(tmp_path):
    from generator.build import HELD_BACK, INVALID
    from generator.state import State, Withheld

    state = State(tmp_path / "state.sqlite")
    state.withhold("LY20261128000001", "confidential")
    state.withhold("LY20261128000002", "hidden")
    state.withhold("LY20261128000003", f"{HELD_BACK}: the redactor ran out of time")
    state.withhold("LY20261128000004", f"{INVALID}: hash chain broken")
    w = Withheld(state, faults=(HELD_BACK, INVALID))
    ids = {f"LY2026112800000{i}" for i in range(1, 6)}
    assert w & ids == {"LY20261128000001", "LY20261128000002"}
    w.add("LY20261128000005")  # withheld by this build
    w.discard("LY20261128000001")  # published again by this build
    assert w & ids == {"LY20261128000002", "LY20261128000005"}
    assert "LY20261128000005" in w and "LY20261128000001" not in w
    # A listing page carries up to a thousand ids and more: all are asked, in parts.
    many = [f"LY20261127{i:06d}" for i in range(1, 1301)]
    for tid in (many[0], many[777], many[-1]):
        state.withhold(tid, "hidden")
    assert w & set(many) == {many[0], many[777], many[-1]}
    state.close()


def test_the_tickets_withheld_for_a_fault_are_those_whose_reason_starts_with_one(tmp_path):
    """The faults an incremental build retries, found by their reason's first words."""
    from generator.build import HELD_BACK, INVALID
    from generator.state import State

    state = State(tmp_path / "state.sqlite")
    reasons = {
        "LY20261128000001": f"{HELD_BACK}: the redactor ran out of time",
        "LY20261128000002": HELD_BACK,
        "LY20261128000003": f"{INVALID}: 哈希链断裂",
        "LY20261128000004": "held bac",  # shorter than the prefix
        "LY20261128000005": "held bacl",  # sorts right after every "held back…"
        "LY20261128000006": f" {HELD_BACK}",
        "LY20261128000007": "confidential",
        "LY20261128000008": "invalic: " + "\U0010ffff",
    }
    for tid, reason in reasons.items():
        state.withhold(tid, reason)
    assert state.withheld_for((HELD_BACK, INVALID)) == {"LY20261128000001", "LY20261128000002", "LY20261128000003"}
    assert state.withheld_for((INVALID,)) == {"LY20261128000003"}
    assert state.withheld_for(()) == set()
    state.close()


def test_a_days_sitemap_is_rendered_again_only_when_a_tickets_date_of_change_moves(tmp_path, monkeypatch):
    """A day's sitemap lists its tickets' ids and dates of last change: a second reply on
    the same date leaves it alone (a 10,000-ticket day's sitemap is a megabyte to render
    and scan), a reply on a later date gives the ticket its new date."""
    from generator.pages import sitemap
    from generator.state import State

    b = make_site(tmp_path, tickets=60, days=3, search=False)
    svc, clock = b.service, b.service.clock
    t = next(t for t in svc.store.scan() if t.state.status == "in_progress" and t.state.is_public)
    state = State(b.config.state_dir / "state.sqlite")
    day = state.get_row(t.id).day
    state.close()
    rendered: list[str] = []
    real = sitemap.render_day
    monkeypatch.setattr(sitemap, "render_day", lambda site, d: rendered.append(d) or real(site, d))
    dept = Actor(role=Role.DEPARTMENT, department=t.state.department)

    def lastmod() -> str:
        text = (b.site / "sitemaps" / f"{day}.xml").read_text()
        return re.search(rf"tickets/{t.id}/</loc><lastmod>([0-9-]+)<", text)[1]

    clock.advance(days=1)
    svc.act(t.id, {"action": "reply", "text": "已安排人员现场核实"}, actor=dept)
    build(b.config)
    today = clock.now().date().isoformat()
    assert rendered == [day] and lastmod() == today
    svc.act(t.id, {"action": "reply", "text": "维修人员已到场"}, actor=dept)
    build(b.config)
    assert rendered == [day] and lastmod() == today
    clock.advance(days=1)
    svc.act(t.id, {"action": "reply", "text": "已修复"}, actor=dept)
    build(b.config)
    assert rendered == [day, day] and lastmod() == clock.now().date().isoformat()


def test_a_full_build_in_worker_processes_equals_one_in_a_single_process(tmp_path):
    """Listing pages are rendered by worker processes (forked, reading the state on their
    own connection) while the build process makes the sections: the site is the same."""
    b = make_site(tmp_path / "one", tickets=150, days=5, search=False)  # one process
    two = b.config.__class__(**{**b.config.__dict__, "site_dir": tmp_path / "two-site",
                                "state_dir": tmp_path / "two-state", "workers": 2})
    report = build(two, full=True)
    assert report.stages["listings"] > 0
    # The workers say where a ticket page's time went, step by step.
    from generator.worker import PHASES

    assert list(report.ticket_phases) == list(PHASES) and all(v > 0 for v in report.ticket_phases.values())
    assert sum(report.ticket_phases.values()) <= 2 * report.stages["tickets"]
    one, other = _snapshot(b.site), _snapshot(two.site_dir.resolve())
    assert len(one) > 300
    assert sorted(k for k in set(one) | set(other) if one.get(k) != other.get(k) and not k.startswith("open-data/")) == []


def test_a_leak_on_a_listing_page_rendered_by_a_worker_process_stops_the_build(tmp_path, monkeypatch):
    from generator.leakscan import LeakError
    from generator.pages import listings
    from generator.render import Output

    b = make_site(tmp_path, tickets=30, days=2, search=False)
    live = b.config.site_dir.resolve()
    before = _snapshot(live)
    real = listings.render_day

    def leaky(site, day, chunk):  # a day page that shows a citizen's phone number
        out = real(site, day, chunk)
        return Output(out.path, out.scan_text + f"<p>{b.private_phone}</p>", ids=out.ids, key=out.key)

    monkeypatch.setattr(listings, "render_day", leaky)
    config = b.config.__class__(**{**b.config.__dict__, "workers": 2})
    with pytest.raises(LeakError, match=r"tickets/\d{4}/\d\d/\d\d/index.html: a citizen's phone number"):
        build(config, full=True)
    assert b.config.site_dir.resolve() == live and _snapshot(live) == before


def test_a_new_page_of_a_day_shows_in_every_page_of_that_days_pager(tmp_path, monkeypatch):
    """A busy day's listing is cut in pages of CHUNK tickets, each listing all pages of
    the day. When a ticket starts a new page, every page of the day links to it, in
    the day's listing and the status listings: incremental equals full."""
    from generator import rows
    from generator.pages import listings
    from intake_api.model import TicketCreate

    monkeypatch.setattr(rows, "CHUNK", 4)
    monkeypatch.setattr(listings, "CHUNK", 4)
    b = make_site(tmp_path / "one", tickets=40, days=2, search=False)
    svc, op = b.service, Actor(role=Role.OPERATOR)
    for i in range(6):  # new tickets today: at least one new page of four
        svc.create(TicketCreate(channel="web", content=f"河东区九曲街道第{i}个路灯不亮，晚上出行不安全。", area="河东区"), actor=op)
        build(b.config)
    t = next(t for t in svc.store.scan() if t.state.status == "in_progress" and t.state.is_public)
    svc.act(t.id, {"action": "resolve", "text": "已处理完毕"}, actor=Actor(role=Role.DEPARTMENT, department=t.state.department))
    build(b.config)
    full = b.config.__class__(**{**b.config.__dict__, "site_dir": tmp_path / "full-site", "state_dir": tmp_path / "full-state"})
    build(full, full=True)
    fresh, after = _snapshot(full.site_dir.resolve()), _snapshot(b.site)
    # (Department pages carry the hourly profiles, which the full build computes afresh.)
    after = {k: v for k, v in after.items() if not re.fullmatch(r"departments/[^/]+/index.html", k)}
    fresh = {k: v for k, v in fresh.items() if not re.fullmatch(r"departments/[^/]+/index.html", k)}
    assert any(re.fullmatch(r"tickets/\d{4}/\d\d/\d\d/3/index.html", k) for k in fresh)  # pages 1-3 and more
    own = ("open-data/", "reports/", "feeds/reports.", "search/")
    diff = sorted(k for k in set(fresh) | set(after) if fresh.get(k) != after.get(k) and not k.startswith(own))
    assert diff == [], diff


def test_the_replaced_site_is_deleted_without_holding_up_the_next_change(tmp_path, monkeypatch):
    """Deleting the old site after a full build (minutes at a million tickets) happens after
    the build lock is released: a change arriving meanwhile is published at once."""
    import threading

    import generator.publish as gp

    b = make_site(tmp_path, tickets=40, days=2, search=False)
    old = b.config.site_dir.resolve()
    started, release = threading.Event(), threading.Event()
    real_remove = gp.remove_trash

    def slow_remove(site_dir):
        started.set()
        assert release.wait(30), "the test never released the deletion"
        return real_remove(site_dir)

    monkeypatch.setattr(gp, "remove_trash", slow_remove)
    assert build(b.config, full=True).mode == "full"
    assert started.wait(10), "the old site was not deleted"
    assert not old.exists(), "the old site is moved aside at once"
    trash = list(tmp_path.glob(".site-trash-*"))
    assert len(trash) == 1
    # While the old site is being deleted, a reply is built and published.
    t = next(t for t in b.service.store.scan() if t.state.is_public and t.state.status == "in_progress")
    b.service.act(t.id, {"action": "reply", "text": "删除旧站点期间的答复"}, actor=Actor(role=Role.DEPARTMENT, department=t.state.department))
    assert build(b.config).mode == "incremental"
    assert "删除旧站点期间的答复" in (b.config.site_dir / "tickets" / t.id / "index.html").read_text(encoding="utf-8")
    release.set()
    from generator.build import wait_for_trash

    wait_for_trash()
    assert not list(tmp_path.glob(".site-trash-*"))

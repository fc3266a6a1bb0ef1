"""Build faults (issue 9, items 5, 9, 16 and 17): what the generator does when a ticket,
the redactor, the catalog, the content or the generator process itself fails.

The rule everywhere: the live site is either the previous complete version or the new
complete version; one bad ticket never stops the others, and what was left out is said
in the BuildReport and the log.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import slowlane
from generator.build import build, load_state
from generator.content import ContentError
from generator.public import make_public
from generator.redact import RedactionError, Redactor
from intake_api.catalog import CatalogError, load_catalog
from intake_api.clock import FixedClock
from intake_api.dispatch import Dispatcher
from intake_api.model import Actor, Role, TicketCreate
from intake_api.store import CorruptTicket
from intake_api.workflow import Context, open_ticket

from .conftest import CATALOG_DIR, ROOT, T0
from .site_fixtures import BuiltSite, all_text_files, make_site

POISON = "毒丸测试标记"  # the redactor fails on any text that contains this
OPERATOR = Actor(role=Role.OPERATOR)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def live_state(b: BuiltSite) -> tuple[Path, dict[str, bytes]]:
    return b.config.site_dir.resolve(), snapshot(b.config.site_dir.resolve())


def assert_unchanged(b: BuiltSite, before: tuple[Path, dict[str, bytes]]) -> None:
    root, files = before
    assert b.config.site_dir.resolve() == root, "the live site was swapped"
    now = snapshot(root)
    assert now.keys() == files.keys(), sorted(now.keys() ^ files.keys())[:5]
    assert [k for k in files if files[k] != now[k]] == []
    assert [p for p in b.config.site_dir.parent.glob(f".{b.config.site_dir.name}-build-*") if p.resolve() != root] == []


# What the core of an incremental build must get exactly as a full build does: ticket
# pages, listings, sitemaps and the ticket feeds (sections refresh their own pages on
# their own schedule, and the slow lane may lag by design).
CORE = re.compile(r"^(tickets/|sitemaps/|sitemap\.xml|index\.html|feeds/(index|tickets|department|category|area)|departments/[^/]+/\d{4}-\d\d-\d\d/)")


# Episode back-links on ticket pages come from the previous build's state (see
# generator.episodes.episodes_by_ticket), so they differ between a first build and later
# ones; they are the episodes section's business, not the core's.
EPISODE_LINKS = re.compile("<h2>首发聚焦</h2>\\s*<ul>.*?</ul>\n?".encode(), re.S)


def _core(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: EPISODE_LINKS.sub(b"", v) for k, v in files.items() if CORE.match(k)}


def assert_same_core_as_a_full_build(b: BuiltSite) -> None:
    incremental = _core(snapshot(b.site))
    full = dataclasses.replace(b.config, site_dir=b.root / "full-site", state_dir=b.root / "full-state")
    build(full, full=True)
    fresh = _core(snapshot(full.site_dir.resolve()))
    assert sorted(k for k in fresh.keys() | incremental.keys() if fresh.get(k) != incremental.get(k)) == []


def poison(monkeypatch, how: str) -> None:
    """Make the redactor raise (a bug) or run out of time on the poisoned ticket's texts."""
    real = Redactor.redact

    def redact(self, text, *, field="content", literals=None):
        if isinstance(text, str) and POISON in text:
            if how == "raises":
                raise ValueError("a bug in the redactor")
            slow = copy.copy(self)
            slow.time_budget = 1e-9  # the real budget check fires: as if the text took too long
            return real(slow, text, field=field, literals=literals)
        return real(self, text, field=field, literals=literals)

    monkeypatch.setattr(Redactor, "redact", redact)


def file_ticket(b: BuiltSite, content: str, **fields) -> str:
    return b.service.create(TicketCreate(channel="web", content=content, **fields), actor=OPERATOR).ticket.id


def dept_of(b: BuiltSite, tid: str) -> Actor:
    return Actor(role=Role.DEPARTMENT, department=b.service.store.get(tid).state.department)


def appears_in(site: Path, tid: str) -> list[str]:
    return sorted(p for p, text in all_text_files(site).items() if tid in text)


def assert_not_published(b: BuiltSite, tid: str) -> None:
    assert not (b.site / "tickets" / tid).exists()
    assert appears_in(b.site, tid) == []
    state = load_state(b.config)
    try:
        assert state.get_row(tid) is None and state.texts([tid]) == {}
    finally:
        state.close()


@pytest.fixture
def site(tmp_path) -> BuiltSite:
    return make_site(tmp_path, tickets=40, days=2, search=False)


# -- item 5: a redactor that fails on one ticket ---------------------------------------


@pytest.mark.parametrize("how", ["raises", "timeout"])
def test_redactor_failure_holds_back_the_ticket_in_a_full_build(site, monkeypatch, caplog, how):
    bad = file_ticket(site, f"小区路灯坏了{POISON}，电话13812345678，请尽快维修。", citizen_phone="13812345678")
    good = file_ticket(site, "小区门口垃圾好几天没人清运了，兰山区")
    poison(monkeypatch, how)
    caplog.set_level(logging.INFO, logger="generator")
    report = build(site.config, full=True)
    assert [tid for tid, _ in report.held_back] == [bad]
    reason = report.held_back[0][1]
    assert ("time budget" in reason) if how == "timeout" else ("ValueError" in reason)
    assert "HELD BACK" in report.summary()
    assert f"held back from publishing: {bad}" in caplog.text
    slowlane.run(site.config, search=False)  # exports too
    assert_not_published(site, bad)
    assert "13812345678" not in "".join(all_text_files(site.site).values())
    # The build went on: everything else is published.
    assert (site.site / "tickets" / good / "index.html").is_file()
    assert good in (site.site / "feeds" / "tickets-new.rss.xml").read_text(encoding="utf-8")
    assert any(good in text for p, text in all_text_files(site.site).items() if p.startswith("open-data/"))


@pytest.mark.parametrize("how", ["raises", "timeout"])
def test_redactor_failure_holds_back_the_ticket_in_an_incremental_build(site, monkeypatch, caplog, how):
    published = next(t for t in site.service.store.scan() if t.state.is_public and t.state.status == "in_progress")
    assert (site.site / "tickets" / published.id / "index.html").is_file()
    poison(monkeypatch, how)
    caplog.set_level(logging.INFO, logger="generator")
    new = file_ticket(site, f"楼下烧烤店油烟扰民{POISON}，罗庄区")
    # A published ticket whose new version the redactor cannot vouch for leaves the site.
    site.service.act(published.id, {"action": "reply", "text": f"已协调{POISON}处理"}, actor=dept_of(site, published.id))
    ok = file_ticket(site, "路灯不亮已经一个星期了，河东区")
    report = build(site.config)
    assert report.mode == "incremental"
    assert sorted(tid for tid, _ in report.held_back) == sorted([new, published.id])
    assert f"held back from publishing: {new}" in caplog.text
    slowlane.run(site.config, search=False)
    for tid in (new, published.id):
        assert_not_published(site, tid)
    assert (site.site / "tickets" / ok / "index.html").is_file()
    # Once the redactor works again, the next build publishes them (and says nothing more).
    monkeypatch.undo()
    file_ticket(site, "又一件新的诉求：公交站牌损坏，兰山区")
    report = build(site.config)
    assert report.held_back == []
    for tid in (new, published.id):
        assert (site.site / "tickets" / tid / "index.html").is_file()
    # ... and the result is what a full build makes of the same data.
    assert_same_core_as_a_full_build(site)


def test_a_held_back_ticket_does_not_block_the_tickets_that_link_to_it(site, monkeypatch):
    # Two calls from the same phone about the same matter are linked as duplicates.
    first = file_ticket(site, f"桥上有人钓鱼很危险{POISON}，兰山区通达路", citizen_phone="13955556666")
    second = file_ticket(site, "桥上有人钓鱼很危险，兰山区通达路，又来了", citizen_phone="13955556666")
    assert site.service.store.get(second).state.links, "the fixture expects a duplicate link"
    poison(monkeypatch, "raises")
    report = build(site.config)
    assert [tid for tid, _ in report.held_back] == [first]
    assert (site.site / "tickets" / second / "index.html").is_file()
    # A later change of the linking ticket is published too: nothing is stuck.
    site.service.act(second, {"action": "accept"}, actor=dept_of(site, second))
    report = build(site.config)
    assert report.tickets >= 1 and [tid for tid, _ in report.held_back] == [first]
    assert "签收" in (site.site / "tickets" / second / "index.html").read_text(encoding="utf-8")
    report = build(site.config, full=True)
    assert [tid for tid, _ in report.held_back] == [first]
    assert (site.site / "tickets" / second / "index.html").is_file()


# -- item 9: a broken catalog or content file --------------------------------------------

CATALOG_BREAKS = {
    "wrong-type": ("sla.yaml", "sign_for_hours: 2", "sign_for_hours: soon", ["sla.yaml", "sign_for_hours"]),
    "python-tag": ("departments.yaml", "group: city_dept", "group: !!python/object/apply:os.system ['true']",
                   ["departments.yaml", "python/object"]),
    "unknown-ref": ("duty_list.yaml", "department: urban", "department: nobody", ["duty_list.yaml", "nobody"]),
}


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
@pytest.mark.parametrize("case", sorted(CATALOG_BREAKS))
def test_a_broken_catalog_fails_the_build_and_keeps_the_live_site(breakable, case, full):
    site = breakable
    file, old, new, expected = CATALOG_BREAKS[case]
    before = live_state(site)
    file_ticket(site, "小区门口垃圾好几天没人清运了，兰山区")  # something to publish
    path = site.config.catalog_dir / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    try:
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(CatalogError) as exc:
            build(site.config, full=full)
        for part in expected:
            assert part in str(exc.value)
        assert_unchanged(site, before)
    finally:
        path.write_text(text, encoding="utf-8")
    assert build(site.config, full=full).tickets >= 1  # repaired: the next build works


EPISODE = """---
number: 99
title: 测试节目
aired: 2026-11-25
summary: 一期用于测试的节目。
tickets: []
---

正文。
"""
CONTENT_BREAKS = {
    "python-tag": ("episodes/099-test.md", EPISODE.replace("title: 测试节目", "title: !!python/object/apply:os.system ['true']"),
                   ["099-test.md", "python/object"]),
    "wrong-type": ("episodes/099-test.md", EPISODE.replace("number: 99", "number: 第九十九期"), ["099-test.md", "number"]),
    "alias-bomb": ("episodes/099-test.md", EPISODE.replace("tickets: []", "a: &a [x, x]\nb: [*a, *a]\ntickets: []"),
                   ["099-test.md", "anchor"]),
    "no-closing-fence": ("episodes/099-test.md", EPISODE.replace("\n---\n\n", "\n\n", 1), ["099-test.md", "front matter"]),
    "bad-ticket-id": ("episodes/099-test.md", EPISODE.replace("tickets: []", "tickets: ['../../etc/passwd']"),
                      ["099-test.md", "tickets"]),
}


@pytest.fixture(scope="module")
def breakable(tmp_path_factory) -> BuiltSite:
    """A site built from copies of the catalog and content/, which a test may break (and
    must repair: a failed build changes nothing, so the tests can share it)."""
    site = make_site(tmp_path_factory.mktemp("breakable"), tickets=40, days=2, search=False)
    content = site.root / "content"
    shutil.copytree(ROOT / "content", content)
    site.config = dataclasses.replace(site.config, content_dir=content)
    build(site.config, full=True)
    return site


@pytest.mark.parametrize(
    ("case", "full"),
    [(case, False) for case in sorted(CONTENT_BREAKS)] + [("python-tag", True), ("wrong-type", True)],
    ids=[f"{case}-incremental" for case in sorted(CONTENT_BREAKS)] + ["python-tag-full", "wrong-type-full"],
)
def test_broken_content_front_matter_fails_the_build_and_keeps_the_live_site(breakable, case, full):
    site = breakable
    rel, text, expected = CONTENT_BREAKS[case]
    before = live_state(site)
    file_ticket(site, "小区门口垃圾好几天没人清运了，兰山区")
    path = site.config.content_dir / rel
    try:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ContentError) as exc:
            build(site.config, full=full)
        message = str(exc.value)
        for part in expected:
            assert part.lower() in message.lower(), message
        assert_unchanged(site, before)
    finally:
        path.unlink()
    assert build(site.config, full=full).tickets >= 1  # repaired: the next build works


# -- item 16: a corrupt or hand-edited ticket file ----------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _hand_edit(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["events"][0]["data"]["content"] = "悄悄改过的内容：此处原文被人为修改"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _bad_json(path: Path) -> None:
    path.write_bytes(b"\xff\xfe\x00garbage")


DAMAGE = {"truncated": _truncate, "hand-edited": _hand_edit, "not-json": _bad_json}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupt_ticket_file_is_left_out_of_a_full_build_and_reported(site, caplog, damage):
    victims = [t for t in site.service.store.scan() if t.state.is_public][:2]
    for t in victims:
        DAMAGE[damage](site.service.store.path_for(t.id))
    caplog.set_level(logging.INFO, logger="generator")
    report = build(site.config, full=True)
    assert sorted(Path(p).stem for p, _ in report.invalid) == sorted(t.id for t in victims)
    assert "INVALID" in report.summary()
    for t in victims:
        assert "invalid ticket file skipped" in caplog.text and t.id in caplog.text
        assert_not_published(site, t.id)
    assert "悄悄改过的内容" not in "".join(all_text_files(site.site).values())
    public = [t for t in site.service.store.scan() if t.state.is_public]
    assert report.tickets == len(public) and len(public) > 30
    for t in public:
        assert (site.site / "tickets" / t.id / "index.html").is_file()


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupt_ticket_file_is_unpublished_by_an_incremental_build_and_reported(site, caplog, damage):
    t = next(t for t in site.service.store.scan() if t.state.is_public and t.state.status == "in_progress")
    other = next(o for o in site.service.store.scan() if o.state.is_public and o.state.status == "dispatched")
    site.service.act(t.id, {"action": "reply", "text": "已安排人员处理"}, actor=dept_of(site, t.id))
    site.service.act(other.id, {"action": "accept"}, actor=dept_of(site, other.id))
    DAMAGE[damage](site.service.store.path_for(t.id))  # damaged after its change was journalled
    caplog.set_level(logging.INFO, logger="generator")
    report = build(site.config)
    assert report.mode == "incremental"
    assert [tid for tid, _ in report.invalid] == [t.id]
    assert f"invalid ticket file skipped: {t.id}" in caplog.text
    slowlane.run(site.config, search=False)
    assert_not_published(site, t.id)
    assert "签收" in (site.site / "tickets" / other.id / "index.html").read_text(encoding="utf-8")


def test_the_build_only_reads_the_store_even_when_a_linked_ticket_is_corrupt(site):
    first = file_ticket(site, "桥上有人钓鱼很危险，兰山区通达路", citizen_phone="13955556666")
    second = file_ticket(site, "桥上有人钓鱼很危险，兰山区通达路，又来了", citizen_phone="13955556666")
    assert site.service.store.get(second).state.links
    _hand_edit(site.service.store.path_for(first))
    data_before = snapshot(site.data)
    for full in (False, True):
        report = build(site.config, full=full)
        assert [Path(p).stem for p, _ in report.invalid] == [first]
        assert snapshot(site.data) == data_before, "the generator wrote into data/"
        assert_not_published(site, first)
        page = (site.site / "tickets" / second / "index.html").read_text(encoding="utf-8")
        assert first not in page  # no link to a ticket that is not published


def test_a_ticket_the_api_quarantined_leaves_the_site_at_the_next_build(site, caplog):
    t = next(t for t in site.service.store.scan() if t.state.is_public and t.state.status == "in_progress")
    _hand_edit(site.service.store.path_for(t.id))
    with pytest.raises(CorruptTicket):  # the API refuses to act on it and sets it aside
        site.service.act(t.id, {"action": "reply", "text": "已处理"}, actor=dept_of(site, t.id))
    assert site.service.store.quarantined()
    caplog.set_level(logging.INFO, logger="generator")
    report = build(site.config)
    assert report.mode == "incremental"
    assert [tid for tid, _ in report.invalid] == [t.id]
    slowlane.run(site.config, search=False)
    assert_not_published(site, t.id)
    assert_same_core_as_a_full_build(site)


# -- item 17: the generator killed mid-build -------------------------------------------------


def _shoufa(*args: str, data: Path, site_dir: Path) -> list[str]:
    return [sys.executable, "-m", "intake_api.cli", "--data-dir", str(data), "--content-dir", str(ROOT / "content"),
            "--site-dir", str(site_dir), *args]


def test_the_command_line_builds_with_relative_folders_and_writes_only_into_them(tmp_path):
    """`shoufa build` run where the data lives, with the default ./site: every file of the
    build lands under the working folder, none next to mkdocs.yml (which mkdocs takes a
    relative output folder to be relative to)."""
    shutil.copytree(CATALOG_DIR, tmp_path / "data" / "catalog")
    before = sorted(p.name for p in ROOT.iterdir())
    cli = [sys.executable, "-m", "intake_api.cli", "--data-dir", "data", "--content-dir", str(ROOT / "content")]
    env = os.environ | {"SOURCE_DATE_EPOCH": "1795838400", "TMPDIR": str(tmp_path)}
    subprocess.run([*cli, "demo", "--tickets", "30", "--days", "2", "--end", "2026-11-28T04:00:00+00:00", "--workers", "1"],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    for args in (["build", "--full", "--no-slow", "--workers", "1"], ["build", "--no-slow"]):
        done = subprocess.run([*cli, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
    site = tmp_path / "site"
    assert site.is_symlink() and (site / "index.html").is_file() and (site / "tickets" / "index.html").is_file()
    assert sorted(p.name for p in ROOT.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".site-state", "data", "site", site.resolve().name])


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_build_killed_midway_leaves_the_previous_site_and_the_next_build_completes(tmp_path):
    # The live site: a complete build of a small data set.
    small = tmp_path / "small"
    big = tmp_path / "big"
    for d in (small, big):
        shutil.copytree(CATALOG_DIR, d / "catalog")
    site_dir = tmp_path / "www" / "site"
    tmp = tmp_path / "tmp"  # the system's temporary folder, for these processes
    tmp.mkdir()
    env = os.environ | {"SOURCE_DATE_EPOCH": "1795838400", "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp)}
    demo = ["demo", "--days", "10", "--end", "2026-11-28T04:00:00+00:00", "--workers", "1"]
    subprocess.run(_shoufa(*demo, "--tickets", "60", data=small, site_dir=site_dir), check=True, env=env, cwd=tmp_path,
                   capture_output=True)
    subprocess.run(_shoufa(*demo, "--tickets", "2000", "--seed", "7", data=big, site_dir=site_dir), check=True, env=env,
                   cwd=tmp_path, capture_output=True)
    subprocess.run(_shoufa("build", "--full", "--no-slow", "--workers", "1", data=small, site_dir=site_dir),
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    live = site_dir.resolve()
    before = snapshot(live)
    state_dir = site_dir.parent / ".site-state"
    state_before = (state_dir / "state.sqlite").read_bytes()

    # Full builds of thousands of tickets, killed (the whole process group) at different
    # stages, recognised by what the build has written into its staging folder so far.
    def shell_started(staging: Path) -> bool:
        return True

    def tickets_half_done(staging: Path) -> bool:
        return (staging / "tickets").is_dir() and sum(1 for _ in os.scandir(staging / "tickets")) > 800

    def feeds_started(staging: Path) -> bool:
        return (staging / "feeds").is_dir()

    for stage in (shell_started, tickets_half_done, feeds_started):
        seen = set(site_dir.parent.glob(".site-build-*"))
        proc = subprocess.Popen(_shoufa("build", "--full", "--no-slow", "--workers", "2", data=big, site_dir=site_dir),
                                env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"the build finished before {stage.__name__}"
            assert time.monotonic() < deadline, f"the build never reached {stage.__name__}"
            staging = [p for p in site_dir.parent.glob(".site-build-*") if p not in seen]
            if staging and stage(staging[0]):
                break
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.2)
        assert site_dir.resolve() == live
        now = snapshot(live)
        assert now.keys() == before.keys() and all(now[k] == before[k] for k in before), stage.__name__
        assert (state_dir / "state.sqlite").read_bytes() == state_before
    abandoned = [p for p in site_dir.parent.glob(".site-build-*") if p.resolve() != live]
    assert abandoned, "the killed builds left their staging folders (the next build must clean them)"

    # The next build completes and leaves nothing of the killed ones behind.
    done = subprocess.run(_shoufa("build", "--full", "--no-slow", "--workers", "2", data=small, site_dir=site_dir),
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    new_live = site_dir.resolve()
    assert new_live != live and (new_live / "index.html").is_file() and (new_live / "tickets" / "index.html").is_file()
    assert [p for p in site_dir.parent.glob(".site-build-*") if p.resolve() != new_live] == []
    assert not list(site_dir.parent.glob(".site-trash-*")), "the command returned before the old site was deleted"
    assert sorted(p.name for p in state_dir.iterdir() if p.name.startswith("state.sqlite")) == ["state.sqlite"]
    assert not list(site_dir.parent.glob(".site.link-*"))
    # What the killed builds had in the making was in their own staging folders, now gone:
    # nothing of them is left in the system's temporary folder either.
    assert sorted(p.name for p in tmp.iterdir()) == []
    # And an incremental build after it works from the new state.
    assert subprocess.run(_shoufa("build", "--no-slow", data=small, site_dir=site_dir), env=env, cwd=tmp_path,
                          capture_output=True).returncode == 0


def test_a_crash_between_state_and_swap_is_repaired_by_the_next_build(site, monkeypatch):
    """If the generator dies after saving its state but before the swap, the next build
    must not trust that state against the old live folder."""
    import generator.publish as publish

    live = site.config.site_dir.resolve()
    t = next(t for t in site.service.store.scan() if t.state.is_public and t.state.status == "in_progress")
    site.service.act(t.id, {"action": "reply", "text": "第一次答复：已安排人员"}, actor=dept_of(site, t.id))

    def die(*_a, **_k):
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as m:
        m.setattr(publish, "swap", die)
        with pytest.raises(KeyboardInterrupt):
            build(site.config, full=True)
    assert site.config.site_dir.resolve() == live
    site.service.act(t.id, {"action": "resolve", "text": "已办结：问题已解决"}, actor=dept_of(site, t.id))
    build(site.config)
    page = (site.site / "tickets" / t.id / "index.html").read_text(encoding="utf-8")
    assert "第一次答复" in page and "已办结：问题已解决" in page
    assert_same_core_as_a_full_build(site)


def test_redaction_error_is_what_the_build_catches():
    """The contract the build relies on: every redactor failure surfaces as RedactionError."""
    catalog = load_catalog(CATALOG_DIR)

    class Broken(Redactor):
        def redact(self, text, **kw):
            raise RecursionError("deep")

    ctx = Context(catalog=catalog, dispatcher=Dispatcher(catalog, Path("/nonexistent")), clock=FixedClock(T0))
    ticket, _ = open_ticket("LY20261120000009", TicketCreate(channel="web", content="路灯坏了很久了，请维修"), ctx=ctx,
                            actor=OPERATOR, tracking_code="ABCDEFGHJKLMNPQR", at=ctx.clock.now())
    with pytest.raises(RedactionError):
        make_public(ticket, catalog=catalog, redactor=Broken())

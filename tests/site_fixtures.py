"""A small real site: demo tickets plus crafted ones, built by the real generator."""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from generator import slowlane
from generator.build import build
from generator.config import BuildConfig
from intake_api.catalog import load_catalog
from intake_api.clock import FixedClock
from intake_api.demo import DemoPlan, generate
from intake_api.model import Actor, Role, TicketCreate
from intake_api.service import Service

from .conftest import CATALOG_DIR, ROOT

END = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
XSS = (
    "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
    "[点我](javascript:window.__pwned=3) {{ 7*7 }} {% raw %} --8<-- \"/etc/passwd\"\n---\ntitle: x\n---\n"
    "楼下噪音扰民，兰山区"
)


@dataclass
class BuiltSite:
    root: Path
    data: Path
    config: BuildConfig
    service: Service
    xss_id: str
    confidential_id: str
    private_id: str
    private_phone: str
    private_name: str
    storm_id: str | None = None  # the first report of a storm of repeats (make_site(storm=N))

    @property
    def site(self) -> Path:
        return self.config.site_dir.resolve()


def make_site(root: Path, *, tickets: int = 400, days: int = 10, search: bool = True, storm: int = 0) -> BuiltSite:
    """Demo tickets, three crafted ones and (storm=N) a first report with N repeats and a reply."""
    data = root / "data"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    generate(data_dir=data, catalog_dir=data / "catalog",
             plan=DemoPlan(tickets=tickets, days=days, seed=3, end=END), workers=1)
    clock = FixedClock(END)
    svc = Service(data_dir=data, catalog=load_catalog(data / "catalog"), clock=clock)
    op = Actor(role=Role.OPERATOR)
    xss = svc.create(TicketCreate(channel="web", content=XSS, area="兰山区"), actor=op).ticket
    conf = svc.create(TicketCreate(channel="hotline", content="我要举报某单位领导违规，请为我保密，河东区",
                                   citizen_name="郑保密", citizen_phone="13700001111", confidential=True), actor=op).ticket
    priv = svc.create(TicketCreate(
        channel="hotline", area="罗庄区", citizen_name="钱多多", citizen_phone="15866667777",
        address="罗庄区盛庄街道幸福小区8号楼2单元302",
        content="我叫钱多多，电话15866667777，住在罗庄区盛庄街道幸福小区8号楼2单元302，楼下饭店油烟太大，身份证号371311198001011234。"),
        actor=op).ticket
    storm_id = _storm(svc, storm) if storm else None
    config = BuildConfig(
        data_dir=data, content_dir=ROOT / "content", site_dir=root / "site", state_dir=root / "state",
        catalog_dir=data / "catalog", workers=1, now=END, site_url="https://shoufa.example.gov.cn/",
    )
    build(config, full=True)
    if search:
        slowlane.run(config)
    return BuiltSite(root, data, config, svc, xss.id, conf.id, priv.id, "15866667777", "钱多多", storm_id)


STORM_TEXT = "兰山区柳青街道幸福小区3号楼停水两天了，请尽快恢复供水。"
STORM_REPLY = "经查，小区主管道爆裂，已抢修完毕，3号楼已恢复供水。"


def _storm(svc: Service, n: int) -> str:
    """A burst main: n+1 citizens report one building without water; the first gets a reply."""
    op = Actor(role=Role.OPERATOR)
    calls = [TicketCreate(channel="hotline", content=STORM_TEXT, address="兰山区柳青街道幸福小区3号楼",
                          citizen_phone=f"139{i:08d}") for i in range(n + 1)]
    first = svc.create(calls[0], actor=op).ticket
    for call in calls[1:]:
        assert svc.create(call, actor=op).duplicate_of.ticket_id == first.id
    dept = Actor(role=Role.DEPARTMENT, department=first.state.department)
    svc.act(first.id, {"action": "accept"}, actor=dept)
    svc.act(first.id, {"action": "resolve", "text": STORM_REPLY}, actor=dept)
    return first.id


def all_text_files(site: Path) -> dict[str, str]:
    out = {}
    for p in site.rglob("*"):
        if p.is_file() and p.suffix in (".html", ".xml", ".json", ".csv", ".txt"):
            out[str(p.relative_to(site))] = p.read_text(encoding="utf-8", errors="replace")
    return out


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D102
        pass


class _StaticServer(ThreadingHTTPServer):
    # The default backlog of 5 drops a browser's burst of connections on a busy machine
    # (HTTP/1.0: one per file), and a dropped SYN is retried only after 1, 3, 7... s.
    request_queue_size = 128
    daemon_threads = True


@contextlib.contextmanager
def serve_static(root: Path) -> Iterator[str]:
    """Serve a built site over HTTP on a free port; yield its base URL."""
    server = _StaticServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def open_page(browser, **context_options) -> Iterator:
    """A page in a fresh browser context that records what it said: its dialogs
    (`page.dialogs`) and its console messages, script errors, failed requests and
    workers (`page.console_lines`, shown in the report of a test that fails)."""
    ctx = browser.new_context(locale="zh-CN", **context_options)
    pg = ctx.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.console_lines = []
    pg.on("console", lambda m: pg.console_lines.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: pg.console_lines.append(f"pageerror: {e}"))
    pg.on("requestfailed", lambda r: pg.console_lines.append(f"failed: {r.url} {r.failure}"))
    pg.on("worker", lambda w: pg.console_lines.append(f"worker: {w.url}"))
    try:
        yield pg
    finally:
        ctx.close()



def pages_name_a_withheld_ticket(monkeypatch, tid: str, *, unless: threading.Event | None = None) -> None:
    """Make every ticket page name `tid` (a confidential ticket's id): a leak the scan
    must find in every build, until `unless` is set."""
    from generator.pages import ticket as ticket_page
    from generator.render import Output

    real = ticket_page.render

    def naming_it(site, public):
        out = real(site, public)
        if unless is not None and unless.is_set():
            return out
        return Output(out.path, str(out.content) + f"<p>参见 {tid}</p>", ids=out.ids, key=out.key)

    monkeypatch.setattr(ticket_page, "render", naming_it)


# Left out of the comparison with a fresh build: a published report of a closed period
# is final by design (tests/test_reports.py covers their refresh); search shards and
# exports are the slow lane's own.
SLOW_LANES_OWN = ("open-data/", "reports/", "feeds/reports.", "search/")


def differences_from_a_fresh_full_build(config: BuildConfig, where: Path) -> list[str]:
    """The files in which the live site differs from a full build of the same data into
    `where`, once the slow lane has run as if its intervals had passed."""
    from generator.state import State
    from generator.watch import run_slow_lane

    state = State(config.state_dir / "state.sqlite")
    state.db.execute("DELETE FROM meta WHERE key IN ('reports:refreshed', 'reports:slow_refreshed', 'warnings:refreshed')")
    state.close()
    run_slow_lane(config)
    fresh_config = BuildConfig(**{**config.__dict__, "site_dir": where / "site", "state_dir": where / "state"})
    build(fresh_config, full=True)
    fresh, live = _files(fresh_config.site_dir.resolve()), _files(config.site_dir.resolve())
    return sorted(k for k in set(fresh) | set(live) if fresh.get(k) != live.get(k) and not k.startswith(SLOW_LANES_OWN))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

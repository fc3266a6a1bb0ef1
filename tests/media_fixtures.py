"""A small real site for the media sections' tests: demo tickets, planted tickets, episodes.

`media_site` (built once per test process) generates ~220 demo tickets over five weeks with a pinned
clock, plants a confidential ticket and tickets whose text holds the citizen's phone or
markup, writes three episodes (one a draft) into a content folder, and runs two full
builds of the real generator (so feeds can be compared across rebuilds). Only the core
and the media sections run (episodes, top, rankings, feedlist): the other sections have
their own tests.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from generator import sections
from generator.build import build
from generator.config import BuildConfig
from generator.pages.context import Site
from generator.publish import live_root
from generator.shell import load_layout
from generator.state import State
from intake_api.catalog import Catalog, load_catalog
from intake_api.clock import FixedClock
from intake_api.demo import DemoPlan, generate
from intake_api.model import Actor, Role, TicketCreate
from intake_api.service import Service

ROOT = Path(__file__).resolve().parents[1]
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the demo's "now": 20:00 in Linyi
MEDIA_SECTIONS = ("generator.episodes", "generator.top", "generator.rankings", "generator.feedlist")
OPERATOR = Actor(role=Role.OPERATOR, name="op-test")
CITIZEN = Actor(role=Role.CITIZEN)
SECRET_NAME = "欧阳保密"
SECRET_PHONE = "13912340987"
OWN_PHONE = "13812345670"
MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)> {{ 7*7 }} {% raw %} --8<-- "/etc/passwd" [点我](javascript:alert(1))'


@contextlib.contextmanager
def media_sections() -> Iterator[None]:
    """Build with the core and the media sections only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sections, "MODULES", MEDIA_SECTIONS)
        mp.setitem(sys.modules, "generator.profiles", None)  # another team's section of the core pages
        yield


def _handle(service: Service, tid: str, clock: FixedClock, *, satisfaction: str = "satisfied", solved: bool = True) -> None:
    dept = Actor(role=Role.DEPARTMENT, department=service.store.get(tid).state.department, name="dept-test")
    for action, actor in (
        ({"action": "accept"}, dept),
        ({"action": "contact", "method": "phone"}, dept),
        ({"action": "reply", "text": "已到现场核实，供电公司正在协调开发商办理正式用电。"}, dept),
        ({"action": "resolve", "text": "已办理完毕。"}, dept),
        ({"action": "rate", "satisfaction": satisfaction, "solved": solved}, CITIZEN),
    ):
        clock.advance(hours=1)
        service.act(tid, action, actor=actor)


@dataclass
class MediaSite:
    root: Path
    config: BuildConfig
    catalog: Catalog
    secret_id: str  # confidential, covered by an episode's query and listed in its tickets
    phone_id: str  # public; its text held the citizen's own phone
    markup_id: str  # public; its text is markup and template syntax
    open_id: str  # public, open, covered by episode 1
    first_feeds: dict[str, bytes]  # feeds/** of the first full build
    first_files: dict[str, bytes]  # the media sections' files of the first full build

    @property
    def site(self) -> Path:
        return live_root(self.config.site_dir)

    def read(self, rel: str) -> str:
        return (self.site / rel).read_text(encoding="utf-8")

    def feeds(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.site)): p.read_bytes() for p in sorted((self.site / "feeds").rglob("*.xml"))}

    def media_files(self) -> dict[str, bytes]:
        """Every file the media sections write (pages, media, feeds)."""
        return {str(p.relative_to(self.site)): p.read_bytes() for top in ("episodes", "rankings", "top", "feeds")
                for p in sorted((self.site / top).rglob("*")) if p.is_file()}

    def site_object(self) -> Site:
        """A Site over this build's state (for calling section code directly)."""
        state = State(self.config.state_dir / "state.sqlite")
        return Site(layout=load_layout(self.config.state_dir / "layout.json"), catalog=self.catalog, state=state,
                    now=END, base="/", site_url=self.catalog.city.site_url)


EPISODE_1 = """---
number: 1
title: 凤凰水城的临时电
aired: {aired}
summary: 小区入住十年仍用临时电。
video:
  url: media/clip.mp4
  type: video/mp4
  size: 12
  duration: "01:05"
cover: media/cover.svg
tickets: [{secret}, {open_id}]
ticket_query:
  text: [凤凰水城, 临时电]
departments: [power, lanshan-gov, hrss]
follow_up:
  status: rectifying
  updated: {updated}
  note: 供电公司已勘察现场。
---

## 节目内容

小区业主反映**临时电**问题。

!!! note "说明"
    以下工单随办理进展更新。
"""

EPISODE_2 = """---
number: 2
title: 讨薪难
aired: {aired}
summary: 欠薪工单为何超期。
video:
  url: https://tv.example.cn/2.mp4
ticket_query:
  category: labor.wage_arrears
---

正文。
"""

DRAFT = """---
number: 3
title: 草稿一期
aired: {aired}
summary: 还在做。
draft: true
---

草稿正文。
"""


def write_content(content_dir: Path, *, secret: str, open_id: str) -> None:
    eps = content_dir / "episodes"
    (eps / "media").mkdir(parents=True, exist_ok=True)
    (eps / "media" / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (eps / "media" / "cover.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>', encoding="utf-8")
    day = lambda n: (END - timedelta(days=n)).strftime("%Y-%m-%d")  # noqa: E731
    (eps / "001-temp-power.md").write_text(EPISODE_1.format(aired=day(12), updated=day(2), secret=secret, open_id=open_id), encoding="utf-8")
    (eps / "002-wages.md").write_text(EPISODE_2.format(aired=day(5)), encoding="utf-8")
    (eps / "003-draft.md").write_text(DRAFT.format(aired=day(1)), encoding="utf-8")
    (eps / "README.md").write_text("# not an episode\n", encoding="utf-8")


def config_for(root: Path, data_dir: Path, content_dir: Path, *, name: str = "site", drafts: bool = False) -> BuildConfig:
    return BuildConfig(
        data_dir=data_dir, content_dir=content_dir, site_dir=root / name, state_dir=root / f".{name}-state",
        catalog_dir=data_dir / "catalog", workers=1, now=END, search=False, drafts=drafts,
    )


def make_media_site(root: Path) -> MediaSite:
    data_dir = root / "data"
    shutil.copytree(ROOT / "data" / "catalog", data_dir / "catalog")
    # Small groups rank at this size: 5 closed tickets, 2 departments per list.
    ranking = data_dir / "catalog" / "ranking.yaml"
    text = ranking.read_text(encoding="utf-8").replace("min_tickets: 30", "min_tickets: 5").replace("list_size: 3", "list_size: 2")
    ranking.write_text(text, encoding="utf-8")
    catalog = load_catalog(data_dir / "catalog")
    generate(data_dir=data_dir, catalog_dir=data_dir / "catalog", plan=DemoPlan(tickets=220, days=36, seed=5, end=END), workers=1)
    clock = FixedClock(END - timedelta(days=4))
    service = Service(data_dir=data_dir, catalog=catalog, clock=clock, durable=False, detect_duplicates=False)

    def intake(content: str, **kw) -> str:
        create = TicketCreate(channel="hotline", content=content, area="lanshan", **kw)
        return service.create(create, actor=OPERATOR).ticket.id

    secret = intake("凤凰水城小区临时电又停电了，家里冰箱都坏了，请尽快解决。", citizen_name=SECRET_NAME,
                    citizen_phone="139 1234 0987", confidential=True)
    _handle(service, secret, clock)
    phone_id = intake(f"凤凰水城临时电的事一直没人管，我的电话{OWN_PHONE}，请回电话。", citizen_name="李四", citizen_phone=OWN_PHONE)
    _handle(service, phone_id, clock, satisfaction="unsatisfied", solved=False)
    markup_id = intake(f"凤凰水城临时电 {MARKUP}", citizen_phone="13700001111")
    _handle(service, markup_id, clock)
    open_id = intake("凤凰水城临时电电压不稳，空调开不起来，请供电公司来看看。", citizen_phone="13700002222")
    content_dir = root / "content"
    write_content(content_dir, secret=secret, open_id=open_id)
    config = config_for(root, data_dir, content_dir)
    with media_sections():
        build(config, full=True)
        first = MediaSite(root, config, catalog, secret, phone_id, markup_id, open_id, {}, {})
        first.first_feeds = first.feeds()
        first.first_files = first.media_files()
        build(config, full=True)
    return first


_BUILT: dict[str, MediaSite] = {}


@pytest.fixture(scope="session")
def media_site(tmp_path_factory: pytest.TempPathFactory) -> MediaSite:
    # Imported into several test modules, the fixture is one definition per module:
    # build once per process all the same.
    if "site" not in _BUILT:
        _BUILT["site"] = make_media_site(tmp_path_factory.mktemp("media-site"))
    return _BUILT["site"]

"""A small demo site for the analytics tests (reports, warnings, profiles).

Five weeks of demo tickets with the demo's planted patterns (the 凤凰水城 estate on
temporary power filing again every few days; a wage-arrears burst about one employer
in 莒南县 in the last two days), built by the real generator with the clock pinned.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from generator.build import build
from generator.config import BuildConfig
from generator.pages.context import Site
from generator.shell import load_layout
from generator.state import State
from intake_api.catalog import Catalog, load_catalog
from intake_api.demo import DemoPlan, generate

from .conftest import CATALOG_DIR, ROOT

END = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 in Linyi, a Saturday
BURST_EMPLOYER = "鸿泰建筑工程有限公司"
RECURRING_ESTATE = "凤凰水城"


@dataclass
class DemoSite:
    root: Path
    config: BuildConfig
    catalog: Catalog

    @property
    def site(self) -> Path:
        return self.config.site_dir.resolve()

    def state(self) -> State:
        return State(self.config.state_dir / "state.sqlite")

    def site_for(self, state: State) -> Site:
        return Site(layout=load_layout(self.config.state_dir / "layout.json"), catalog=self.catalog, state=state,
                    now=END, base="/", site_url="https://shoufa.example.gov.cn/")


def make_demo(root: Path, *, tickets: int = 300, days: int = 35, burst: bool = True, catalog_dir: Path = CATALOG_DIR) -> DemoSite:
    data = root / "data"
    shutil.copytree(catalog_dir, data / "catalog")
    generate(data_dir=data, catalog_dir=data / "catalog",
             plan=DemoPlan(tickets=tickets, days=days, seed=5, end=END, burst=burst), workers=1)
    config = BuildConfig(
        data_dir=data, content_dir=ROOT / "content", site_dir=root / "site", state_dir=root / "state",
        catalog_dir=data / "catalog", workers=1, now=END, site_url="https://shoufa.example.gov.cn/", search=False,
    )
    build(config, full=True)
    return DemoSite(root, config, load_catalog(data / "catalog"))


def text_files(site: Path) -> dict[str, str]:
    return {
        str(p.relative_to(site)): p.read_text(encoding="utf-8", errors="replace")
        for p in site.rglob("*")
        if p.is_file() and p.suffix in (".html", ".xml", ".json", ".csv", ".txt", ".svg")
    }

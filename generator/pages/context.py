"""What every page renderer needs: layout, catalog, state, names, build time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from intake_api.catalog import Catalog

from ..render import page
from ..shell import Layout
from ..state import State


@dataclass
class Names:
    """Display names for codes, for templates."""

    catalog: Catalog

    def department(self, code: str | None) -> str:
        d = self.catalog.department_by_code.get(code or "")
        return d.short if d else (code or "")

    def department_full(self, code: str | None) -> str:
        d = self.catalog.department_by_code.get(code or "")
        return d.name if d else (code or "")

    def category(self, code: str | None) -> str:
        c = self.catalog.categories.get(code or "")
        return c.name if c else "其他"

    def area(self, code: str | None) -> str:
        a = self.catalog.area_by_code.get(code or "")
        return a.name if a else "未知区域"

    def supervision(self, level: int) -> str:
        return self.catalog.supervision_name(level) if level else ""

    def channel(self, code: str) -> str:
        c = self.catalog.channel_by_code.get(code)
        return c.name if c else code


@dataclass
class Site:
    layout: Layout
    catalog: Catalog
    state: State
    now: datetime
    base: str = "/"
    site_url: str = ""
    episodes_by_ticket: dict[str, list[Any]] = field(default_factory=dict)
    content_dir: Path | None = None  # editors' content (episodes, reports, top.yaml)
    drafts: bool = False  # local preview: draft episodes too
    # What one pass computes once and several sections show (a Site lives for one pass).
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def names(self) -> Names:
        return Names(self.catalog)

    def page(self, template: str, *, title: str, active: str | None, **ctx: Any) -> str:
        return page(self.layout, template, title=title, active=active, base=self.base, names=self.names, **ctx)

    def url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    def absolute(self, path: str) -> str:
        return self.site_url.rstrip("/") + self.url(path)


def live_site(config: Any, state: State, catalog: Catalog) -> Site:
    """The Site of a slow-lane run: the live layout and the build's settings."""
    from ..shell import load_layout

    return Site(
        layout=load_layout(config.state_dir / "layout.json"), catalog=catalog, state=state,
        now=config.clock_now(), base=config.base_url, site_url=config.site_url or catalog.city.site_url,
        content_dir=config.content_dir, drafts=config.drafts,
    )

"""Sections beyond the ticket core (rankings, top tickets, episodes, reports...).

A section renders its pages from the public rows in the state and from content/. It is
asked for every page on a full build, for the pages a set of changed rows affects on
an incremental build (cheap, or nothing), and for its periodic pages in the slow lane
(current periods refreshed at most once per interval).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Protocol

from .pages.context import Site, live_site
from .render import Output
from .rows import Row

log = logging.getLogger(__name__)

# Modules that define `SECTION`; missing ones are skipped so the core builds alone.
MODULES = (
    "generator.episodes",
    "generator.top",
    "generator.rankings",
    "generator.reports",
    "generator.warnings",
    "generator.feedlist",
)


class Section(Protocol):
    name: str

    def full(self, site: Site) -> Iterable[Output]: ...

    def changed(self, site: Site, before: list[Row | None], after: list[Row | None]) -> Iterable[Output]: ...

    def periodic(self, site: Site) -> Iterable[Output]: ...


def load_sections() -> list[Section]:
    out = []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        out.append(mod.SECTION)
    return out


def _existing_pages(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.glob("*/index.html")} | {"index.html"}


def refresh_periodic(config) -> int:
    """Re-render the sections' current-period pages into the live site (slow lane)."""
    from intake_api.catalog import load_catalog

    from .build import _lock
    from .publish import Writer, live_root
    from .state import State

    sections = load_sections()
    if not sections:
        return 0
    with _lock(config, "slow"):
        root = live_root(config.site_dir)
        path = config.state_dir / "state.sqlite"
        if root is None or not path.exists():
            return 0
        state = State(path)
        try:
            catalog = load_catalog(config.catalog_dir)
            site = live_site(config, state, catalog)
            from .leakscan import LeakScanner
            from .pages import home

            scanner = LeakScanner(withheld=state.withheld_ids())
            outs = [out for section in sections for out in section.periodic(site)]
            home.refresh_extras(site)
            outs.append(home.render(site, existing=_existing_pages(root)))
            for out in outs:
                scanner.check(out)
            scanner.raise_if_found()
            writer = Writer(root, hashes={})
            for out in outs:
                writer.write(out)
            return len(writer.written)
        finally:
            state.close()

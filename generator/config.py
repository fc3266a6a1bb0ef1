"""The generator's configuration, validated once from Settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from intake_api.catalog import FILES, Catalog, load_catalog
from intake_api.clock import build_time
from intake_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "site_src" / "templates"
MKDOCS_YML = ROOT / "mkdocs.yml"

# Bump when the shape of pages changes in a way the manifest cannot see.
TEMPLATE_VERSION = "7"
CHUNK = 1000  # ids per page of the big day/status listings (fixed, so pages never shift)
LATEST = 30  # tickets on a value's index page


@dataclass(frozen=True)
class BuildConfig:
    data_dir: Path
    """Tickets, journal and the catalog (read only)."""
    content_dir: Path
    """Editors' content: pages, episodes, reports (read only)."""
    site_dir: Path
    """The live site: a symlink to the current complete build folder."""
    state_dir: Path
    """The generator's private state: row index, manifest, journal cursor, layout."""
    catalog_dir: Path
    mkdocs_yml: Path = MKDOCS_YML
    base_url: str = "/"
    """URL path the site is served under."""
    site_url: str = ""
    """Absolute site URL for feeds and the sitemap (from the catalog when empty)."""
    drafts: bool = False
    """Build draft episodes too (local preview only, never the public site)."""
    workers: int = 2
    """Worker processes for full builds."""
    now: datetime | None = None
    """Pinned build time (SOURCE_DATE_EPOCH); None: the wall clock."""
    search: bool = True
    """Build the Pagefind search shards."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> BuildConfig:
        site_dir = Path(settings.site_dir)
        if overrides.get("drafts") and not site_dir.name.endswith("-preview"):
            # Drafts are previewed from their own folder, never the public site.
            site_dir = site_dir.with_name(site_dir.name + "-preview")
        values = dict(
            data_dir=Path(settings.data_dir),
            content_dir=Path(settings.content_dir),
            site_dir=site_dir,
            state_dir=site_dir.parent / f".{site_dir.name}-state",
            catalog_dir=settings.catalog_path,
            workers=max(1, min(os.cpu_count() or 1, 8)),
            now=build_time() if os.environ.get("SOURCE_DATE_EPOCH") else None,
        )
        values.update(overrides)
        return cls(**values)

    def clock_now(self) -> datetime:
        return self.now or build_time()


_CATALOGS: dict[tuple, Catalog] = {}


def cached_catalog(root: Path) -> Catalog:
    """The catalog under `root`, loaded again only when one of its files changed.

    Parsing and validating it takes about 0.5 s; the watcher's builds run every few
    hundred milliseconds in one process. Catalog models are frozen, so sharing is safe.
    """
    root = Path(root)
    key = (str(root), *(_stat(root / fname) for fname, _model in FILES.values()))
    if key not in _CATALOGS:
        catalog = load_catalog(root)
        _CATALOGS.clear()
        _CATALOGS[key] = catalog
    return _CATALOGS[key]


def _stat(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)

"""Shared fixtures: the real Linyi catalog, a fresh data folder, a fixed clock."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intake_api.catalog import Catalog, load_catalog
from intake_api.clock import FixedClock
from intake_api.model import Actor, Role
from intake_api.service import Service

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "data" / "catalog"
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Linyi


def pytest_collection_modifyitems(items):
    # A browser test that fails is run once more; the report lists every rerun ("R").
    # A real browser on a loaded 2-core machine can lose a request of the search page
    # (Pagefind then never answers); two failures in a row are a failure.
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=1))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.failed and call.when == "call" and getattr(page, "console_lines", None) is not None:
        # What the page said: console messages, script errors, failed requests, workers.
        report.sections.append(("browser console", "\n".join(page.console_lines) or "(nothing)"))
        try:
            report.sections.append(("search box", page.locator("#search").inner_html(timeout=2000)[:2000]))
        except Exception as exc:  # noqa: BLE001 - the page may be gone
            report.sections.append(("search box", f"(not read: {exc})"))
    return report


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG_DIR)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder with a copy of the real catalog and no tickets."""
    d = tmp_path / "data"
    shutil.copytree(CATALOG_DIR, d / "catalog")
    return d


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def service(data_dir: Path, catalog: Catalog, clock: FixedClock) -> Service:
    return Service(data_dir=data_dir, catalog=catalog, clock=clock)


OPERATOR = Actor(role=Role.OPERATOR, name="op-test")
SUPERVISOR = Actor(role=Role.SUPERVISOR, name="sup-test")
EDITOR = Actor(role=Role.EDITOR, name="ed-test")
CITIZEN = Actor(role=Role.CITIZEN)


def dept(code: str) -> Actor:
    return Actor(role=Role.DEPARTMENT, department=code, name=f"{code}-user")

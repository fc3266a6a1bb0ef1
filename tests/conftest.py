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

"""`shoufa demo`: realistic, complete lifecycles, deterministic for a seed."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intake_api.cli import main
from intake_api.store import Store

from .conftest import CATALOG_DIR

END = "2026-11-28T04:00:00+00:00"


def _demo(root: Path, *args: str) -> Path:
    data = root / "data"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    assert main(["--data-dir", str(data), "demo", "--end", END, *args]) == 0
    return data


def _digest(data: Path) -> dict[str, str]:
    return {
        str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((data / "tickets").rglob("*.json"))
    }


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    return _demo(tmp_path_factory.mktemp("demo"), "--tickets", "1500", "--days", "30", "--seed", "7")


def test_same_seed_same_files(demo_data, tmp_path):
    again = _demo(tmp_path, "--tickets", "1500", "--days", "30", "--seed", "7", "--workers", "1")
    assert _digest(again) == _digest(demo_data)


def test_other_seed_other_data(demo_data, tmp_path):
    other = _demo(tmp_path, "--tickets", "300", "--days", "30", "--seed", "8")
    a = {k.split("/")[-1] for k in _digest(demo_data)}
    assert _digest(other).keys() != a


def test_lifecycles_cover_the_whole_process(demo_data):
    tickets = list(Store(demo_data).scan())
    assert len(tickets) >= 1500
    types = Counter(e.type for t in tickets for e in t.events)
    for t in ("returned", "arbitrated", "redispatched", "extension_requested", "extension_decided",
              "overdue", "supervised", "reopened", "rated", "closed", "moderated", "on_site", "contacted"):
        assert types[t] > 0, t
    states = Counter(t.state.status for t in tickets)
    assert states["closed"] > len(tickets) * 0.6  # most are handled and closed
    assert states["dispatched"] + states["in_progress"] > 0  # recent ones still open
    sats = Counter(t.state.rating.satisfaction for t in tickets if t.state.rating)
    assert sats["satisfied"] > sats["unsatisfied"] > 0
    assert max(t.state.supervision_level for t in tickets) >= 3
    assert sum(t.state.confidential for t in tickets) > 0
    on_time = [t.state.on_time for t in tickets if t.state.on_time is not None]
    assert 0.75 < sum(on_time) / len(on_time) < 0.99
    end = datetime.fromisoformat(END).astimezone(UTC)
    assert all(e.at <= end for t in tickets for e in t.events)


def test_some_texts_carry_personal_data_for_redaction(demo_data):
    tickets = list(Store(demo_data).scan())
    with_phone = [t for t in tickets if t.state.private.citizen_phone and t.state.private.citizen_phone in t.state.content]
    with_name = [t for t in tickets if t.state.private.citizen_name and t.state.private.citizen_name in t.state.content]
    assert with_phone and with_name


def test_planted_patterns_are_there(demo_data):
    tickets = list(Store(demo_data).scan())
    burst = [t for t in tickets if "鸿泰建筑" in t.state.content]
    assert len(burst) >= 15 and {t.state.area for t in burst} == {"junan"}
    assert sum("凤凰水城" in t.state.content and "临时电" in t.state.content for t in tickets) >= 5

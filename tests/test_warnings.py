"""Early warning (多发/新发/爆发, group complaints): detection, thresholds, staff-only output."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from generator import reports
from generator import warnings as early_warning
from generator.build import build
from generator.rows import Row
from generator.sections import refresh_periodic
from generator.state import State
from intake_api.catalog import WarningPolicy, load_catalog
from intake_api.clock import SHANGHAI, FixedClock
from intake_api.model import Actor, Role, TicketCreate
from intake_api.service import Service

from .analytics_fixtures import BURST_EMPLOYER, END, DemoSite, make_demo, text_files
from .conftest import CATALOG_DIR

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
ID = re.compile(r"LY\d{14}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoSite:
    return make_demo(tmp_path_factory.mktemp("warnings"))


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG_DIR)


# -- synthetic streams -------------------------------------------------------------------------


def _row(tid: str, at: datetime, category: str, area: str) -> Row:
    day = at.astimezone(SHANGHAI).date().isoformat()
    iso = at.isoformat()
    return Row(
        id=tid, day=day, month=day[:7], chunk=1, received_at=iso, updated_at=iso, closed_at=None, channel="hotline",
        category=category, category_top=category.split(".")[0], area=area, street=None, department="hrss",
        status="open", workflow_status="dispatched", title="t", snippet="s", accepted_in_time=None, on_time=None,
        satisfaction=None, solved=None, first_time=None, handling_days=None, returns=0, shirking=0, reopens=0,
        supervision=0, events=2, last_hash="0" * 64,
    )


STEADY = [
    ("labor.wage_arrears", "junan", "我们在{place}干活，工资一直拖欠，请帮忙讨薪。", ["华森木业有限公司", "鑫源板材厂"]),
    ("housing.property", "lanshan", "{place}物业不打扫卫生，楼道很脏。", ["凤凰水城小区", "书圣花园"]),
    ("utilities.water_outage", "hedong", "{place}又停水了，请尽快恢复供水。", ["九曲花园", "朝阳家园"]),
    ("eco.noise", "luozhuang", "{place}晚上施工噪音太大。", ["沂州花园", "罗西家园"]),
]


def steady_state(path: Path, *, per_day: float = 4.0, days: int = 35, seed: int = 7) -> State:
    """Several matters, each a steady Poisson stream, for `days` days up to NOW."""
    rng = random.Random(seed)
    state = State(path)
    rows, texts = [], []
    n = 0
    for category, area, template, places in STEADY:
        t = NOW - timedelta(days=days)
        while True:
            t += timedelta(days=rng.expovariate(per_day))
            if t > NOW:
                break
            n += 1
            tid = f"LY{t.astimezone(SHANGHAI):%Y%m%d}{n:06d}"
            rows.append(_row(tid, t, category, area))
            texts.append((tid, template.format(place=rng.choice(places)), "", ""))
    state.begin()
    state.put_rows(rows, texts)
    state.commit()
    return state


def plant(state: State, *, count: int, place: str, area: str, category: str, hours: float) -> list[str]:
    """`count` tickets naming `place` within the last `hours`."""
    rows, texts = [], []
    for i in range(count):
        t = NOW - timedelta(hours=hours * (i + 0.5) / count)
        tid = f"LY{t.astimezone(SHANGHAI):%Y%m%d}9{i:05d}"
        rows.append(_row(tid, t, category, area))
        texts.append((tid, f"{place}拖欠我们几十个工友的工资，大家准备一起去讨薪，请政府帮忙。", "", ""))
    state.begin()
    state.put_rows(rows, texts)
    state.commit()
    return sorted(r.id for r in rows)


def test_quiet_steady_stream_raises_no_burst(tmp_path, catalog):
    state = steady_state(tmp_path / "s.sqlite")
    try:
        result = early_warning.compute(state, catalog, NOW)
    finally:
        state.close()
    kinds = {a.kind for a in result.alerts}
    assert "burst" not in kinds and "group" not in kinds and "new" not in kinds
    assert sum(result.window_counts.values()) > 30  # the window is not empty: it is just quiet


def test_quiet_streams_over_many_seeds(tmp_path, catalog):
    """With the Bonferroni correction, false bursts stay rare across many quiet runs."""
    false = 0
    for seed in range(12):
        state = steady_state(tmp_path / f"s{seed}.sqlite", per_day=6.0, seed=seed)
        try:
            false += sum(a.kind == "burst" for a in early_warning.compute(state, catalog, NOW).alerts)
        finally:
            state.close()
    assert false == 0


def test_planted_group_complaint_is_found(tmp_path, catalog):
    state = steady_state(tmp_path / "s.sqlite")
    ids = plant(state, count=9, place="沂南县金鼎建材有限公司", area="yinan", category="labor.wage_arrears", hours=30)
    try:
        result = early_warning.compute(state, catalog, NOW)
    finally:
        state.close()
    group = [a for a in result.alerts if a.kind == "group"]
    assert len(group) == 1
    g = group[0]
    assert g.place == "金鼎建材有限公司" and g.area == "yinan" and g.count == 9 and list(g.ticket_ids) == ids
    assert g.p_adjusted is not None and g.p_adjusted < 0.001
    burst = [a for a in result.alerts if a.kind == "burst" and a.matter == "labor.wage_arrears" and a.area == "yinan"]
    assert burst and set(burst[0].ticket_ids) == set(ids)
    assert any(a.kind == "new" and a.area == "yinan" for a in result.alerts)  # the matter is new in 沂南县


def test_frequent_counts_against_the_catalog_threshold(tmp_path, catalog):
    state = steady_state(tmp_path / "s.sqlite", per_day=4.0)
    try:
        low = dataclasses.replace(catalog, warnings=catalog.warnings.model_copy(update={"frequent": {"min_count": 3}}))
        high = dataclasses.replace(catalog, warnings=catalog.warnings.model_copy(update={"frequent": {"min_count": 1000}}))
        assert any(a.kind == "frequent" for a in early_warning.compute(state, low, NOW).alerts)
        assert not any(a.kind == "frequent" for a in early_warning.compute(state, high, NOW).alerts)
    finally:
        state.close()


def test_thresholds_come_from_the_catalog_file(tmp_path):
    raw = yaml.safe_load((CATALOG_DIR / "warnings.yaml").read_text(encoding="utf-8"))
    t = early_warning.Thresholds.from_policy(load_catalog(CATALOG_DIR).warnings)
    assert (t.window_hours, t.baseline_days) == (raw["window_hours"], raw["baseline_days"])
    assert (t.burst_p, t.burst_min, t.group_min) == (raw["burst"]["p_value"], raw["burst"]["min_count"], raw["group_complaint"]["min_count"])
    # Raise the group threshold in a copy of the catalog: the planted group is no longer flagged.
    cat_dir = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, cat_dir)
    raw["group_complaint"]["min_count"] = 50
    raw["burst"]["min_count"] = 50
    (cat_dir / "warnings.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    strict = load_catalog(cat_dir)
    state = steady_state(tmp_path / "s.sqlite")
    plant(state, count=9, place="金鼎建材有限公司", area="yinan", category="labor.wage_arrears", hours=30)
    try:
        kinds = {a.kind for a in early_warning.compute(state, strict, NOW).alerts}
    finally:
        state.close()
    assert "group" not in kinds and "burst" not in kinds


def test_missing_threshold_is_named(catalog):
    policy = WarningPolicy(window_hours=72, baseline_days=28, frequent={"min_count": 8}, new={"min_count": 3},
                           burst={"min_count": 5}, group_complaint={"min_count": 5, "window_hours": 48})
    with pytest.raises(early_warning.PolicyError, match=r"warnings\.yaml: field 'burst\.p_value'"):
        early_warning.Thresholds.from_policy(policy)


def test_poisson_tail():
    from generator.analytics import poisson_sf

    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(5, 5.0) == pytest.approx(0.5595067149, rel=1e-9)
    assert poisson_sf(12, 2.0) == pytest.approx(1.36461516e-06, rel=1e-6)  # sum of the pmf from 12 on
    assert poisson_sf(100, 60.0) == pytest.approx(1.4815e-06, rel=1e-3)


# -- the demo: found in the first build, kept off the public site ---------------------------------


def _public_ids_naming(demo: DemoSite, words: str, since: datetime) -> set[str]:
    state = demo.state()
    try:
        rows = state.query("SELECT r.id, r.received_at FROM rows r JOIN texts t USING(id) WHERE t.content LIKE ?", (f"%{words}%",))
    finally:
        state.close()
    return {r[0] for r in rows if datetime.fromisoformat(r[1]) > since}


def test_demo_burst_found_in_the_first_build(demo):
    staff = early_warning.staff_warnings(demo.config)
    groups = [w for w in staff["warnings"] if w["kind"] == "group"]
    assert [g["place"] for g in groups] == [BURST_EMPLOYER]
    g = groups[0]
    assert g["area"] == "junan" and g["matter"] == "labor.wage_arrears"
    assert set(g["ticket_ids"]) == _public_ids_naming(demo, "鸿泰", END - timedelta(hours=48))
    assert any(w["kind"] == "burst" and w["area"] == "junan" and w["matter"] == "labor.wage_arrears" for w in staff["warnings"])


def test_internal_list_never_reaches_the_site(demo, tmp_path):
    out = early_warning.write_internal(demo.config, tmp_path / "internal")
    payload = json.loads(out.read_text())
    assert payload["warnings"] and out.parent == tmp_path / "internal"
    files = text_files(demo.site)
    assert not any(p.endswith(("warnings.json", "warnings.html")) for p in files)
    alert_ids = {w["id"] for w in payload["warnings"]}
    for path, text in files.items():
        for wid in alert_ids:
            assert wid not in text, (path, wid)
    hot = {p: t for p, t in files.items() if p.startswith("reports/hotspots/")}
    assert set(hot) == {"reports/hotspots/index.html", "reports/hotspots/hotspots.json"}
    for text in hot.values():
        assert not ID.search(text) and "鸿泰" not in text and "ticket_ids" not in text
    assert "群体性投诉" in hot["reports/hotspots/index.html"] and "莒南县" in hot["reports/hotspots/index.html"]


def test_internal_output_refuses_the_site(demo):
    with pytest.raises(ValueError, match="must not be written inside the public site"):
        early_warning.write_internal(demo.config, demo.config.site_dir / "internal")
    with pytest.raises(ValueError, match="must not be written inside the public site"):
        early_warning.write_internal(demo.config, demo.site / "x")


def test_new_burst_found_by_the_slow_lane_after_an_incremental_build(tmp_path, monkeypatch):
    demo = make_demo(tmp_path, tickets=200, days=35, burst=False)
    assert not [w for w in early_warning.staff_warnings(demo.config)["warnings"] if w["kind"] == "group"]
    # The burst starts after the full build: seven workers of one employer within three hours.
    op = Actor(role=Role.OPERATOR)
    for i in range(7):
        svc = Service(data_dir=demo.config.data_dir, catalog=demo.catalog, clock=FixedClock(END + timedelta(hours=1 + i * 0.5)))
        svc.create(TicketCreate(channel="app", area="沂南县", content=f"沂南县宏运食品有限公司拖欠我们{i + 3}个月工资，几十个工友都没拿到钱。"), actor=op)
    config = dataclasses.replace(demo.config, now=END + timedelta(hours=5))
    build(config)  # incremental
    monkeypatch.setattr(reports, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(early_warning, "REFRESH_SECONDS", 0.0)
    refresh_periodic(config)  # the slow lane that follows every build in the watcher
    groups = [w for w in early_warning.staff_warnings(config)["warnings"] if w["kind"] == "group"]
    assert [g["place"] for g in groups] == ["宏运食品有限公司"] and groups[0]["count"] == 7
    assert "宏运" not in (demo.site / "reports/hotspots/index.html").read_text()


def test_staff_endpoint_serves_the_warnings_and_refuses_departments(tmp_path):
    """GET /api/v1/warnings: the internal list for staff tokens, 403 for a department, 401 without."""
    import shutil

    from fastapi.testclient import TestClient

    from generator.build import build
    from generator.config import BuildConfig
    from intake_api.app import create_app
    from intake_api.auth import TokenStore
    from intake_api.server import ApiSettings

    from .site_fixtures import make_site

    b = make_site(tmp_path / "s", tickets=80, days=3, search=False)
    settings = ApiSettings(data_dir=b.data, site_dir=b.config.site_dir, content_dir=b.config.content_dir,
                           secrets_dir=tmp_path / "secrets", tick_seconds=0)
    # The API's view of the build state is the one next to its site folder.
    cfg = BuildConfig.from_settings(settings)
    if cfg.state_dir != b.config.state_dir:
        shutil.copytree(b.config.state_dir, cfg.state_dir, dirs_exist_ok=True)
    build(b.config)
    store = TokenStore(tmp_path / "secrets")
    _, sup = store.create(name="督办", role="supervisor", department=None)
    _, dept = store.create(name="城管", role="department", department="urban")
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/warnings").status_code == 401
        assert client.get("/api/v1/warnings", headers={"Authorization": f"Bearer {dept}"}).status_code == 403
        r = client.get("/api/v1/warnings", headers={"Authorization": f"Bearer {sup}"})
        assert r.status_code == 200
        found = r.json()["warnings"]
        # The demo's planted group complaint in 莒南县 is there, with the tickets that raised it.
        junan = [w for w in found if w["area"] == "junan" and w["kind"] in ("group", "burst")]
        assert junan and all(w["ticket_ids"] for w in junan)

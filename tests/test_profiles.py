"""首发画像 on the department pages, and the city's recurring places (/reports/recurring/)."""

from __future__ import annotations

import json
import re

import pytest

from generator import analytics, profiles
from generator.pages.context import Site

from .analytics_fixtures import RECURRING_ESTATE, DemoSite, make_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoSite:
    return make_demo(tmp_path_factory.mktemp("profiles"))


def _power_department(demo: DemoSite) -> str:
    """The department that handles the planted 凤凰水城 temporary-power tickets."""
    state = demo.state()
    try:
        r = state.query(
            "SELECT department, count(*) AS n FROM rows JOIN texts USING(id) WHERE content LIKE ? AND category='utilities.temp_power' "
            "GROUP BY department ORDER BY n DESC LIMIT 1", (f"%{RECURRING_ESTATE}%",))
    finally:
        state.close()
    return r[0]["department"]


def test_department_page_shows_the_profile(demo):
    code = _power_department(demo)
    html = (demo.site / f"departments/{code}/index.html").read_text()
    assert "首发画像" in html
    for label in ("群众反映最多的事项", "反复出现的问题", "平均办理时长", "办结时限", "退单工单占比", "按时办结率"):
        assert label in html, label
    assert 'class="shoufa-chart shoufa-chart--spark"' in html
    # What keeps coming back: the estate on temporary power, with links to its tickets.
    recurring = html.split("反复出现的问题", 1)[1]
    assert RECURRING_ESTATE in recurring and "临时" in recurring
    assert re.search(r'href="/tickets/LY\d{14}/"', recurring)


def test_profile_numbers(demo):
    code = _power_department(demo)
    state = demo.state()
    try:
        n, returned, reopened = state.query(
            "SELECT count(*), sum(returns > 0), sum(reopens > 0) FROM rows WHERE department=?", (code,))[0]
        p = profiles.compute(demo.site_for(state), analytics.data_for(state, demo.catalog))[code]
    finally:
        state.close()
    assert p["n"] == n
    assert p["returned"] == returned and p["returned_share"] == pytest.approx(returned / n, abs=1e-4)
    assert p["reopened"] == reopened
    assert sum(m["n"] for m in p["matters"]) <= n
    assert p["matters"][0]["n"] == max(m["n"] for m in p["matters"])
    assert all(m["deadline_days"] in (1.0, 3.0, 15.0) for m in p["matters"])  # 24 h, 72 h, 360 h
    assert len(p["trend"]) == profiles.TREND_WEEKS and sum(p["trend"]) <= n
    top = p["recurring"][0]
    assert top["place"] == RECURRING_ESTATE and top["n"] >= 3 and len(top["ids"]) <= 5


def test_incremental_builds_read_the_kept_profiles(demo, monkeypatch):
    """A department page re-rendered by an incremental build does not aggregate again."""
    monkeypatch.setattr(profiles, "compute", lambda *a, **k: pytest.fail("profiles recomputed"))
    state = demo.state()
    try:
        site: Site = demo.site_for(state)
        html = profiles.department_profile(site, _power_department(demo))
        assert profiles.department_profile(site, "no-such-department") == ""
    finally:
        state.close()
    assert "首发画像" in html and RECURRING_ESTATE in html


def test_recurring_places_page(demo):
    page = demo.site / "reports/recurring"
    html = (page / "index.html").read_text()
    assert "反复诉求" in html and "小区" in html
    data = json.loads((page / "places.json").read_text())
    estates = data["estate"]
    assert estates[0]["place"] == RECURRING_ESTATE
    assert all(e["days"] >= profiles.MIN_DAYS for k in data for e in data[k])
    assert [e["n"] for e in estates] == sorted((e["n"] for e in estates), reverse=True)
    # Links go to public ticket pages that exist.
    ids = re.findall(r'href="/tickets/(LY\d{14})/"', html)
    assert ids and all((demo.site / f"tickets/{i}/index.html").exists() for i in ids)


def test_places_in_text():
    from intake_api.catalog import load_catalog

    from .conftest import CATALOG_DIR

    cat = load_catalog(CATALOG_DIR)
    find = analytics.PlaceFinder(cat)
    cases = {
        "兰山区柳青街道凤凰水城小区入住已经十年了，到现在还是临时电": [("estate", "凤凰水城")],
        "我们在莒南县鸿泰建筑工程有限公司工地干了半年": [("employer", "鸿泰建筑工程有限公司")],
        "沂龙湾清园的物业公司不管事": [("estate", "沂龙湾清园")],
        "和平小区的路灯坏了": [("estate", "和平小区")],
        "开发商和供电公司互相推，希望政府帮忙": [],
        "我叫［姓名已隐去］，住在温凉河苑，去年申请了供暖报停": [("estate", "温凉河苑")],
        "放学时府左路学校门口很堵": [("place", "府左路")],
    }
    for text, want in cases.items():
        assert find(text) == want, text

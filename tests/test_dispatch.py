"""Smart dispatch: duty list, area overrides, nearest responsibility, precedent."""

from __future__ import annotations

import pytest

from intake_api.dispatch import Dispatcher

CASES = [
    ("沂河大桥上天天有人钓鱼，很危险，在兰山区", "lanshan-gov"),
    ("我们小区入住十年了还是临时电，经常停电", "power"),
    ("在工地干活，老板拖欠工资三个月不给", "hrss"),
    ("兰山区柳青街道有人占道经营卖水果", "lanshan-gov"),
]


@pytest.mark.parametrize(("text", "department"), CASES)
def test_duty_list_decides_and_says_why(catalog, text, department):
    d = Dispatcher(catalog).decide(text)
    assert d.department == department
    assert d.rule["entry"] and d.rule["kind"] in ("duty", "category")
    assert d.rule["entry"] in d.reason
    assert catalog.department_by_code[department].name in d.reason


def test_area_entry_overrides_city_wide_entry(catalog):
    city = Dispatcher(catalog).decide("马路边有人占道经营")
    local = Dispatcher(catalog).decide("马路边有人占道经营", area="兰山区")
    assert city.department != local.department == "lanshan-gov"
    assert local.area == "lanshan"


def test_uncovered_matter_goes_to_the_area_government(catalog):
    d = Dispatcher(catalog).decide("莒南县某村的事情一直没人管，希望有人来看看")
    assert d.department == "junan-gov"
    assert d.rule["kind"] == "nearest" and "就近定责" in d.reason


def test_matter_and_place_unknown_goes_to_the_hotline_never_to_nobody(catalog):
    d = Dispatcher(catalog).decide("这个事情不知道该找谁，麻烦帮忙问问")
    assert d.department == catalog.city.hotline_department
    assert d.rule["kind"] == "hotline"


def test_street_names_locate_the_area(catalog):
    street = catalog.area_by_code["luozhuang"].streets[0]
    d = Dispatcher(catalog).decide(f"{street}有个地方一直漏水没人修")
    assert d.area == "luozhuang" and d.street == street


def test_precedent_applies_at_once_in_every_process(catalog, tmp_path):
    a = Dispatcher(catalog, tmp_path / "rulings")
    b = Dispatcher(catalog, tmp_path / "rulings")  # another worker process's view
    text = "小区里的共享单车乱停乱放堵住消防通道"
    before = b.decide(text)
    from datetime import UTC, datetime

    entry = a.add_precedent(
        matter="共享单车乱停放", category=before.category or "urban.street_vending", keywords=["共享单车乱停"],
        department="traffic-police", area=None, ticket_id="LY20261120000001", by="op-wang",
        reason="会商认定由交警支队负责", at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    after = b.decide(text)
    assert after.department == "traffic-police" != before.department
    assert after.rule == {"kind": "precedent", "entry": entry.id, "matter": "共享单车乱停放", "basis": entry.basis}
    assert b.precedents()[0].ruling["by"] == "op-wang"

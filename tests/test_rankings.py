"""红黄榜: Wilson intervals, scores, ties, min_tickets, lists, pages and method."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from generator import rankings
from generator.pages.context import Site
from generator.rows import Row
from generator.state import State
from intake_api.catalog import RankingPolicy

from .media_fixtures import MediaSite
from .media_fixtures import media_site as media_site  # noqa: F401 - the shared fixture

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
POLICY = RankingPolicy(
    list_names={"red": "红榜", "yellow": "黑榜"},
    groups={"city_dept": "市直部门"},
    weights={"response": 0.2, "resolution": 0.3, "satisfaction": 0.3, "on_time": 0.2},
    penalties={"shirking_per_ticket": 2.0, "reopen_per_ticket": 1.0},
    min_tickets=5,
    list_size=2,
    confidence=0.95,
)


def test_wilson_interval_matches_the_formula():
    z = rankings.z_value(0.95)
    assert z == pytest.approx(1.959964, abs=1e-6)
    lo, hi = rankings.wilson(8, 10, z)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)  # textbook values for 8/10
    lo, hi = rankings.wilson(0, 20, z)
    assert lo == 0 and hi == pytest.approx(0.1611, abs=1e-4)
    lo, hi = rankings.wilson(20, 20, z)
    assert hi == 1 and lo == pytest.approx(0.8389, abs=1e-4)
    assert rankings.wilson(0, 0, z) is None
    # Narrower with more tickets, always inside [0, 1] and around p.
    for n in (5, 50, 500):
        lo, hi = rankings.wilson(int(n * 0.9), n, z)
        assert 0 <= lo < 0.9 < hi <= 1
    assert rankings.z_value(0.99) == pytest.approx(2.5758, abs=1e-4)


def test_ties_share_a_rank():
    assert rankings.competition_ranks([90.0, 80.0, 80.0, 70.0]) == [1, 2, 2, 4]
    assert rankings.competition_ranks([5.0, 5.0, 5.0]) == [1, 1, 1]
    assert rankings.competition_ranks([]) == []


def _standing(code: str, n: int, ok: float, *, shirking: int = 0, reopens: int = 0) -> rankings.Standing:
    rates = {k: rankings.Rate(k, round(n * ok), n, None, None) for k in rankings.INDICATORS}
    s = rankings.Standing(code, code, "city_dept", n, rates, shirking, reopens)
    rankings.score(s, POLICY)
    return s


def test_score_is_the_weighted_rates_minus_penalties_per_100():
    s = _standing("a", 50, 0.9, shirking=2, reopens=5)
    assert s.base == pytest.approx(90.0)
    assert s.shirking_penalty == pytest.approx(2.0 * 2 * 100 / 50)  # 8 points
    assert s.reopen_penalty == pytest.approx(1.0 * 5 * 100 / 50)  # 10 points
    assert s.score == pytest.approx(72.0)


def test_a_rate_without_denominator_is_left_out_and_weights_renormalised():
    s = _standing("a", 10, 1.0)
    s.rates["satisfaction"] = rankings.Rate("satisfaction", 0, 0, None, None)
    s.rates["resolution"] = rankings.Rate("resolution", 0, 0, None, None)
    s.rates["on_time"] = rankings.Rate("on_time", 5, 10, None, None)
    rankings.score(s, POLICY)
    assert s.base == pytest.approx(100 * (0.2 * 1.0 + 0.2 * 0.5) / 0.4)


def test_min_tickets_ties_and_lists():
    group = [
        _standing("a", 40, 0.99),
        _standing("b", 40, 0.95),
        _standing("c", 40, 0.95),  # tied with b
        _standing("d", 40, 0.90),
        _standing("e", 40, 0.80),
        _standing("f", 40, 0.70),
        _standing("small", 4, 1.0),  # perfect but too few tickets
        _standing("none", 0, 0.0),
    ]
    ranked, unranked = rankings.rank_group(group, POLICY)
    assert [s.department for s in unranked] == ["small", "none"]
    assert all(s.rank is None and s.on_list is None for s in unranked)
    assert [(s.department, s.rank) for s in ranked] == [("a", 1), ("b", 2), ("c", 2), ("d", 4), ("e", 5), ("f", 6)]
    # Red: ranks 1..2, the tie joins; yellow: the bottom two of the rest.
    assert [s.department for s in ranked if s.on_list == "red"] == ["a", "b", "c"]
    assert [s.department for s in ranked if s.on_list == "yellow"] == ["e", "f"]
    assert all(s.reasons for s in ranked if s.on_list)
    assert any("低于组内中位数" in r for r in ranked[-1].reasons)


def test_small_groups_never_list_a_department_twice():
    ranked, _ = rankings.rank_group([_standing("a", 10, 0.9), _standing("b", 10, 0.8), _standing("c", 10, 0.7)], POLICY)
    assert [s.on_list for s in ranked] == ["red", None, "yellow"]
    ranked, _ = rankings.rank_group([_standing("a", 10, 0.9)], POLICY)
    assert ranked[0].on_list is None
    ranked, _ = rankings.rank_group([_standing("a", 10, 0.9), _standing("b", 10, 0.9)], POLICY)
    assert [s.on_list for s in ranked] == ["red", "red"]  # tied: both top, nobody is bottom


def _row(i: int, dept: str, closed: datetime, *, ok: bool = True, **kw) -> Row:
    base = {c: None for c in Row.columns()}
    base.update(
        id=f"LY20261101{i:06d}", day="2026-11-01", month="2026-11", chunk=1, received_at=(closed - timedelta(days=2)).isoformat(),
        updated_at=closed.isoformat(), closed_at=closed.isoformat(), channel="hotline", department=dept, status="closed",
        workflow_status="closed", title="t", snippet="s", accepted_in_time=int(ok), on_time=int(ok),
        satisfaction="satisfied" if ok else "unsatisfied", solved=int(ok), first_time=int(ok), handling_days=1.0,
        returns=0, shirking=0, reopens=0, supervision=0, events=5, last_hash="0" * 64,
    )
    base.update(kw)
    return Row(**base)


def test_compute_counts_tickets_closed_in_the_month_in_shanghai_time(tmp_path, catalog):
    state = State(tmp_path / "s.sqlite")
    nov = datetime(2026, 11, 10, 4, tzinfo=UTC)
    rows = [_row(i, "hrss", nov) for i in range(30)]
    rows += [_row(100 + i, "hrss", nov, ok=i % 2 == 0) for i in range(10)]
    rows.append(_row(200, "hrss", datetime(2026, 10, 31, 16, 30, tzinfo=UTC)))  # 00:30 on 1 November in Linyi
    rows.append(_row(201, "hrss", datetime(2026, 10, 31, 15, 30, tzinfo=UTC)))  # 23:30 on 31 October in Linyi
    rows += [_row(300 + i, "education", nov, ok=i % 4 != 0, shirking=1 if i == 0 else 0) for i in range(40)]
    state.put_rows(rows)
    site = Site(layout=None, catalog=catalog, state=state, now=NOW)
    r = rankings.compute(site, "2026-11")
    assert not r.final and r.as_of == NOW.isoformat()
    hrss = r.standing("hrss")
    assert hrss.n == 41
    sat = hrss.rates["satisfaction"]
    assert (sat.num, sat.den) == (36, 41)
    lo, hi = rankings.wilson(36, 41, rankings.z_value(catalog.ranking.confidence))
    assert (sat.low, sat.high) == (lo, hi)
    assert hrss.rank is not None and r.standing("education").shirking == 1
    assert r.standing("tax").n == 0 and r.standing("tax").rank is None  # listed, not ranked
    assert r.standing("hotline") is None  # the hotline centre is not ranked
    october = rankings.compute(site, "2026-10")
    assert october.final and october.standing("hrss").n == 1
    state.close()


def test_closed_months_are_kept_once_computed(tmp_path, catalog):
    state = State(tmp_path / "s.sqlite")
    state.put_rows([_row(i, "hrss", datetime(2026, 10, 10, tzinfo=UTC)) for i in range(40)])
    site = Site(layout=None, catalog=catalog, state=state, now=NOW)
    first = rankings.month_ranking(site, "2026-10")
    state.put_rows([_row(100 + i, "hrss", datetime(2026, 10, 11, tzinfo=UTC)) for i in range(5)])
    assert rankings.month_ranking(site, "2026-10").standing("hrss").n == first.standing("hrss").n == 40
    assert rankings.month_ranking(site, "2026-10", refresh=True).standing("hrss").n == 45
    assert rankings.MonthRanking.from_json(first.to_json()) == first
    state.close()


# -- on the built site -----------------------------------------------------------------------


def test_rankings_pages_are_built(media_site: MediaSite):
    index = media_site.read("rankings/index.html")
    assert "2026年11月红榜黄榜" in index and "本月实时" in index
    assert 'class="shoufa-ranking__row--red"' in index and 'class="shoufa-ranking__row--yellow"' in index
    assert "未参与排名" in index and "95%" in index
    assert 'type="application/atom+xml"' in index and "feeds/rankings.atom.xml" in index
    october = media_site.read("rankings/2026-10/index.html")
    assert "月度定榜" in october
    history = media_site.read("rankings/history/index.html")
    assert "2026年10月" in history and "2026年11月" in history


def test_method_page_renders_the_catalog_values(media_site: MediaSite):
    page = media_site.read("rankings/method/index.html")
    policy = media_site.catalog.ranking
    for key, (label, definition, *_sql) in rankings.INDICATORS.items():
        assert label in page and definition in page
        assert f"<td>{policy.weights[key]}</td>" in page
    assert f"<strong>{policy.min_tickets}</strong>" in page and f"<strong>{policy.list_size}</strong>" in page
    assert f"{policy.penalties['shirking_per_ticket']} × 每百件工单" in page
    assert f"z = {rankings.z_value(policy.confidence):.3f}" in page
    assert "办结" in page and policy.list_names["red"] in page and policy.list_names["yellow"] in page


def test_listed_departments_show_why(media_site: MediaSite):
    site = media_site.site_object()
    try:
        r = rankings.compute(site, "2026-11")
    finally:
        site.state.close()
    page = media_site.read("rankings/2026-11/index.html")
    listed = [s for g in r.groups for s in g.red + g.yellow]
    assert listed
    for s in listed:
        assert s.reasons and all(reason in page for reason in s.reasons)
        assert f"{s.score:.2f}" in page
    for g in r.groups:
        scores = [s.score for s in g.ranked]
        assert scores == sorted(scores, reverse=True)
        assert all(s.n >= media_site.catalog.ranking.min_tickets for s in g.ranked)
        assert all(s.n < media_site.catalog.ranking.min_tickets for s in g.unranked)

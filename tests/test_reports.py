"""Reports (日汇总、周统计、月分析、专报): periods, figures, pages, JSON, feed, slow lane."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from generator import analytics, charts, profiles, reports, specials
from generator import warnings as early_warning
from generator.analytics import Period
from generator.build import build
from generator.content import ContentError
from generator.figures import closed_figures, figures
from generator.sections import refresh_periodic
from intake_api.clock import FixedClock
from intake_api.model import Actor, Role, TicketCreate
from intake_api.service import Service

from .analytics_fixtures import END, DemoSite, make_demo, text_files

TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoSite:
    return make_demo(tmp_path_factory.mktemp("reports"))


# -- periods ---------------------------------------------------------------------------


def test_periods_of_a_day():
    d = date(2026, 11, 28)
    assert Period.of("daily", d).key == "2026-11-28"
    week = Period.of("weekly", d)
    assert (week.key, week.start, week.end) == ("2026-W48", date(2026, 11, 23), date(2026, 11, 30))
    month = Period.of("monthly", d)
    assert (month.key, month.start, month.end) == ("2026-11", date(2026, 11, 1), date(2026, 12, 1))
    assert Period.parse("weekly", "2026-W48") == week
    assert month.previous().key == "2026-10" and month.following().key == "2026-12"
    assert Period.of("monthly", date(2027, 1, 5)).previous().key == "2026-12"


def test_same_period_last_year():
    assert Period.parse("daily", "2028-02-29").last_year().key == "2027-02-28"
    assert Period.parse("weekly", "2026-W53").last_year().key == "2025-W52"  # 2025 has 52 ISO weeks
    assert Period.parse("weekly", "2026-W01").last_year().key == "2025-W01"
    assert Period.parse("monthly", "2026-11").last_year().key == "2025-11"


def test_period_labels_are_chinese():
    assert Period.parse("daily", "2026-11-27").label == "2026年11月27日（周五）"
    assert Period.parse("weekly", "2026-W48").label == "2026年第48周（11月23日—11月29日）"
    assert Period.parse("monthly", "2026-11").label == "2026年11月"


def test_deltas():
    assert reports.delta(110, 100, "count") == "+10.0%"
    assert reports.delta(0.93, 0.9, "rate") == "+3.0个百分点"
    assert reports.delta(4.1, 6.3, "days") == "-2.2天"
    assert reports.delta(5, None, "count") == "—"
    assert reports.delta(5, 0, "count") == "—"


# -- the frame ---------------------------------------------------------------------------------


def test_the_frame_is_the_same_read_in_chunks_of_any_size(demo, monkeypatch):
    """Rows are read a chunk at a time; a chunk may hold only open tickets (no closing
    day: the newest ones) or only tickets without an area, and the frame is the same."""
    from zoneinfo import ZoneInfo

    state = demo.state()
    try:
        tz = ZoneInfo(demo.catalog.city.timezone)
        whole = analytics.load_frame(state, tz)
        assert whole["closed_day"].isna().any() and whole["closed_day"].notna().any()
        monkeypatch.setattr(analytics, "CHUNK_ROWS", 1)  # many chunks of nothing but missing values
        pd.testing.assert_frame_equal(analytics.load_frame(state, tz), whole)
        monkeypatch.setattr(analytics, "CHUNK_ROWS", 7)
        pd.testing.assert_frame_equal(analytics.load_frame(state, tz), whole)
        # The newest rows all open: their chunk has no closing day at all (rolled back: the
        # demo is shared by this module's tests).
        state.db.execute("BEGIN")
        state.db.execute("UPDATE rows SET closed_at = NULL WHERE rowid > (SELECT max(rowid) - 20 FROM rows)")
        monkeypatch.setattr(analytics, "CHUNK_ROWS", 20)
        tail = analytics.load_frame(state, tz)
        assert tail["closed_day"].iloc[-20:].isna().all()
        assert list(tail["closed_day"].cat.categories) == sorted(tail["closed_day"].dropna().unique())
    finally:
        if state.db.in_transaction:
            state.db.rollback()
        state.close()


# -- one definition of the rates ---------------------------------------------------------------


def test_figures_match_generator_figures(demo):
    """The pandas aggregation gives exactly what generator.figures gives, per day."""
    state = demo.state()
    try:
        data = analytics.data_for(state, demo.catalog)
        intake = analytics.figures_by(data.tickets, "day")
        closed = analytics.figures_by(data.tickets, "closed_day")
        tz = data.tz
        days = sorted(set(map(str, intake)) | set(map(str, closed)))
        assert len(days) >= 30
        for day in days:
            want = figures(state, "day=?", (day,))
            if want.n:
                _same(intake[day], want)
            d = date.fromisoformat(day)
            start = datetime.combine(d, datetime.min.time(), tz).astimezone(UTC).isoformat()
            end = datetime.combine(d + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC).isoformat()
            want = closed_figures(state, start, end)
            if want.n:
                _same(closed[day], want)
    finally:
        state.close()


def _same(got, want) -> None:
    for k, v in want.__dict__.items():
        assert getattr(got, k) == (pytest.approx(v) if isinstance(v, float) else v), k


# -- the pages ------------------------------------------------------------------------------


def test_report_pages_exist_for_each_kind(demo):
    site = demo.site
    assert (site / "reports/index.html").exists()
    for path in ("reports/daily/2026-11-27/", "reports/daily/2026-11-28/", "reports/weekly/2026-W48/",
                 "reports/weekly/2026-W47/", "reports/monthly/2026-11/", "reports/monthly/2026-10/"):
        assert (site / path / "index.html").exists(), path
        assert (site / path / "figures.json").exists(), path
    for kind in ("daily", "weekly", "monthly"):
        assert (site / f"reports/{kind}/index.html").exists()


def test_daily_report_counts_match_the_rows(demo):
    state = demo.state()
    try:
        n = state.query("SELECT count(*) FROM rows WHERE day='2026-11-27'")[0][0]
        by_area = {r[0]: r[1] for r in state.query("SELECT area, count(*) FROM rows WHERE day='2026-11-27' AND area IS NOT NULL GROUP BY area")}
    finally:
        state.close()
    data = json.loads((demo.site / "reports/daily/2026-11-27/figures.json").read_text())
    assert data["received"]["n"] == n > 0
    assert data["by_area"] == by_area
    assert data["final"] is True
    assert data["comparison"]["previous"]["period"] == "2026-11-26"
    assert data["comparison"]["last_year"]["period"] == "2025-11-27"
    assert set(data["supervision_by_level"]) == {"1", "2", "3", "4", "5"}
    today = json.loads((demo.site / "reports/daily/2026-11-28/figures.json").read_text())
    assert today["final"] is False


def test_report_page_shows_headline_figures_and_charts(demo):
    html = (demo.site / "reports/monthly/2026-11/index.html").read_text()
    for label in ("平均办理时长", "一次办好率", "问题解决率", "群众满意率", "按时办结率", "退单次数", "推诿工单", "督办", "环比", "同比", "热线督办", "纪委督办"):
        assert label in html, label
    svgs = re.findall(r'<svg[^>]*class="shoufa-chart[^"]*"', html)
    assert len(svgs) >= 3  # trend, tiles, department bars
    assert "<text" in html and "兰山区" in html and "莒南县" in html
    # Nothing is loaded from another host.
    assert not re.search(r'(?:src|href)="(?:https?:)?//(?!shoufa\.example\.gov\.cn)', html)


def test_reports_compare_with_periods_the_data_covers(demo):
    w48 = json.loads((demo.site / "reports/weekly/2026-W48/figures.json").read_text())
    w47 = json.loads((demo.site / "reports/weekly/2026-W47/figures.json").read_text())
    assert w48["comparison"]["previous"]["received"] == w47["received"]
    assert w48["comparison"]["last_year"]["received"] is None  # no data a year ago
    # The data starts on 25 October: October is there in part only, so November is not compared with it.
    nov = json.loads((demo.site / "reports/monthly/2026-11/figures.json").read_text())
    oct_ = json.loads((demo.site / "reports/monthly/2026-10/figures.json").read_text())
    assert oct_["received"]["n"] > 0 and nov["comparison"]["previous"]["received"] is None


def test_reports_feed_lists_closed_periods(demo):
    rss = (demo.site / "feeds/reports.rss.xml").read_text()
    atom = (demo.site / "feeds/reports.atom.xml").read_text()
    assert "<rss" in rss and "<feed" in atom
    assert "reports/daily/2026-11-27/" in rss
    assert "reports/daily/2026-11-28/" not in rss  # the current day is not final
    assert "reports/special/2026-11-property-estates/" in rss
    assert "feeds/reports.rss.xml" in (demo.site / "feeds/index.html").read_text()


def test_home_links_reports(demo):
    assert 'href="/reports/"' in (demo.site / "index.html").read_text()


# -- special reports ---------------------------------------------------------------------------


def test_special_report_embeds_figures_by_name(demo):
    page = demo.site / "reports/special/2026-11-property-estates"
    html = (page / "index.html").read_text()
    assert "物业服务诉求集中在哪些小区" in html
    assert html.count('class="shoufa-embed"') == 5
    assert "SHOUFAEMBED" not in html and "{{" not in html
    data = json.loads((page / "figures.json").read_text())
    estates = data["figures"]["property_complaints_by_estate#2"]["data"]
    assert estates["total"] > 0 and estates["estates"]
    assert all(e["tickets"] > 0 for e in estates["estates"])


def _write(tmp_path: Path, text: str, name: str = "bad-one.md") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_special_report_errors_name_file_and_field(tmp_path):
    p = _write(tmp_path, "---\ntitle: 测试\ndate: 下周一\n---\n正文\n")
    with pytest.raises(ContentError, match=r"bad-one\.md.*field 'date'"):
        specials.load_file(p)
    p = _write(tmp_path, "---\ntitle: 测试\ndate: 2026-13-01\n---\n正文\n")
    with pytest.raises(ContentError, match=r"bad-one\.md: .*month must be in 1\.\.12"):
        specials.load_file(p)
    p = _write(tmp_path, "---\ntitle: 测试\ndate: 2026-11-01\ncolour: red\n---\n正文\n")
    with pytest.raises(ContentError, match=r"bad-one\.md.*field 'colour'"):
        specials.load_file(p)


def test_special_report_unknown_figure_names_line(tmp_path):
    p = _write(tmp_path, "---\ntitle: 测试\ndate: 2026-11-01\n---\n第一段\n\n{{ figure: no_such_chart }}\n")
    with pytest.raises(ContentError, match=r"bad-one\.md: body line 3: unknown figure 'no_such_chart'"):
        specials.load_file(p)
    p = _write(tmp_path, "---\ntitle: 测试\ndate: 2026-11-01\n---\n{{ figure: category_trend colour=red }}\n")
    with pytest.raises(ContentError, match="has no parameter 'colour'"):
        specials.load_file(p)
    p = _write(tmp_path, "---\ntitle: 测试\ndate: 2026-11-01\n---\n正文里 {{ figure: category_trend }} 不在单独一行\n")
    with pytest.raises(ContentError, match="line 5: not an embed line"):
        specials.load_file(p)


# -- charts -----------------------------------------------------------------------------------


def test_charts_write_chinese_as_text():
    svg = charts.bar_chart([("市住建局", 12), ("<script>", 3)], title="承办单位")
    assert "<text" in svg and "市住建局" in svg and "<script>" not in svg and "&lt;script&gt;" in svg
    line = charts.line_chart(["11-01", "11-02"], [charts.Series("受理", [3, None])], title="趋势")
    assert "受理" in line and 'role="img"' in line
    assert charts.nice_ticks(87) == [0, 20, 40, 60, 80, 100]


def test_tile_grid_places_every_area_once(demo):
    tiles = [charts.Tile(a.code, a.name, 1, a.centroid.lat, a.centroid.lon) for a in demo.catalog.areas]
    pos = charts.grid_positions(tiles, 6, 6)
    assert len(pos) == len(tiles) == len(set(pos.values()))
    # North stays north: 沂水县 above 郯城县.
    assert pos["yishui"][1] < pos["tancheng"][1]


# -- the slow lane ---------------------------------------------------------------------------


def test_periodic_refreshes_current_periods_only(tmp_path, monkeypatch):
    demo = make_demo(tmp_path, tickets=120, days=10, burst=False)
    site = demo.site
    closed_page = site / "reports/daily/2026-11-26/index.html"
    before_closed = closed_page.read_bytes()
    before_today = json.loads((site / "reports/daily/2026-11-28/figures.json").read_text())["received"]["n"]
    svc = Service(data_dir=demo.config.data_dir, catalog=demo.catalog, clock=FixedClock(END - timedelta(minutes=20)))
    svc.create(TicketCreate(channel="web", area="兰山区", content="书圣花园小区门口路灯坏了一个月了，晚上很黑，请尽快修理。"),
               actor=Actor(role=Role.OPERATOR))
    build(demo.config)
    today_json = site / "reports/daily/2026-11-28/figures.json"
    # Throttled: a refresh right after the full build leaves the reports as they were.
    refresh_periodic(demo.config)
    assert json.loads(today_json.read_text())["received"]["n"] == before_today
    monkeypatch.setattr(reports, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(early_warning, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(profiles, "REFRESH_SECONDS", 0.0)  # the hourly part too
    assert refresh_periodic(demo.config) > 0
    state = demo.state()
    try:
        dept = state.query("SELECT department FROM rows WHERE snippet LIKE '书圣花园小区门口路灯%'")[0][0]
    finally:
        state.close()
    assert "首发画像" in (site / f"departments/{dept}/index.html").read_text()
    after_today = json.loads((site / "reports/daily/2026-11-28/figures.json").read_text())["received"]["n"]
    assert after_today == before_today + 1
    assert closed_page.read_bytes() == before_closed  # closed periods are kept as built


def test_no_private_or_internal_data_in_reports(demo):
    files = text_files(demo.site)
    report_files = {k: v for k, v in files.items() if k.startswith("reports/")}
    assert report_files
    for path, text in report_files.items():
        if path.startswith(("reports/recurring/", "reports/special/")):
            continue  # these link public tickets on purpose
        assert not re.search(r"LY\d{14}", text), path

"""十佳 / 十差: the published score, its explanation, periods, editors' pins and exclusions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from generator import content, top
from generator.pages.context import Site
from generator.rows import Row
from generator.state import State

from .media_fixtures import MediaSite
from .media_fixtures import media_site as media_site  # noqa: F401 - the shared fixture

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CLOSED = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # Wednesday of ISO week 47, in Linyi


def _row(i: int, **kw) -> Row:
    base = {c: None for c in Row.columns()}
    base.update(
        id=f"LY20261116{i:06d}", day="2026-11-16", month="2026-11", chunk=1, received_at="2026-11-16T02:00:00+00:00",
        updated_at=CLOSED.isoformat(), closed_at=CLOSED.isoformat(), channel="hotline", category="urban.sanitation",
        department="urban", status="closed", workflow_status="closed", title=f"工单{i}", snippet="s",
        accepted_in_time=1, on_time=1, satisfaction="satisfied", solved=1, first_time=1, handling_days=0.75,
        returns=0, shirking=0, reopens=0, supervision=0, events=6, last_hash="0" * 64,
    )
    base.update(kw)
    return Row(**base)


@pytest.fixture
def site(tmp_path, catalog):
    state = State(tmp_path / "s.sqlite")
    rows = [_row(i, handling_days=0.5 + i / 10) for i in range(1, 25)]
    rows.append(_row(90, accepted_in_time=0, on_time=0, satisfaction="unsatisfied", solved=0, first_time=0,
                     handling_days=9.0, returns=2, shirking=1, reopens=1, supervision=3))
    rows.append(_row(91, satisfaction=None, solved=None, first_time=None))  # closed without a rating
    rows.append(_row(92, closed_at=None, status="open"))  # not closed: never listed
    rows.append(_row(93, closed_at=datetime(2026, 11, 1, 15, 0, tzinfo=UTC).isoformat()))  # 23:00 on 1 Nov in Linyi
    state.put_rows(rows)
    yield Site(layout=None, catalog=catalog, state=state, now=NOW)
    state.close()


def test_score_parts_sum_to_the_score_and_say_why(site, catalog):
    period = top.week_period(CLOSED.date())
    assert period.key == "2026-W47"
    result = top.compute(site, period, top.Decisions())
    assert result.closed == 26 and not result.final
    best = result.best.entries[0]
    # Signed and closed in time, 0.6 days against the 72-hour limit, first time, satisfied, solved.
    assert best.row.id == "LY20261116000001"
    parts = {label: (pts, why) for label, pts, why in best.parts}
    assert parts["签收"] == (10, "按时签收") and parts["办结"] == (10, "按时办结")
    assert parts["用时"][0] == pytest.approx(round(10 * (1 - 0.6 * 24 / 72), 1))
    assert "时限3.0天" in parts["用时"][1]
    assert parts["一次办好"][0] == 15 and parts["评价"] == (20, "满意") and parts["解决"] == (10, "问题已解决")
    for e in result.best.entries + result.worst.entries:
        assert sum(p for _l, p, _w in e.parts) == pytest.approx(e.score)
    worst = result.worst.entries[0]
    assert worst.row.id == "LY20261116000090"
    parts = {label: (pts, why) for label, pts, why in worst.parts}
    assert parts["签收"][0] == -10 and parts["办结"][0] == -20 and parts["评价"][0] == -20 and parts["解决"][0] == -15
    assert parts["退单"] == (-20, "退单2次，其中推诿1次") and parts["重办"] == (-15, "重办1次")
    assert parts["督办"] == (-24, catalog.supervision_name(3))
    assert worst.score == -124
    ids = [e.row.id for e in result.best.entries + result.worst.entries]
    assert "LY20261116000092" not in ids and len(set(ids)) == len(ids) == 20


def test_lists_are_ordered_and_ties_broken_by_handling_time(site):
    result = top.compute(site, top.week_period(CLOSED.date()), top.Decisions())
    best = [e.score for e in result.best.entries]
    assert best == sorted(best, reverse=True)
    worst = [e.score for e in result.worst.entries]
    assert worst == sorted(worst)
    assert result.worst.entries[1].row.id == "LY20261116000091"  # no rating: no points for it


def test_month_boundaries_are_in_shanghai_time(site):
    assert top.month_period("2026-11").start.isoformat() == "2026-11-01T00:00:00+08:00"
    assert top.compute(site, top.month_period("2026-11"), top.Decisions()).closed == 27  # with 23:00 on 1 November
    october = top.compute(site, top.month_period("2026-10"), top.Decisions())
    assert october.closed == 0 and october.final and not october.best.entries


def test_pins_and_exclusions_with_reasons(site):
    decisions = top.Decisions.model_validate({
        "pins": [{"ticket": "LY20261116000024", "list": "best", "reason": "群众送来锦旗"},
                 {"ticket": "LY20261116000023", "list": "worst", "reason": "编辑部复核认为答复敷衍"}],
        "excludes": [{"ticket": "LY20261116000001", "reason": "正在复核"},
                     {"ticket": "LY20261116000090", "reason": "涉及未成年人"}],
    })
    result = top.compute(site, top.week_period(CLOSED.date()), decisions)
    best = {e.row.id: e for e in result.best.entries}
    worst = {e.row.id: e for e in result.worst.entries}
    assert best["LY20261116000024"].pinned == "群众送来锦旗"
    assert worst["LY20261116000023"].pinned == "编辑部复核认为答复敷衍"
    assert "LY20261116000001" not in best and "LY20261116000090" not in worst
    assert [(r.id, why) for r, why in result.best.left_out] == [("LY20261116000001", "正在复核")]
    assert [(r.id, why) for r, why in result.worst.left_out] == [("LY20261116000090", "涉及未成年人")]
    assert len(best) == len(worst) == 10
    # A pinned or excluded ticket that is not public (no row) is simply absent.
    ghost = top.Decisions.model_validate({"pins": [{"ticket": "LY20261116999999", "list": "best", "reason": "不存在"}]})
    assert "LY20261116999999" not in [e.row.id for e in top.compute(site, top.week_period(CLOSED.date()), ghost).best.entries]


def test_decisions_file_errors_name_file_and_field(tmp_path):
    path = tmp_path / "top.yaml"
    path.write_text("pins:\n  - ticket: LY20261116000001\n    list: best\n", encoding="utf-8")
    with pytest.raises(content.ContentError, match=r"top\.yaml: field 'pins\.0\.reason'"):
        top.load_decisions(tmp_path)
    path.write_text("pins:\n  - ticket: ../x\n    list: top\n    reason: 好\n", encoding="utf-8")
    with pytest.raises(content.ContentError, match=r"field 'pins\.0\.ticket'.*field 'pins\.0\.list'"):
        top.load_decisions(tmp_path)
    path.write_text("excludes:\n  - {ticket: LY20261116000001, reason: 复核中}\npins:\n  - {ticket: LY20261116000001, list: best, reason: 好的}\n", encoding="utf-8")
    with pytest.raises(content.ContentError, match="twice"):
        top.load_decisions(tmp_path)
    path.write_text("pins: !!python/object/apply:os.system [ls]\n", encoding="utf-8")
    with pytest.raises(content.ContentError, match="top.yaml"):
        top.load_decisions(tmp_path)
    assert top.load_decisions(tmp_path / "nowhere") == top.Decisions()


def test_periods_cover_weeks_and_months_up_to_now(site):
    months, weeks = top.periods(site)
    assert [p.key for p in months] == ["2026-11"]
    assert weeks[0].key == "2026-W44" and weeks[-1].key == "2026-W47"
    assert weeks[-1].label == "2026年第47周（11月16日–11月22日）"
    assert all(w.end - w.start == timedelta(days=7) for w in weeks)


# -- on the built site -----------------------------------------------------------------------


def test_top_pages_show_the_reasons(media_site: MediaSite):
    page = media_site.read("top/index.html")
    assert "十佳工单" in page and "十差工单" in page and "为什么" in page
    assert "签收 <strong>+10</strong>" in page and "评价 <strong>-20</strong>" in page
    assert 'type="application/rss+xml"' in page and "feeds/top.rss.xml" in page
    assert media_site.secret_id not in page
    assert (media_site.site / "top/2026-10/index.html").is_file()
    assert (media_site.site / "top/2026-W46/index.html").is_file()


def test_method_page_is_true_to_the_code(media_site: MediaSite):
    page = media_site.read("top/method/index.html")
    for part in top.PARTS:
        assert f"<td>{part.label}</td><td>{part.rule}</td>" in page
    for pr in media_site.catalog.sla.priorities.values():
        assert f"{pr.label} {round(pr.close_hours, 1)} 小时" in page


def test_slow_lane_refreshes_recent_periods_and_all_of_them_after_an_edit(media_site: MediaSite, tmp_path):
    site = media_site.site_object()
    site.content_dir = tmp_path  # the editors' folder of this test (content.content_source reads it first)
    try:
        top.SECTION.periodic(site)  # settle on "no decisions"
        recent = {o.path for o in top.SECTION.periodic(site)}
        assert "top/2026-W47/index.html" in recent and "top/2026-W44/index.html" not in recent
        best = top.compute(site, top.week_period(datetime(2026, 11, 3).date()), top.Decisions()).best.entries
        pinned = best[-1].row.id
        (tmp_path / "top.yaml").write_text(f"pins:\n  - ticket: {pinned}\n    list: worst\n    reason: 编辑部复核后改列十差\n", encoding="utf-8")
        outs = {o.path: o for o in top.SECTION.periodic(site)}
        assert "top/2026-W45/index.html" in outs  # every period once the decisions changed
        assert "编辑部复核后改列十差" in outs["top/2026-W45/index.html"].content
        assert "top/2026-W45/index.html" not in {o.path for o in top.SECTION.periodic(site)}
        (tmp_path / "top.yaml").write_text("pins: [oops\n", encoding="utf-8")
        assert list(top.SECTION.periodic(site)) == []  # a broken file: nothing rewritten, the live pages stay
    finally:
        site.state.close()

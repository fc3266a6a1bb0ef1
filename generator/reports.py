"""Reports: 日汇总、周统计、月分析 per day, ISO week and month, special reports (专报), feed.

Pages:
- /reports/                                  the latest reports, special reports, archives
- /reports/{daily,weekly,monthly}/           archive of each kind
- /reports/daily/<YYYY-MM-DD>/               one report, with figures.json beside it
- /reports/weekly/<YYYY-Www>/, /reports/monthly/<YYYY-MM>/
- /reports/special/<slug>/                   an editor's 专报 (content/reports/*.md)
- /feeds/reports.{rss,atom}.xml              one item per closed period and per 专报

What a report counts: volumes and distributions are the tickets received in the period;
the rates and the average handling time are those of the tickets closed in the period
(as the home page's 办结 figures), with the definitions of `generator.figures`; returns,
推诿, reopens and supervision are counted on the tickets received in the period.

A full build renders every period. Closed periods are then kept; `periodic` (the slow
lane) re-renders only the current day, week and month, and the periods that have just
closed since its last run, at most once per REFRESH_SECONDS. The figures of every
period are kept in the state (meta `reports:summaries`) for comparisons and trends.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from markupsafe import Markup

from . import analytics, charts, specials
from .analytics import KIND_LABELS, KIND_NAMES, KINDS, Data, Period
from .feeds import FeedSpec, Item, render_feed
from .figures import Figures
from .pages.context import Site
from .pages.feeds import FEED_REGISTRY
from .render import Output, fmt_num, fmt_pct
from .rows import Row

log = logging.getLogger(__name__)

REFRESH_SECONDS = 50.0  # periodic work at most this often (the watcher asks every 60 s)
FEED_SLUG = "reports"
DIMS = ("channel", "category_top", "category", "area", "department")
COLUMN = {"daily": "day", "weekly": "week", "monthly": "month"}
TREND = {"daily": 30, "weekly": 12}  # trailing periods on the trend chart (monthly: its days)
TOP_DEPARTMENTS = 15

if not any(slug == FEED_SLUG for _g, slug, _t, _p in FEED_REGISTRY):
    FEED_REGISTRY.append(("数据报告", FEED_SLUG, "日报、周报、月报与专报", "/reports/"))


# -- what a report shows ---------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    label: str
    source: str  # "intake" (received in the period) | "closed" (closed in the period)
    field: str
    kind: str  # count | rate | days


METRICS = (
    Metric("受理量", "intake", "n", "count"),
    Metric("办结量", "closed", "n", "count"),
    Metric("平均办理时长", "closed", "avg_days", "days"),
    Metric("一次办好率", "closed", "first_time", "rate"),
    Metric("问题解决率", "closed", "resolution", "rate"),
    Metric("群众满意率", "closed", "satisfaction", "rate"),
    Metric("按时办结率", "closed", "on_time", "rate"),
    Metric("签收及时率", "closed", "response", "rate"),
    Metric("退单次数", "intake", "returns", "count"),
    Metric("推诿工单", "intake", "shirking", "count"),
    Metric("重办次数", "intake", "reopens", "count"),
    Metric("督办工单", "intake", "supervised", "count"),
)


def metric_value(summary: dict | None, m: Metric) -> float | None:
    if not summary:
        return None
    return (summary.get(m.source) or {}).get(m.field)


def show(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return fmt_pct(value)
    if kind == "days":
        return f"{value:.1f}天"
    return fmt_num(int(value))


def delta(now: float | None, then: float | None, kind: str) -> str:
    """The change from `then` to `now`: % for counts, 百分点 for rates, 天 for days."""
    if now is None or then is None:
        return "—"
    if kind == "rate":
        return f"{_signed((now - then) * 100)}个百分点"
    if kind == "days":
        return f"{_signed(now - then)}天"
    if not then:
        return "—"
    return f"{_signed((now - then) / then * 100)}%"


def _signed(x: float) -> str:
    return f"{round(x, 1) + 0.0:+.1f}"  # + 0.0: no "-0.0"


# -- aggregates ------------------------------------------------------------------------


def _nest(s: pd.Series) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (k1, k2), v in s.items():
        out.setdefault(str(k1), {})[str(k2)] = int(v)
    return out


@dataclass
class KindTables:
    """Every aggregate of one period kind, keyed by period key."""

    intake: dict[str, Figures]
    closed: dict[str, Figures]
    dims: dict[str, dict[str, dict[str, int]]]  # dim -> period -> value -> count
    levels: dict[str, dict[str, int]]  # period -> supervision level -> count
    dept_closed: dict[str, dict[str, Figures]]  # period -> department -> figures

    @classmethod
    def compute(cls, df: pd.DataFrame, kind: str) -> KindTables:
        col = COLUMN[kind]
        ccol = "closed_" + col
        dims = {d: _nest(df.groupby([col, d], observed=True).size()) for d in DIMS}
        sup = df[df["supervision"] > 0]
        levels = _nest(sup.groupby([col, "supervision"], observed=True).size())
        dept_closed: dict[str, dict[str, Figures]] = {}
        for (p, dept), f in analytics.figures_by(df, [ccol, "department"]).items():
            dept_closed.setdefault(str(p), {})[str(dept)] = f
        return cls(
            intake={str(k): f for k, f in analytics.figures_by(df, col).items()},
            closed={str(k): f for k, f in analytics.figures_by(df, ccol).items()},
            dims=dims,
            levels=levels,
            dept_closed=dept_closed,
        )

    def keys(self) -> set[str]:
        return set(self.intake) | set(self.closed)


def summaries_of(tables: dict[str, KindTables]) -> dict[str, Any]:
    """kind -> period -> {"intake": figures, "closed": figures}: what comparisons need.

    Under "since": the first day of the data (set by the caller), so that a period the data
    covers only in part is not compared with.
    """
    out: dict[str, Any] = {}
    for kind, t in tables.items():
        out[kind] = {
            k: {
                "intake": analytics.figures_dict(t.intake[k]) if k in t.intake else None,
                "closed": analytics.figures_dict(t.closed[k]) if k in t.closed else None,
            }
            for k in sorted(t.keys())
        }
    return out


def load_summaries(site: Site) -> dict[str, Any]:
    raw = site.state.get_meta("reports:summaries")
    data = json.loads(raw) if raw else {}
    return {"since": data.get("since"), **{kind: data.get(kind, {}) for kind in KINDS}}


def save_summaries(site: Site, summaries: dict) -> None:
    site.state.set_meta("reports:summaries", json.dumps(summaries, ensure_ascii=False, sort_keys=True, separators=(",", ":")))


# -- one report ------------------------------------------------------------------------


def today(site: Site) -> date:
    return analytics.local_today(site.now, _tz(site))


def _tz(site: Site):
    from zoneinfo import ZoneInfo

    return ZoneInfo(site.catalog.city.timezone)


def _end_utc(site: Site, d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), _tz(site)).astimezone(UTC)


def lede(site: Site, p: Period, s: dict | None, prev: dict | None) -> str:
    """One sentence a newsroom can quote."""
    scope = {"daily": "当日", "weekly": "本周", "monthly": "本月"}[p.kind]
    if not s or not (s.get("intake") or s.get("closed")):
        return f"{p.label}，{site.catalog.city.hotline_name}暂无公开工单。"
    intake = (s.get("intake") or {}).get("n", 0)
    parts = [f"{p.label}，{site.catalog.city.hotline_name}{scope}受理群众诉求{fmt_num(intake)}件"]
    change = delta(intake, (prev or {}).get("intake", {}).get("n") if prev and prev.get("intake") else None, "count")
    if change != "—":
        parts[-1] += f"（环比{change}）"
    closed = s.get("closed") or {}
    if closed.get("n"):
        parts.append(f"办结{fmt_num(closed['n'])}件")
        if closed.get("satisfaction") is not None:
            parts.append(f"群众满意率{fmt_pct(closed['satisfaction'])}")
        if closed.get("first_time") is not None:
            parts.append(f"一次办好率{fmt_pct(closed['first_time'])}")
    return "，".join(parts) + "。"


def compared(summaries: dict, q: Period) -> dict | None:
    """The figures of a period to compare with, if the data covers all of it.

    (A year-ago month of which the data holds two days is not "the same period last year".)
    """
    since = summaries.get("since")
    if since is None or q.start.isoformat() < since:
        return None
    return summaries[q.kind].get(q.key)


def _comparison(summaries: dict, p: Period, *, final: bool) -> list[dict]:
    """Each metric now, in the previous period and a year ago.

    While the period runs, its counts are not compared (half a week against a whole one).
    """
    s = summaries[p.kind].get(p.key)
    prev = compared(summaries, p.previous())
    ly = compared(summaries, p.last_year())
    rows = []
    for m in METRICS:
        now, before, year = metric_value(s, m), metric_value(prev, m), metric_value(ly, m)
        if not final and m.kind == "count":
            before = year = None
        rows.append({
            "label": m.label, "kind": m.kind, "source": m.source,
            "value": now, "previous": before, "last_year": year,
            "show": show(now, m.kind), "show_previous": show(before, m.kind), "show_last_year": show(year, m.kind),
            "vs_previous": delta(now, before, m.kind), "vs_last_year": delta(now, year, m.kind),
        })
    return rows


def _trend(site: Site, summaries: dict, p: Period) -> tuple[list[str], list[analytics.Period], int]:
    """Trailing periods (daily, weekly) or the month's days (monthly), and the highlight."""
    if p.kind == "monthly":
        days = [Period.of("daily", p.start + timedelta(days=i)) for i in range(p.days)]
        return [f"{d.start.day}日" for d in days], days, -1
    n = TREND[p.kind]
    periods = [p]
    for _ in range(n - 1):
        periods.insert(0, periods[0].previous())
    label = (lambda q: q.start.strftime("%m-%d")) if p.kind == "daily" else (lambda q: "第" + q.key.split("-W")[1] + "周")
    return [label(q) for q in periods], periods, len(periods) - 1


def _trend_chart(site: Site, summaries: dict, p: Period) -> tuple[Markup, dict]:
    labels, periods, hl = _trend(site, summaries, p)
    kind = periods[0].kind
    last = today(site)

    since = summaries.get("since")

    def val(q: Period, source: str) -> float | None:
        if q.start > last or since is None or q.end.isoformat() <= since:
            return None  # not yet, or before the data
        s = summaries[kind].get(q.key) or {}
        return float((s.get(source) or {}).get("n", 0))

    received = [val(q, "intake") for q in periods]
    closed = [val(q, "closed") for q in periods]
    title = {"daily": "近30日受理与办结", "weekly": "近12周受理与办结", "monthly": "本月逐日受理与办结"}[p.kind]
    svg = charts.line_chart(labels, [charts.Series("受理", received), charts.Series("办结", closed)], title=title, highlight=hl if hl >= 0 else None)
    return svg, {"labels": [q.key for q in periods], "received": received, "closed": closed}


def _ranked(d: dict[str, int], name) -> list[tuple[str, str, int, float]]:
    total = sum(d.values()) or 1
    return [(k, name(k), v, v / total) for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))]


def period_context(site: Site, tables: KindTables, summaries: dict, p: Period) -> tuple[dict, dict]:
    """(template context, figures.json) of one report."""
    names = site.names
    k = p.key
    dims = {d: tables.dims[d].get(k, {}) for d in DIMS}
    by_area = dims["area"]
    tiles = [
        charts.Tile(a.code, a.name, by_area.get(a.code, 0), a.centroid.lat, a.centroid.lon, site.url(f"tickets/area/{a.code}/"))
        for a in site.catalog.areas
    ]
    depts = _ranked(dims["department"], names.department)
    dept_closed = tables.dept_closed.get(k, {})
    s = summaries[p.kind].get(k)
    prev = compared(summaries, p.previous())
    final = p.is_closed(today(site))
    comparison = _comparison(summaries, p, final=final)
    trend_svg, trend_data = _trend_chart(site, summaries, p)
    levels = tables.levels.get(k, {})
    supervision = [(lv.level, lv.name, levels.get(str(lv.level), 0)) for lv in site.catalog.sla.supervision]
    ctx = dict(
        period=p,
        kind_label=KIND_LABELS[p.kind],
        kind_name=KIND_NAMES[p.kind],
        final=final,
        lede=lede(site, p, s, prev if final else None),
        cards=[(r["label"], r["show"], ("环比 " + r["vs_previous"]) if r["vs_previous"] != "—" else None) for r in comparison],
        comparison=comparison,
        previous_label=p.previous().label,
        last_year_label=p.last_year().label,
        trend=trend_svg,
        tiles=charts.tile_grid(tiles, title=f"各县区受理量（{p.label}）", city=site.catalog.city.name.rstrip("市")),
        areas=_ranked(by_area, names.area),
        dept_bars=charts.bar_chart([(n, v) for _c, n, v, _s in depts[:TOP_DEPARTMENTS]], title=f"受理量前{TOP_DEPARTMENTS}位承办单位"),
        departments=[(c, n, v, sh, dept_closed.get(c)) for c, n, v, sh in depts],
        categories=_ranked(dims["category_top"], names.category),
        subcategories=_ranked(dims["category"], names.category)[:10],
        channels=_ranked(dims["channel"], names.channel),
        supervision=supervision,
        prev_href=site.url(p.previous().path) if p.previous().key in summaries[p.kind] else None,
        next_href=site.url(p.following().path) if p.following().key in summaries[p.kind] and p.following().start <= today(site) else None,
        tickets_href=site.url("tickets/" + p.key.replace("-", "/") + "/") if p.kind == "daily" else None,
        json_href=site.url(p.path + "figures.json"),
        as_of=site.now,
    )
    data = {
        "kind": p.kind,
        "period": k,
        "label": p.label,
        "start": p.start.isoformat(),
        "end": (p.end - timedelta(days=1)).isoformat(),
        "final": final,
        "as_of": site.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "received": (s or {}).get("intake"),
        "closed": (s or {}).get("closed"),
        "comparison": {
            "previous": {"period": p.previous().key, "received": (prev or {}).get("intake"), "closed": (prev or {}).get("closed")},
            "last_year": {"period": p.last_year().key, **_pair(compared(summaries, p.last_year()))},
        },
        "by_channel": dims["channel"],
        "by_category": dims["category_top"],
        "by_subcategory": dims["category"],
        "by_area": by_area,
        "by_department": dims["department"],
        "department_closed": {c: analytics.figures_dict(f) for c, f in sorted(dept_closed.items())},
        "supervision_by_level": {str(lv): n for lv, _name, n in supervision},
        "trend": trend_data,
        "definitions": "received = tickets received in the period; closed = tickets closed in the period (rates, avg_days); see generator/figures.py",
    }
    return ctx, data


def _pair(s: dict | None) -> dict:
    return {"received": (s or {}).get("intake"), "closed": (s or {}).get("closed")}


def render_period(site: Site, tables: KindTables, summaries: dict, p: Period) -> list[Output]:
    ctx, data = period_context(site, tables, summaries, p)
    title = f"{KIND_NAMES[p.kind]} · {p.label}"
    html = site.page(
        "report.html", title=title, active="/reports/", description=ctx["lede"],
        feeds=_feed_links(site), **ctx,
    )
    body = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1)
    return [
        Output(p.path + "index.html", html, key=f"report/{p.kind}/{p.key}"),
        Output(p.path + "figures.json", body + "\n", key=f"report/{p.kind}/{p.key}/json"),
    ]


# -- index, archives, feed -------------------------------------------------------------


def _feed_links(site: Site) -> list[tuple[str, str, str]]:
    return [
        ("数据报告 RSS", site.url(f"feeds/{FEED_SLUG}.rss.xml"), "application/rss+xml"),
        ("数据报告 Atom", site.url(f"feeds/{FEED_SLUG}.atom.xml"), "application/atom+xml"),
    ]


def _card(site: Site, summaries: dict, p: Period, heading: str) -> dict | None:
    s = summaries[p.kind].get(p.key)
    if s is None and not p.start <= today(site) < p.end:
        return None
    intake = (s or {}).get("intake") or {}
    closed = (s or {}).get("closed") or {}
    return {
        "heading": heading, "label": p.label, "href": site.url(p.path), "kind": KIND_NAMES[p.kind],
        "received": fmt_num(intake.get("n", 0)), "closed": fmt_num(closed.get("n", 0)),
        "satisfaction": fmt_pct(closed.get("satisfaction")), "current": not p.is_closed(today(site)),
    }


def render_index(site: Site, summaries: dict, specials_list: list[specials.Special]) -> Output:
    t = today(site)
    cards = []
    for kind, now_label, prev_label in (("daily", "今日（实时）", "昨日日报"), ("weekly", "本周（实时）", "上周周报"), ("monthly", "本月（实时）", "上月月报")):
        cur = Period.of(kind, t)
        for p, heading in ((cur.previous(), prev_label), (cur, now_label)):
            c = _card(site, summaries, p, heading)
            if c:
                cards.append(c)
    archives = [(KIND_NAMES[k], KIND_LABELS[k], site.url(f"reports/{k}/"), len(summaries[k])) for k in KINDS]
    html = site.page(
        "reports_index.html", title="数据报告", active="/reports/",
        description="临沂12345热线日汇总、周统计、月分析和专题报告。", feeds=_feed_links(site),
        cards=cards, archives=archives, specials=[(s.title, site.url(s.path), s.date, s.summary) for s in specials_list],
        hotspots_href=site.url("reports/hotspots/"), recurring_href=site.url("reports/recurring/"),
        feed=(site.url(f"feeds/{FEED_SLUG}.rss.xml"), site.url(f"feeds/{FEED_SLUG}.atom.xml")),
        as_of=site.now,
    )
    return Output("reports/index.html", html, key="reports")


def render_archive(site: Site, summaries: dict, kind: str) -> Output:
    t = today(site)
    entries = []
    for key in sorted(summaries[kind], reverse=True):
        p = Period.parse(kind, key)
        if p.start > t:
            continue
        s = summaries[kind][key]
        entries.append({
            "label": p.label, "href": site.url(p.path), "current": not p.is_closed(t),
            "received": fmt_num(((s or {}).get("intake") or {}).get("n", 0)),
            "closed": fmt_num(((s or {}).get("closed") or {}).get("n", 0)),
            "satisfaction": fmt_pct(((s or {}).get("closed") or {}).get("satisfaction")),
        })
    html = site.page(
        "reports_archive.html", title=f"{KIND_NAMES[kind]}（{KIND_LABELS[kind]}）", active="/reports/",
        heading=f"{KIND_NAMES[kind]}（{KIND_LABELS[kind]}）", entries=entries, feeds=_feed_links(site),
    )
    return Output(f"reports/{kind}/index.html", html, key=f"reports/{kind}")


def render_feed_outputs(site: Site, summaries: dict, specials_list: list[specials.Special]) -> list[Output]:
    """One item per closed period (published when it closes) and per special report."""
    root = site.site_url.rstrip("/") + site.base
    t = today(site)
    items: list[Item] = []
    for kind in KINDS:
        keys = sorted(summaries[kind], reverse=True)
        for key in keys[:60]:
            p = Period.parse(kind, key)
            if not p.is_closed(t):
                continue
            when = _end_utc(site, p.end)
            prev = compared(summaries, p.previous())
            items.append(Item(
                guid=root + p.path, title=f"{site.catalog.city.hotline_name}{KIND_LABELS[kind]} · {p.label}",
                link=root + p.path, published=when, updated=when,
                summary=lede(site, p, summaries[kind][key], prev), categories=(KIND_NAMES[kind],),
            ))
    for s in specials_list:
        when = _end_utc(site, s.date)
        items.append(Item(guid=root + s.path, title=f"专报 · {s.title}", link=root + s.path, published=when, updated=when,
                          summary=s.summary, categories=("专题报告",)))
    spec = FeedSpec(FEED_SLUG, f"{site.catalog.city.hotline_name} 数据报告", "日汇总、周统计、月分析和专题报告", "/reports/")
    return render_feed(spec, items, site_url=site.site_url, base=site.base, fallback_time=site.now)


# -- the section -----------------------------------------------------------------------


class ReportsSection:
    name = "reports"

    def prepare(self, site: Site) -> None:
        """Read the frame and compute the department profiles (before the listings need them)."""
        from . import profiles

        profiles.department_profile(site, "")

    def full(self, site: Site) -> Iterable[Output]:
        from . import profiles

        data = analytics.data_for(site.state, site.catalog)
        t0 = time.perf_counter()
        tables = {kind: KindTables.compute(data.tickets, kind) for kind in KINDS}
        summaries = summaries_of(tables)
        summaries["since"] = str(data.tickets["day"].min()) if len(data.tickets) else None
        outs: list[Output] = []
        t = today(site)
        for kind in KINDS:
            keys = tables[kind].keys() | {Period.of(kind, t).key}
            for key in sorted(keys):
                p = Period.parse(kind, key)
                if p.start <= t:
                    summaries[kind].setdefault(key, {"intake": None, "closed": None})
                    outs += render_period(site, tables[kind], summaries, p)
        specials_list = specials.load_all(site)
        outs += [o for s in specials_list for o in specials.render(site, data, s)]
        outs += self._shared(site, summaries, specials_list)
        outs += profiles.render_recurring(site, data)
        save_summaries(site, summaries)
        site.state.set_meta("reports:current", json.dumps({k: Period.of(k, t).key for k in KINDS}))
        site.state.set_meta("reports:refreshed", repr(time.time()))
        site.state.set_meta("reports:slow_refreshed", repr(time.time()))
        data.timings["reports"] = time.perf_counter() - t0
        log.info("reports: %d files; analytics timings %s", len(outs), {k: round(v, 2) for k, v in data.timings.items()})
        return outs

    def changed(self, site: Site, before: list[Row | None], after: list[Row | None]) -> Iterable[Output]:
        # Current periods are refreshed by `periodic`; closed periods are kept as built.
        return []

    def periodic(self, site: Site) -> Iterable[Output]:
        if not _due(site, "reports:refreshed", REFRESH_SECONDS):
            return []
        t = today(site)
        current = {k: Period.of(k, t) for k in KINDS}
        last = json.loads(site.state.get_meta("reports:current") or "{}")
        summaries = load_summaries(site)
        # The current periods, and any that closed since the last run (rendered once more, final).
        todo: dict[str, list[Period]] = {}
        for kind, cur in current.items():
            p = Period.parse(kind, last[kind]) if kind in last else cur
            p = min(p, cur)
            periods = []
            while p.start <= cur.start:
                periods.append(p)
                p = p.following()
            todo[kind] = periods[-8:]
        since = min(p.start for ps in todo.values() for p in ps)
        df = analytics.load_frame(site.state, _tz(site), since=since.isoformat())
        outs: list[Output] = []
        for kind, periods in todo.items():
            tables = KindTables.compute(df, kind)
            fresh = summaries_of({kind: tables})[kind]
            for p in periods:
                summaries[kind][p.key] = fresh.get(p.key, {"intake": None, "closed": None})
            for p in periods:
                outs += render_period(site, tables, summaries, p)
        specials_list = specials.load_all(site)
        outs += self._shared(site, summaries, specials_list)
        save_summaries(site, summaries)
        site.state.set_meta("reports:current", json.dumps({k: p.key for k, p in current.items()}))
        outs += self._slow(site)
        return outs

    def _shared(self, site: Site, summaries: dict, specials_list: list) -> list[Output]:
        outs = [render_index(site, summaries, specials_list)]
        outs += [render_archive(site, summaries, k) for k in KINDS]
        outs += render_feed_outputs(site, summaries, specials_list)
        return outs

    def _slow(self, site: Site) -> list[Output]:
        """Hourly: the recurring-problems page, department profiles and special reports."""
        from . import profiles

        if not _due(site, "reports:slow_refreshed", profiles.REFRESH_SECONDS):
            return []
        data = analytics.data_for(site.state, site.catalog)
        outs = profiles.render_recurring(site, data)
        outs += profiles.refresh_departments(site, data)
        outs += [o for s in specials.load_all(site) for o in specials.render(site, data, s)]
        return outs


def _due(site: Site, key: str, seconds: float) -> bool:
    """True (and the time recorded) when the work keyed `key` last ran `seconds` ago or more."""
    last = site.state.get_meta(key)
    now = time.time()
    if last is not None and now - float(last) < seconds:
        return False
    site.state.set_meta(key, repr(now))
    return True


SECTION = ReportsSection()

__all__ = ["SECTION", "Data", "KindTables", "Period", "render_period"]

"""首发画像: what each department gets, what keeps coming back, and the city's recurring places.

- `department_profile(site, code)`: the fragment on /departments/<code>/: the matters it
  gets most, the ones that come back (the same estate, employer or place and matter
  filed again, or reopened), its weekly trend (sparkline), average handling time
  against the deadline of each matter's priority, and the share of returned tickets.
- `render_recurring(site, data)`: /reports/recurring/, estates, employers and places
  with tickets on at least MIN_DAYS different days, ranked, with links to the tickets.

The profiles of all departments are computed in one pass (pandas) and kept in the state
(meta `profiles:data`), so an incremental build re-rendering one department page reads
them instead of aggregating again; the slow lane recomputes them every REFRESH_SECONDS
and re-renders the department pages whose profile changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import weakref
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from . import analytics, charts
from .analytics import Data, Period, display_names
from .pages.context import Site
from .render import Output, render_template
from .state import State

log = logging.getLogger(__name__)

REFRESH_SECONDS = 3600.0
META = "profiles:data"
TOP_MATTERS = 8
TOP_RECURRING = 8
TREND_WEEKS = 26
MIN_DAYS = 3  # a place is "recurring" with tickets on this many different days
RECURRING_ROWS = 30


def _deadline_days(site: Site, codes: list[str]) -> dict[str, float]:
    """Close deadline in days of each category, by its priority (ordinary when unknown)."""
    prios = site.catalog.sla.priorities
    out = {}
    for c in codes:
        cat = site.catalog.categories.get(c)
        out[c] = prios[cat.priority if cat else "ordinary"].close_hours / 24
    return out


def compute(site: Site, data: Data) -> dict[str, dict[str, Any]]:
    """The profile of every department with tickets (JSON-able)."""
    t0 = time.perf_counter()
    try:
        return _compute(site, data)
    finally:
        data.timings["profiles"] = data.timings.get("profiles", 0.0) + time.perf_counter() - t0


def _compute(site: Site, data: Data) -> dict[str, dict[str, Any]]:
    df = data.tickets
    if df.empty:
        return {}
    names = site.names
    codes = [str(c) for c in df["category"].cat.categories]
    deadline = _deadline_days(site, codes)
    default = site.catalog.sla.priorities["ordinary"].close_hours / 24
    cat_deadline = np.array([deadline[c] for c in codes] + [default])[df["category"].cat.codes.to_numpy()]
    work = pd.DataFrame({
        "department": df["department"], "category": df["category"], "week": df["week"],
        "handling_days": df["handling_days"], "deadline": np.where(df["handling_days"].notna(), cat_deadline, np.nan),
        "returned": (df["returns"] > 0).astype(np.int32), "returns": df["returns"], "shirking": df["shirking"],
        "reopened": (df["reopens"] > 0).astype(np.int32),
    })
    figs = analytics.figures_by(df, "department")
    g = work.groupby("department", observed=True)
    base = pd.DataFrame({
        "deadline": g["deadline"].mean(), "returned": g["returned"].sum(), "returns": g["returns"].sum(),
        "shirking": g["shirking"].sum(), "reopened": g["reopened"].sum(),
    })
    by_cat = work.groupby(["department", "category"], observed=True).agg(n=("handling_days", "size"), days=("handling_days", "mean"))
    by_cat = by_cat.reset_index().sort_values(["department", "n", "category"], ascending=[True, False, True])
    top = by_cat.groupby("department", observed=True).head(TOP_MATTERS)
    on_time = analytics.figures_by(df, ["department", "category"])
    weeks = _weeks(site)
    trend = work[work["week"].isin(weeks)].groupby(["department", "week"], observed=True).size()
    recurring = _recurring_by_department(data)
    out: dict[str, dict[str, Any]] = {}
    for dept, f in figs.items():
        dept = str(dept)
        b = base.loc[dept]
        t = top[top["department"] == dept]
        matters = [{
            "code": str(r.category), "name": names.category(str(r.category)), "n": int(r.n), "share": round(r.n / f.n, 4),
            "avg_days": _r(r.days), "deadline_days": _r(deadline[str(r.category)]),
            "on_time": _r(on_time[(dept, r.category)].on_time, 4) if (dept, r.category) in on_time else None,
        } for r in t.itertuples()]
        series = [int(trend.get((dept, w), 0)) for w in weeks]
        out[dept] = {
            "n": f.n, "avg_days": _r(f.avg_days), "deadline_days": _r(b.deadline), "on_time": _r(f.on_time, 4),
            "response": _r(f.response, 4), "satisfaction": _r(f.satisfaction, 4),
            "returned": int(b.returned), "returned_share": round(int(b.returned) / f.n, 4) if f.n else None,
            "returns": int(b.returns), "shirking": int(b.shirking), "reopened": int(b.reopened),
            "matters": matters, "weeks": [weeks[0], weeks[-1]], "trend": series,
            "recurring": recurring.get(dept, []),
        }
    return out


def _r(v: Any, digits: int = 2) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), digits)


def _weeks(site: Site) -> list[str]:
    today = analytics.local_today(site.now, _tz(site))
    p = Period.of("weekly", today)
    out = [p.key]
    for _ in range(TREND_WEEKS - 1):
        p = p.previous()
        out.insert(0, p.key)
    return out


def _tz(site: Site):
    from zoneinfo import ZoneInfo

    return ZoneInfo(site.catalog.city.timezone)


def _recurring_by_department(data: Data) -> dict[str, list[dict]]:
    """Per department: (place, matter) filed on two or more tickets, or reopened, ranked."""
    pl = data.places_with(["id", "department", "category", "day", "reopens"])
    if pl.empty:
        return {}
    pl = pl[pl["department"].notna()]
    names = display_names(pl)
    keys = ["department", "key", "category"]
    g = pl.groupby(keys, observed=True)
    stats = g.agg(n=("id", "size"), reopens=("reopens", "sum"), days=("day", "nunique"), last=("day", "max")).reset_index()
    stats = stats[(stats["n"] >= 2) | (stats["reopens"] > 0)]
    stats = stats.assign(score=stats["n"] + stats["reopens"]).sort_values(["department", "score", "last"], ascending=[True, False, False])
    stats = stats.groupby("department", observed=True).head(TOP_RECURRING)
    if stats.empty:
        return {}
    wanted = pl.merge(stats[keys], on=keys)
    ids = wanted.sort_values("id", ascending=False).groupby(keys, observed=True)["id"].agg(lambda s: list(s[:5]))
    out: dict[str, list[dict]] = {}
    for r in stats.itertuples():
        out.setdefault(str(r.department), []).append({
            "place": names.get(r.key, str(r.key)), "category": str(r.category), "n": int(r.n), "reopens": int(r.reopens),
            "days": int(r.days), "last": str(r.last), "ids": ids.get((r.department, r.key, r.category), []),
        })
    return out


# -- the fragment on the department page --------------------------------------------------

_MEMO: weakref.WeakKeyDictionary[State, tuple[str, dict]] = weakref.WeakKeyDictionary()


def _profiles(site: Site) -> dict[str, dict]:
    stamp = site.state.get_meta("profiles:stamp")
    hit = _MEMO.get(site.state)
    if stamp and hit and hit[0] == stamp:
        return hit[1]
    raw = site.state.get_meta(META)
    if raw is None:
        profiles = store(site, compute(site, analytics.data_for(site.state, site.catalog)))
        stamp = site.state.get_meta("profiles:stamp")
    else:
        profiles = json.loads(raw)
    _MEMO[site.state] = (stamp or "", profiles)
    return profiles


def store(site: Site, profiles: dict[str, dict]) -> dict[str, dict]:
    raw = json.dumps(profiles, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    site.state.set_meta(META, raw)
    site.state.set_meta("profiles:stamp", hashlib.sha256(raw.encode()).hexdigest()[:16])
    return profiles


def department_profile(site: Site, code: str) -> str:
    """The 首发画像 fragment of one department (trusted HTML; empty without tickets)."""
    p = _profiles(site).get(code)
    if not code or not p:
        return ""
    names = site.names
    first, last = p["weeks"]
    spark = charts.sparkline(p["trend"], title=f"{names.department(code)}近{TREND_WEEKS}周每周受理量（{first}至{last}）")
    matters = [{**m, "href": site.url(f"tickets/category/{m['code'].split('.')[0]}/")} for m in p["matters"]]
    recurring = [{**r, "category_name": names.category(r["category"]),
                  "links": [(i, site.url(f"tickets/{i}/")) for i in r["ids"]]} for r in p["recurring"]]
    html = render_template(
        "profile.html", p=p, matters=matters, recurring=recurring, spark=spark, weeks=TREND_WEEKS,
        recurring_href=site.url("reports/recurring/"), base=site.base, names=names,
    )
    return Markup(html)


def refresh_departments(site: Site, data: Data) -> list[Output]:
    """Recompute every profile; re-render the department pages whose profile changed."""
    from .pages import feeds as feed_pages
    from .pages import listings

    old_raw = site.state.get_meta(META)
    old = json.loads(old_raw) if old_raw else {}
    new = store(site, compute(site, data))
    outs = []
    for code in sorted(set(new) | set(old)):
        if new.get(code) != old.get(code):
            outs.append(listings.render_value_index(
                site, "department", code, profile=department_profile(site, code),
                feed=feed_pages.link_for(site, "department", code)))
    return outs


# -- the city's recurring places ------------------------------------------------------------

KIND_TITLES = {"estate": "小区", "employer": "企业与工地", "place": "道路与公共场所"}


def recurring_places(site: Site, data: Data) -> dict[str, list[dict]]:
    """kind -> places with tickets on MIN_DAYS or more days, most tickets first."""
    pl = data.places_with(["id", "day", "area", "category", "reopens", "unsatisfied"])
    if pl.empty:
        return {k: [] for k in KIND_TITLES}
    names = display_names(pl)
    g = pl.groupby("key", observed=True)
    stats = g.agg(n=("id", "size"), days=("day", "nunique"), first=("day", "min"), last=("day", "max"),
                  reopens=("reopens", "sum"), unsatisfied=("unsatisfied", "sum"))
    stats = stats[stats["days"] >= MIN_DAYS].sort_values(["n", "last"], ascending=False)
    kind = pl.groupby(["key", "kind"], observed=True).size().reset_index(name="c").sort_values("c", ascending=False).drop_duplicates("key").set_index("key")["kind"]
    area = _mode(pl, "area")
    cat = _mode(pl, "category")
    out: dict[str, list[dict]] = {k: [] for k in KIND_TITLES}
    chosen = {k: [] for k in KIND_TITLES}
    for key, r in stats.iterrows():
        k = str(kind.get(key, "place"))
        if len(chosen[k]) < RECURRING_ROWS:
            chosen[k].append((key, r))
    keys = [key for rows in chosen.values() for key, _ in rows]
    sub = pl[pl["key"].isin(keys)].sort_values("id", ascending=False)
    ids = sub.groupby("key", observed=True)["id"].agg(lambda s: list(s[:8]))
    for k, rows in chosen.items():
        for key, r in rows:
            out[k].append({
                "place": names.get(key, str(key)), "n": int(r.n), "days": int(r.days), "first": str(r["first"]), "last": str(r["last"]),
                "reopens": int(r.reopens), "unsatisfied": int(r.unsatisfied),
                "area": str(area.get(key, "")), "category": str(cat.get(key, "")), "ids": ids.get(key, []),
            })
    return out


def _mode(pl: pd.DataFrame, column: str) -> pd.Series:
    c = pl.groupby(["key", column], observed=True).size().reset_index(name="c")
    return c.sort_values(["c", column], ascending=[False, True]).drop_duplicates("key").set_index("key")[column]


def render_recurring(site: Site, data: Data) -> list[Output]:
    groups = recurring_places(site, data)
    names = site.names
    sections = []
    for kind, title in KIND_TITLES.items():
        rows = [{**r, "area_name": names.area(r["area"]) if r["area"] else "", "category_name": names.category(r["category"]) if r["category"] else "",
                 "links": [(i, site.url(f"tickets/{i}/")) for i in r["ids"]]} for r in groups[kind]]
        chart = charts.bar_chart([(r["place"], r["n"]) for r in rows[:15]], title=f"反复诉求最多的{title}") if rows else None
        sections.append({"kind": kind, "title": title, "rows": rows, "chart": chart})
    horizon = data.tickets["day"].astype(str)
    html = site.page(
        "recurring.html", title="反复诉求：小区、企业与场所", active="/reports/",
        description="群众反复反映的小区、企业和场所，按诉求量排序。", sections=sections, min_days=MIN_DAYS,
        first=horizon.min() if len(horizon) else "", last=horizon.max() if len(horizon) else "", as_of=site.now,
    )
    ids = tuple(i for s in sections for r in s["rows"] for i in r["ids"])
    data_out = {k: [{x: r[x] for x in ("place", "n", "days", "first", "last", "reopens", "unsatisfied", "area", "category")} for r in v] for k, v in groups.items()}
    return [
        Output("reports/recurring/index.html", html, ids=ids, key="recurring"),
        Output("reports/recurring/places.json", json.dumps(data_out, ensure_ascii=False, sort_keys=True, indent=1) + "\n", key="recurring/json"),
    ]


__all__ = ["department_profile", "refresh_departments", "render_recurring"]

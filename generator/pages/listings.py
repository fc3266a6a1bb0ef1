"""Listings: fixed buckets by day, status, department, category and area.

`render_bucket(site, key)` renders one bucket key (see rows.buckets) into its page(s).
Pages never depend on every ticket: a day page holds one day's chunk of 1000 ids, a
value page one value's day, and an index page a value's latest tickets and calendar.
"""

from __future__ import annotations

from datetime import date, timedelta

from ..config import CHUNK, LATEST
from ..figures import counted
from ..render import Output, fmt_num, fmt_pct
from ..rows import Row
from .context import Site

STATUS_LABELS = {"open": "办理中", "overdue": "已超期", "closed": "已办结"}
DIMS = {
    "department": ("department", "承办单位"),
    "category": ("category_top", "诉求类别"),
    "area": ("area", "区域"),
}


def day_path(day: str, chunk: int = 1) -> str:
    y, m, d = day.split("-")
    return f"tickets/{y}/{m}/{d}/" + ("" if chunk == 1 else f"{chunk}/")


def status_path(status: str, day: str | None = None, chunk: int = 1) -> str:
    if day is None:
        return f"tickets/status/{status}/"
    return f"tickets/status/{status}/{day}/" + ("" if chunk == 1 else f"{chunk}/")


def value_path(dim: str, value: str, day: str | None = None) -> str:
    root = f"departments/{value}/" if dim == "department" else f"tickets/{dim}/{value}/"
    return root + (f"{day}/" if day else "")


def _out(path_dir: str, html: str, rows: list[Row], key: str) -> Output:
    return Output(path_dir + "index.html", html, ids=tuple(r.id for r in rows), key=key)


def _value_name(site: Site, dim: str, value: str) -> str:
    n = site.names
    return {"department": n.department_full, "category": n.category, "area": n.area}[dim](value)


def _neighbours(site: Site, column: str | None, value: str | None, day: str) -> tuple:
    where, params = ("1", ()) if column is None else (f"{column}=?", (value,))
    prev = site.state.query(f"SELECT max(day) AS d FROM rows WHERE {where} AND day < ?", (*params, day))[0]["d"]
    nxt = site.state.query(f"SELECT min(day) AS d FROM rows WHERE {where} AND day > ?", (*params, day))[0]["d"]
    return prev, nxt


def _chunk_pager(site: Site, where: str, params: tuple, day: str, chunk: int, path) -> list:
    chunks = [r["chunk"] for r in site.state.query(f"SELECT DISTINCT chunk FROM rows WHERE {where} AND day=? ORDER BY chunk", (*params, day))]
    if len(chunks) <= 1:
        return []
    return [(f"第{c}页（{(c - 1) * CHUNK + 1}–{c * CHUNK}号）", site.url(path(day, c)), c == chunk) for c in chunks]


def render_day(site: Site, day: str, chunk: int) -> Output:
    rows = site.state.rows("day=? AND chunk=?", (day, chunk))
    prev, nxt = _neighbours(site, None, None, day)
    html = site.page(
        "listing.html",
        title=f"{day} 受理的工单",
        active="/tickets/",
        heading=f"{day[:4]}年{int(day[5:7])}月{int(day[8:])}日受理的工单",
        intro="",
        crumbs=[("工单", site.url("tickets/"))],
        pager=_chunk_pager(site, "1", (), day, chunk, day_path),
        rows=rows,
        prev_day=(prev, site.url(day_path(prev))) if prev else None,
        next_day=(nxt, site.url(day_path(nxt))) if nxt else None,
    )
    return _out(day_path(day, chunk), html, rows, f"day/{day}/{chunk}")


def render_status_day(site: Site, status: str, day: str, chunk: int) -> Output:
    rows = site.state.rows("status=? AND day=? AND chunk=?", (status, day, chunk))
    label = STATUS_LABELS[status]
    prev, nxt = _neighbours(site, "status", status, day)
    html = site.page(
        "listing.html",
        title=f"{day} {label}工单",
        active="/tickets/",
        heading=f"{day} 受理、目前{label}的工单",
        intro="",
        crumbs=[("工单", site.url("tickets/")), (label, site.url(status_path(status)))],
        pager=_chunk_pager(site, "status=?", (status,), day, chunk, lambda d, c: status_path(status, d, c)),
        rows=rows,
        prev_day=(prev, site.url(status_path(status, prev))) if prev else None,
        next_day=(nxt, site.url(status_path(status, nxt))) if nxt else None,
    )
    return _out(status_path(status, day, chunk), html, rows, f"status/{status}/{day}/{chunk}")


def render_value_day(site: Site, dim: str, value: str, day: str) -> Output:
    column, dim_label = DIMS[dim]
    rows = site.state.rows(f"{column}=? AND day=?", (value, day))
    name = _value_name(site, dim, value)
    prev, nxt = _neighbours(site, column, value, day)
    html = site.page(
        "listing.html",
        title=f"{name} {day} 工单",
        active="/departments/" if dim == "department" else "/tickets/",
        heading=f"{name}：{day} 受理的工单",
        intro="",
        crumbs=[(dim_label, site.url("departments/" if dim == "department" else "tickets/")), (name, site.url(value_path(dim, value)))],
        pager=[],
        rows=rows,
        prev_day=(prev, site.url(value_path(dim, value, prev))) if prev else None,
        next_day=(nxt, site.url(value_path(dim, value, nxt))) if nxt else None,
    )
    return _out(value_path(dim, value, day), html, rows, f"{dim}/{value}/{day}")


def _days(site: Site, dim: str = "", value: str = "", limit: int = 90) -> list:
    """The last `limit` days with tickets, from the per-day counters (one indexed range,
    whatever the volume)."""
    since = (site.now.astimezone(site_tz()).date() - timedelta(days=limit - 1)).isoformat()
    return site.state.day_counts(dim, value, since=since, limit=limit)


def month_figs(site: Site, column: str, value: str) -> tuple[str, list]:
    month = site.now.astimezone(site_tz()).strftime("%Y-%m")
    f = counted(site.state, "M", month, column, value)
    return month, [
        ("本月受理", fmt_num(f.n), None),
        ("本月办结", fmt_num(f.closed), None),
        ("按时办结率", fmt_pct(f.on_time), None),
        ("群众满意率", fmt_pct(f.satisfaction), None),
        ("一次办好率", fmt_pct(f.first_time), None),
        ("平均办理时长", f"{f.avg_days:.1f}天" if f.avg_days is not None else "—", None),
    ]


def site_tz():
    from intake_api.clock import SHANGHAI

    return SHANGHAI


def render_value_index(site: Site, dim: str, value: str, *, profile: str = "", feed: tuple | None = None) -> Output:
    column, dim_label = DIMS[dim]
    # (day, id) order walks the (column, day, id) index backwards: no sort of all the
    # value's rows, so the page costs the same after years of tickets.
    rows = site.state.rows(f"{column}=?", (value,), order="day DESC, id DESC", limit=LATEST)
    name = _value_name(site, dim, value)
    month, figs = month_figs(site, column, value)
    html = site.page(
        "value_index.html",
        title=name,
        active="/departments/" if dim == "department" else "/tickets/",
        heading=name,
        intro=(site.catalog.department_by_code[value].description if dim == "department" and value in site.catalog.department_by_code else ""),
        figs=figs,
        figs_title=f"{month} 主要指标",
        profile=profile,
        feed=feed,
        rows=rows,
        days=_days(site, column, value),
        day_href=lambda d: site.url(value_path(dim, value, d)),
        feeds=[(f"{name} RSS", feed[1], "application/rss+xml"), (f"{name} Atom", feed[2], "application/atom+xml")] if feed else [],
    )
    return _out(value_path(dim, value), html, rows, f"{dim}/{value}")


def render_status_index(site: Site, status: str) -> Output:
    rows = site.state.rows("status=?", (status,), order="day DESC, chunk DESC, id DESC", limit=50)
    label = STATUS_LABELS[status]
    html = site.page(
        "value_index.html",
        title=f"{label}的工单",
        active="/tickets/",
        heading=f"{label}的工单",
        intro={"open": "正在办理、尚未超过办结时限的工单。", "overdue": "超过办结时限仍未办结（或超期办结后待回访）的工单，已按规定启动督办。", "closed": "已办结的工单。"}[status],
        figs=[],
        figs_title="",
        profile="",
        feed=None,
        rows=rows,
        days=_days(site, "status", status),
        day_href=lambda d: site.url(status_path(status, d)),
    )
    return _out(status_path(status), html, rows, f"status/{status}")


def render_tickets_index(site: Site) -> Output:
    today = site.now.astimezone(site_tz()).date().isoformat()
    f_today = counted(site.state, "D", today)
    # Open and overdue tickets are few (indexed counts); the rest is this month's
    # counters, so the page costs the same after ten years as after ten days.
    month = today[:7]
    counts = {s: site.state.query("SELECT count(*) AS n FROM rows WHERE status=?", (s,))[0]["n"] for s in ("open", "overdue")}
    counts["closed"] = int(site.state.counters("M", month)["closed"])

    def by_count(dim: str, name) -> list[dict]:
        found = site.state.counters_by("M", month, dim)
        items = [{"code": v, "name": name(v), "n": int(c["n"])} for v, c in found.items()]
        return sorted(items, key=lambda i: (-i["n"], i["code"]))

    cats = by_count("category_top", site.names.category)
    areas = by_count("area", site.names.area)
    html = site.page(
        "tickets_index.html",
        title="工单公开",
        active="/tickets/",
        figs=[
            ("今日受理", fmt_num(f_today.n), None),
            ("办理中", fmt_num(counts.get("open", 0)), None),
            ("已超期", fmt_num(counts.get("overdue", 0)), None),
            ("本月已办结", fmt_num(counts.get("closed", 0)), None),
        ],
        statuses=[(s, STATUS_LABELS[s] + ("（本月）" if s == "closed" else ""), counts.get(s, 0)) for s in ("open", "overdue", "closed")],
        days=_days(site, limit=60),
        categories=cats,
        areas=areas,
    )
    return Output("tickets/index.html", html, key="tickets")


def render_departments_index(site: Site) -> Output:
    month = site.now.astimezone(site_tz()).strftime("%Y-%m")
    stats = {
        code: {
            "n": int(c["n"]), "closed": int(c["closed"]),
            "on_time": c["on_time_n"] / c["finished"] if c["finished"] else None,
            "sat": c["satisfied"] / c["rated"] if c["rated"] else None,
        }
        for code, c in site.state.counters_by("M", month, "department").items()
    }
    groups = []
    labels = site.catalog.ranking.groups
    for group in ("area_gov", "city_dept", "enterprise", "hotline"):
        items = []
        for d in site.catalog.departments:
            if d.group != group:
                continue
            s = stats.get(d.code)
            items.append({
                "code": d.code, "name": d.name,
                "n": s["n"] if s else 0, "closed": s["closed"] if s else 0,
                "on_time": s["on_time"] if s else None, "satisfaction": s["sat"] if s else None,
            })
        if items:
            groups.append((group, labels.get(group, "12345热线"), items))
    html = site.page("departments.html", title="承办单位", active="/departments/", groups=groups)
    return Output("departments/index.html", html, key="departments")


def previous_days(day: str, n: int) -> list[str]:
    d = date.fromisoformat(day)
    return [(d - timedelta(days=i)).isoformat() for i in range(n)]

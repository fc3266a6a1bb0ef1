"""/: today's and this month's figures, latest tickets, links to what exists."""

from __future__ import annotations

from intake_api.clock import SHANGHAI

from ..figures import counted
from ..render import Output, fmt_num, fmt_pct
from .context import Site

SECTIONS = [
    ("rankings/index.html", "红黄榜", "rankings/", "各承办单位按响应、解决、满意、按时办结排名，好的上红榜，差的上黄榜。"),
    ("top/index.html", "十佳 / 十差工单", "top/", "谁办得好，谁办得差，晾晒出来。"),
    ("episodes/index.html", "首发聚焦", "episodes/", "把问题摆上台面：首发聚焦节目与整改跟踪。"),
    ("reports/index.html", "数据报告", "reports/", "日汇总、周统计、月分析和专题报告。"),
    ("open-data/index.html", "开放数据", "open-data/", "公开工单数据按月下载（CSV / JSON）。"),
    ("search/index.html", "搜索", "search/", "按关键词或工单编号查找工单。"),
]


EXTRAS = "home_extras"


def refresh_extras(site: Site) -> None:
    """Keep the latest episode and this month's red/yellow lists for the home page.

    Computed on full builds and in the slow lane, so that the home page, which every
    change re-renders, reads them instead of recomputing the rankings.
    """
    import json

    extras: dict = {}
    try:
        from ..episodes import site_episodes

        eps = sorted(site_episodes(site), key=lambda e: e.aired_at, reverse=True)
        if eps:
            e = eps[0]
            extras["episode"] = {"slug": e.slug, "number": e.meta.number, "title": e.meta.title}
    except ModuleNotFoundError:
        pass
    try:
        from ..rankings import current_ranking

        # Kept by the rankings section, which ran just before in a periodic pass (a
        # full build, which runs this first, finds none kept and computes it).
        ranking = current_ranking(site)
        month = ranking.month
        names = site.catalog.ranking.list_names
        extras["lists"] = {
            "month": month,
            "red_name": names["red"],
            "yellow_name": names["yellow"],
            "red": [s.name for g in ranking.groups for s in g.red],
            "yellow": [s.name for g in ranking.groups for s in g.yellow],
        }
    except ModuleNotFoundError:
        pass
    site.state.set_meta(EXTRAS, json.dumps(extras, ensure_ascii=False, sort_keys=True))


def render(site: Site, *, existing: set[str]) -> Output:
    """Render the home page; `existing` holds the site paths that exist (link only those)."""
    local_now = site.now.astimezone(SHANGHAI)
    today = local_now.date().isoformat()
    month = today[:7]
    ft = counted(site.state, "D", today)
    fc = counted(site.state, "C", today)
    fm = counted(site.state, "M", month)
    latest = site.state.rows("1", (), limit=10)
    sections = [(title, site.url(href), text) for path, title, href, text in SECTIONS if path in existing]
    import json

    extras = json.loads(site.state.get_meta(EXTRAS) or "{}")
    html = site.page(
        "home.html",
        title="",
        active="/",
        city=site.catalog.city.name,
        today=today,
        as_of=site.now,
        today_figs=[
            ("今日受理", fmt_num(ft.n), None),
            ("今日办结", fmt_num(fc.n), None),
            ("今日办结满意率", fmt_pct(fc.satisfaction), None),
        ],
        month_figs=[
            ("本月受理", fmt_num(fm.n), None),
            ("本月办结", fmt_num(fm.closed), None),
            ("按时办结率", fmt_pct(fm.on_time), None),
            ("群众满意率", fmt_pct(fm.satisfaction), None),
            ("一次办好率", fmt_pct(fm.first_time), None),
            ("平均办理时长", f"{fm.avg_days:.1f}天" if fm.avg_days is not None else "—", None),
        ],
        sections=sections,
        latest=latest,
        episode=extras.get("episode") if "episodes/index.html" in existing else None,
        lists=extras.get("lists") if "rankings/index.html" in existing else None,
        feeds=[("新受理工单", site.url("feeds/tickets-new.rss.xml"), "application/rss+xml"),
               ("新受理工单", site.url("feeds/tickets-new.atom.xml"), "application/atom+xml")],
    )
    return Output("index.html", html, ids=tuple(r.id for r in latest), key="home")


"""十佳 / 十差工单: the ten best and ten worst handled tickets of each month and ISO week (/top/).

Among the public tickets CLOSED in the period (Asia/Shanghai), every ticket gets a
published score, the sum of the parts in `PARTS` (each a SQL expression over the
ticket's public row, so that one query ranks a whole period and the same numbers explain
each listed ticket). /top/method/ renders `PARTS`. Editors pin or exclude tickets with a
reason in content/top.yaml; the page shows the reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from intake_api.catalog import Catalog
from intake_api.clock import SHANGHAI, parse_ts

from . import content
from .feeds import FeedSpec, Item, feed_paths, render_feed
from .pages import feeds as feed_pages
from .pages.context import Site
from .rankings import month_label, month_of, month_start, next_month, utc_iso
from .render import Output, fmt_duration
from .rows import Row

log = logging.getLogger(__name__)

SIZE = 10
FEED = FeedSpec("top", "十佳 / 十差工单", "每月、每周办得最好和最差的十件工单及其得分构成", "/top/")
TICKET_ID = content.TICKET_ID
LIST_NAMES = {"best": "十佳工单", "worst": "十差工单"}


@dataclass(frozen=True)
class Part:
    key: str
    label: str
    rule: str  # as published on /top/method/
    sql: str  # points of one row; {hours} is the close time limit of its category, in hours


PARTS = (
    Part("sign", "签收", "在签收时限内签收 +10；超时签收 −10",
         "CASE accepted_in_time WHEN 1 THEN 10 WHEN 0 THEN -10 ELSE 0 END"),
    Part("close", "办结", "在办结时限（含批准的延期）内办结 +10；超期办结 −20",
         "CASE on_time WHEN 1 THEN 10 WHEN 0 THEN -20 ELSE 0 END"),
    Part("speed", "用时", "按时办结的，按节省的时间加分：10 × (1 − 受理到办结的用时 ÷ 该类诉求的办结时限)，最多 +10，保留一位小数",
         "CASE WHEN on_time = 1 AND handling_days IS NOT NULL "
         "THEN round(10 * max(0.0, 1 - handling_days * 24.0 / ({hours})), 1) ELSE 0 END"),
    Part("first", "一次办好", "一次办好（办结、已解决、满意，从未重办）+15",
         "CASE first_time WHEN 1 THEN 15 ELSE 0 END"),
    Part("rating", "评价", "回访评价满意 +20；基本满意 +10；不满意 −20；未评价 0",
         "CASE satisfaction WHEN 'satisfied' THEN 20 WHEN 'basic' THEN 10 WHEN 'unsatisfied' THEN -20 ELSE 0 END"),
    Part("solved", "解决", "诉求人表示问题已解决 +10；未解决 −15",
         "CASE solved WHEN 1 THEN 10 WHEN 0 THEN -15 ELSE 0 END"),
    Part("returns", "退单", "每次退单 −5；经研判为推诿的退单每次再 −10",
         "-5 * returns - 10 * shirking"),
    Part("reopens", "重办", "每次重办 −15", "-15 * reopens"),
    Part("supervision", "督办", "达到的最高督办级别 × (−8)：一级热线督办 −8 … 五级纪委督办 −40",
         "-8 * supervision"),
)


# -- editors' decisions (content/top.yaml) ---------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pin(_Strict):
    ticket: str = Field(pattern=TICKET_ID)
    list: Literal["best", "worst"]
    reason: str = Field(min_length=2, max_length=300)


class Exclusion(_Strict):
    ticket: str = Field(pattern=TICKET_ID)
    reason: str = Field(min_length=2, max_length=300)


class Decisions(_Strict):
    """content/top.yaml: editors' pins and exclusions, each with a public reason."""

    pins: list[Pin] = []
    excludes: list[Exclusion] = []

    @model_validator(mode="after")
    def _once_each(self) -> Decisions:
        seen: set[str] = set()
        for kind, items in (("pins", self.pins), ("excludes", self.excludes)):
            for i, item in enumerate(items):
                if item.ticket in seen:
                    raise ValueError(f"{kind}.{i}.ticket: {item.ticket} is pinned or excluded twice")
                seen.add(item.ticket)
        return self


def load_decisions(content_dir: Path | None) -> Decisions:
    path = content_dir / "top.yaml" if content_dir else None
    if path is None or not path.exists():
        return Decisions()
    return content.load_yaml(path, Decisions)


# -- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    key: str  # "2026-11" or "2026-W48"
    kind: Literal["month", "week"]
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        if self.kind == "month":
            return month_label(self.key)
        last = self.end - timedelta(days=1)
        y, w = self.key.split("-W")
        return f"{y}年第{int(w)}周（{self.start.month}月{self.start.day}日–{last.month}月{last.day}日）"

    @property
    def path(self) -> str:
        return f"top/{self.key}/"


def month_period(month: str) -> Period:
    return Period(month, "month", month_start(month), month_start(next_month(month)))


def week_period(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    y, w, _ = monday.isocalendar()
    start = datetime.combine(monday, time(), SHANGHAI)
    return Period(f"{y}-W{w:02d}", "week", start, start + timedelta(days=7))


def periods(site: Site) -> tuple[list[Period], list[Period]]:
    """Months and weeks from the first closed ticket up to now, oldest first."""
    r = site.state.query("SELECT min(closed_at) AS lo FROM rows WHERE closed_at IS NOT NULL")[0]
    now = site.now.astimezone(SHANGHAI)
    first = parse_ts(r["lo"]).astimezone(SHANGHAI) if r["lo"] else now
    months, m = [], month_of(first)
    while m <= month_of(now):
        months.append(month_period(m))
        m = next_month(m)
    weeks, wk = [], week_period(first.date())
    while wk.start <= now:
        weeks.append(wk)
        wk = week_period((wk.start + timedelta(days=7)).date())
    return months, weeks


# -- scoring -------------------------------------------------------------------------------


def close_hours(catalog: Catalog, category: str | None) -> float:
    """The close time limit of a category (its priority's), in hours."""
    cat = catalog.categories.get(category or "")
    return catalog.sla.priorities[cat.priority if cat else "ordinary"].close_hours


def _hours_sql(catalog: Catalog) -> str:
    default = catalog.sla.priorities["ordinary"].close_hours
    whens = " ".join(f"WHEN '{code}' THEN {close_hours(catalog, code)!r}" for code in sorted(catalog.categories)
                     if close_hours(catalog, code) != default)
    return f"CASE category {whens} ELSE {default!r} END" if whens else repr(default)


def score_sql(catalog: Catalog) -> str:
    """SELECT list: every row column, each part's points (p_<key>) and the score."""
    hours = _hours_sql(catalog)
    parts = [f"({p.sql.format(hours=hours)})" for p in PARTS]
    cols = ", ".join(f"{expr} AS p_{p.key}" for p, expr in zip(PARTS, parts, strict=True))
    return f"*, {cols}, round({' + '.join(parts)}, 1) AS score"


@dataclass
class Entry:
    row: Row
    score: float
    parts: list[tuple[str, float, str]]  # (label, points, why), non-zero parts only
    pinned: str = ""  # the editors' reason, when pinned


@dataclass
class TopList:
    kind: Literal["best", "worst"]
    entries: list[Entry]
    left_out: list[tuple[Row, str]] = field(default_factory=list)  # excluded by editors, with reason


@dataclass
class PeriodTop:
    period: Period
    final: bool
    closed: int
    best: TopList
    worst: TopList

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.row.id for lst in (self.best, self.worst) for e in lst.entries)
                     | dict.fromkeys(r.id for lst in (self.best, self.worst) for r, _ in lst.left_out))


def _why(key: str, row: Row, catalog: Catalog, site_names) -> str:
    if key == "sign":
        return "按时签收" if row.accepted_in_time else "超时签收"
    if key == "close":
        return "按时办结" if row.on_time else "超期办结"
    if key == "speed":
        return f"用时{fmt_duration((row.handling_days or 0) * 24)}，时限{fmt_duration(close_hours(catalog, row.category))}"
    if key == "first":
        return "一次办好"
    if key == "rating":
        return {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}.get(row.satisfaction or "", "")
    if key == "solved":
        return "问题已解决" if row.solved else "问题未解决"
    if key == "returns":
        return f"退单{row.returns}次" + (f"，其中推诿{row.shirking}次" if row.shirking else "")
    if key == "reopens":
        return f"重办{row.reopens}次"
    if key == "supervision":
        return site_names.supervision(row.supervision)
    return ""


def _entry(site: Site, r) -> Entry:
    row = Row(**{c: r[c] for c in Row.columns()})
    parts = [(p.label, float(r[f"p_{p.key}"]), _why(p.key, row, site.catalog, site.names)) for p in PARTS if r[f"p_{p.key}"]]
    return Entry(row, float(r["score"]), parts)


def _query(site: Site, period: Period, *, order: str, limit: int | None = None, ids: list[str] | None = None) -> list[Entry]:
    where, params = "closed_at >= ? AND closed_at < ?", [utc_iso(period.start), utc_iso(period.end)]
    if ids is not None:
        where += f" AND id IN ({','.join('?' * len(ids))})"
        params += ids
    sql = f"SELECT {score_sql(site.catalog)} FROM rows WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_entry(site, r) for r in site.state.query(sql, tuple(params))]


ORDERS = {
    "best": ("score DESC, handling_days ASC, closed_at ASC, id ASC", lambda e: (-e.score, e.row.handling_days or 0, e.row.closed_at, e.row.id)),
    "worst": ("score ASC, handling_days DESC, closed_at ASC, id ASC", lambda e: (e.score, -(e.row.handling_days or 0), e.row.closed_at, e.row.id)),
}


def compute(site: Site, period: Period, decisions: Decisions) -> PeriodTop:
    """The ten best and ten worst of a period, with the editors' pins and exclusions."""
    closed = site.state.query("SELECT count(*) AS n FROM rows WHERE closed_at >= ? AND closed_at < ?",
                              (utc_iso(period.start), utc_iso(period.end)))[0]["n"]
    size = min(SIZE, closed // 2)
    excluded = {x.ticket: x.reason for x in decisions.excludes}
    pins = {p.ticket: p for p in decisions.pins}
    pinned = {e.row.id: e for e in _query(site, period, order="id", ids=sorted(pins))} if pins else {}
    lists: dict[str, TopList] = {}
    taken: set[str] = set()
    for kind in ("best", "worst"):
        sql_order, key = ORDERS[kind]
        mine = [pinned[t] for t, p in pins.items() if p.list == kind and t in pinned]
        for e in mine:
            e.pinned = pins[e.row.id].reason
        candidates = _query(site, period, order=sql_order, limit=size + len(excluded) + len(pins) + len(taken)) if size else []
        natural, left_out = [], []
        for e in candidates:
            if e.row.id in taken or e.row.id in pins:
                continue
            if len(natural) + len(mine) >= size:
                break
            if e.row.id in excluded:
                left_out.append((e.row, excluded[e.row.id]))
                continue
            natural.append(e)
        entries = sorted(mine + natural, key=key)
        taken |= {e.row.id for e in entries}
        lists[kind] = TopList(kind, entries, left_out)
    return PeriodTop(period, site.now >= period.end, closed, lists["best"], lists["worst"])


# -- pages -------------------------------------------------------------------------------


def _feed_links(site: Site) -> list[tuple[str, str, str]]:
    rss, atom = feed_paths(FEED.slug)
    return [(FEED.title, site.url(rss), "application/rss+xml"), (FEED.title, site.url(atom), "application/atom+xml")]


def _page(site: Site, top: PeriodTop, archive: tuple[list[Period], list[Period]], *, path: str, heading: str) -> Output:
    months, weeks = archive
    html = site.page(
        "top.html",
        title=f"{top.period.label}十佳十差工单",
        active="/top/",
        top=top,
        heading=heading,
        is_index=path == "top/",
        months=list(reversed(months)),
        weeks=list(reversed(weeks)),
        feeds=_feed_links(site),
        description=f"{top.period.label}办得最好和最差的工单及得分构成。",
    )
    return Output(path + "index.html", html, ids=top.ids, key=f"top/{top.period.key}")


def render_period(site: Site, top: PeriodTop, archive) -> Output:
    return _page(site, top, archive, path=top.period.path, heading=f"{top.period.label}十佳 / 十差工单")


def render_index(site: Site, top: PeriodTop, archive) -> Output:
    return _page(site, top, archive, path="top/", heading=f"十佳 / 十差工单：{top.period.label}")


def render_method(site: Site) -> Output:
    html = site.page("top_method.html", title="十佳十差工单评选方法", active="/top/", parts=PARTS, size=SIZE,
                     priorities=site.catalog.sla.priorities, sign_hours=site.catalog.sla.sign_for_hours,
                     supervision=site.catalog.sla.supervision,
                     description="十佳、十差工单的计分公式：签收和办结时效、一次办好、评价、退单、重办、督办。")
    return Output("top/method/index.html", html, key="top/method")


def feed_items(site: Site, tops: Iterable[PeriodTop]) -> list[Item]:
    root = site.site_url.rstrip("/") + site.base
    items = []
    for top in tops:
        if not top.final:
            continue
        link = root + top.period.path
        for lst in (top.best, top.worst):
            if not lst.entries:
                continue
            lines = [f"{i}. {e.row.id} {e.row.title}（{site.names.department(e.row.department)}）{e.score:+.1f}分："
                     + "，".join(f"{label}{pts:+g}" for label, pts, _why in e.parts)
                     + (f"【编辑置顶：{e.pinned}】" if e.pinned else "")
                     for i, e in enumerate(lst.entries, 1)]
            items.append(Item(
                guid=f"{link}#{lst.kind}", title=f"{top.period.label}{LIST_NAMES[lst.kind]}", link=link,
                published=top.period.end, updated=top.period.end, summary="\n".join(lines),
                categories=(LIST_NAMES[lst.kind], "月榜" if top.period.kind == "month" else "周榜"),
            ))
    return items


def _cached_items(site: Site, top_for, period: Period, tag: str) -> tuple[list[Item], tuple[str, ...]]:
    """A closed period's feed items, kept in the state once computed (they no longer change)."""
    key = f"top:{tag}:{period.key}"
    kept = site.state.get_meta(key)
    if kept:
        d = json.loads(kept)
        items = [Item(**{**i, "published": parse_ts(i["published"]), "updated": parse_ts(i["updated"]),
                         "categories": tuple(i["categories"])}) for i in d["items"]]
        return items, tuple(d["ids"])
    top = top_for(period)
    items = feed_items(site, [top])
    if top.final:
        site.state.set_meta(key, json.dumps({"ids": top.ids, "items": [
            {**i.__dict__, "published": i.published.isoformat(), "updated": i.updated.isoformat()} for i in items]},
            ensure_ascii=False))
    return items, top.ids


def render_feed_outputs(site: Site, items: list[Item], ids: Iterable[str]) -> list[Output]:
    outs = render_feed(FEED, items, site_url=site.site_url, base=site.base, fallback_time=site.now)
    ids = tuple(dict.fromkeys(ids))
    for o in outs:
        o.ids = ids
    return outs


# -- the section ---------------------------------------------------------------------------


def _tag(decisions: Decisions) -> str:
    return hashlib.sha256(decisions.model_dump_json().encode()).hexdigest()[:12]


class TopSection:
    name = "top"

    def _render(self, site: Site, decisions: Decisions, *, everything: bool) -> Iterator[Output]:
        months, weeks = periods(site)
        archive = (months, weeks)
        tops = {p.key: compute(site, p, decisions) for p in (months + weeks if everything else months[-2:] + weeks[-2:])}
        for top in tops.values():
            yield render_period(site, top, archive)
        yield render_index(site, tops[months[-1].key], archive)
        items: list[Item] = []
        ids: list[str] = []
        tag = _tag(decisions)
        # Enough recent closed periods for the feed's 50 items (two lists per period).
        for p in months[-6:] + weeks[-26:]:
            got, got_ids = _cached_items(site, lambda p: tops.get(p.key) or compute(site, p, decisions), p, tag)
            items += got
            ids += got_ids
        yield from render_feed_outputs(site, items, ids)

    def full(self, site: Site) -> Iterable[Output]:
        decisions = load_decisions(content.content_source(site)[0])
        yield render_method(site)
        yield from self._render(site, decisions, everything=True)
        site.state.set_meta("top:decisions", _tag(decisions))

    def changed(self, site: Site, before: list[Row | None], after: list[Row | None]) -> Iterable[Output]:
        return []  # the current week and month are refreshed by the slow lane (periodic)

    def periodic(self, site: Site) -> Iterable[Output]:
        """The current and previous week and month; every period after editors change top.yaml."""
        try:
            decisions = load_decisions(content.content_source(site)[0])
        except content.ContentError as exc:
            log.error("top lists not refreshed: %s", exc)
            return []
        tag = _tag(decisions)
        outs = list(self._render(site, decisions, everything=site.state.get_meta("top:decisions") != tag))
        site.state.set_meta("top:decisions", tag)
        return outs


SECTION = TopSection()
if not any(slug == FEED.slug for _g, slug, _t, _p in feed_pages.FEED_REGISTRY):
    feed_pages.FEED_REGISTRY.append(("十佳十差", FEED.slug, "十佳 / 十差工单（每周、每月）", FEED.page))

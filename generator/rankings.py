"""红黄榜: departments ranked within their group, month by month (/rankings/).

Method (rendered on /rankings/method/ from the same constants and the catalog's
ranking.yaml, so the page and the code cannot disagree):
- the tickets counted are the public tickets CLOSED in the month (Asia/Shanghai), each
  counted for the department that handled it last: a closed ticket's figures are final;
- four rates with a Wilson score interval each: response (signed for in time), resolution
  (rated solved), satisfaction (satisfied or basically satisfied), on-time closure;
- score = 100 x the weighted mean of the rates a department has (weights from the
  catalog, renormalised over the rates that have a denominator), minus the penalties per
  100 tickets for returns judged as shirking (推诿) and for reopenings (重办);
- departments with fewer than `min_tickets` closed tickets are listed, not ranked;
- scores are compared at 0.01; equal scores share a rank (1, 2, 2, 4);
- the red list is the top `list_size` ranks of a group, the yellow list the bottom
  `list_size` ranks of the others; a group of fewer than 2 x list_size ranked
  departments lists half of them each way, so no department is on both lists.
Closed months are computed once per full build and kept in the state (`rankings:` meta
keys); the slow lane refreshes the current month (and the month just closed) every minute
and keeps it too (`rankings:current`): a ticket's change publishes the episode pages that
show a department's standing with that one (`current_ranking`), since summing a month of
tickets (300,000 at Linyi's volume) took 0.1-3 s, longer than the rest of the change.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from statistics import NormalDist, median

from intake_api.catalog import Catalog, RankingPolicy
from intake_api.clock import SHANGHAI, parse_ts

from .feeds import FeedSpec, Item, feed_paths, render_feed
from .pages import feeds as feed_pages
from .pages.context import Site
from .render import Output, fmt_pct
from .rows import Row

log = logging.getLogger(__name__)

FEED = FeedSpec("rankings", "红黄榜", "每月红榜、黄榜（月末定榜）及上榜理由", "/rankings/")
INDICATORS = {
    # key: (label, definition, numerator SQL, denominator SQL)
    "response": ("签收及时率", "承办单位在签收时限内签收的工单 ÷ 已签收的工单",
                 "accepted_in_time = 1", "accepted_in_time IS NOT NULL"),
    "resolution": ("问题解决率", "回访时诉求人表示问题已解决的工单 ÷ 已回访评价的工单",
                   "solved = 1", "solved IS NOT NULL"),
    "satisfaction": ("群众满意率", "回访评价为“满意”或“基本满意”的工单 ÷ 已回访评价的工单",
                     "satisfaction IN ('satisfied', 'basic')", "satisfaction IS NOT NULL"),
    "on_time": ("按时办结率", "在办结时限（含批准的延期）内办结的工单 ÷ 已办结的工单",
                "on_time = 1", "on_time IS NOT NULL"),
}
SQL = "SELECT department, count(*) AS n, {sums}, sum(shirking) AS shirking, sum(reopens) AS reopens FROM rows " \
      "WHERE closed_at >= ? AND closed_at < ? AND department IS NOT NULL GROUP BY department"
META_PREFIX = "rankings:"
CURRENT_META = "rankings:current"  # the current month's lists as last computed


# -- periods ---------------------------------------------------------------------------


def month_start(month: str) -> datetime:
    """Start of a month 'YYYY-MM' in Asia/Shanghai, as an aware datetime."""
    y, m = map(int, month.split("-"))
    return datetime.combine(date(y, m, 1), time(), SHANGHAI)


def next_month(month: str) -> str:
    y, m = map(int, month.split("-"))
    return f"{y + m // 12}-{m % 12 + 1:02d}"


def month_of(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m")


def utc_iso(dt: datetime) -> str:
    """The rows' timestamp format (isoformat in UTC), for range comparisons in SQL."""
    return dt.astimezone(UTC).isoformat()


def month_label(month: str) -> str:
    y, m = month.split("-")
    return f"{y}年{int(m)}月"


def closed_months(site: Site) -> list[str]:
    """Months from the first closed ticket to the current month, oldest first."""
    r = site.state.query("SELECT min(closed_at) AS lo FROM rows WHERE closed_at IS NOT NULL")[0]
    current = month_of(site.now)
    if not r["lo"]:
        return [current]
    out, m = [], month_of(parse_ts(r["lo"]))
    while m <= current:
        out.append(m)
        m = next_month(m)
    return out


# -- statistics ------------------------------------------------------------------------


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(successes: int, n: int, z: float) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (None without observations)."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Rate:
    key: str
    num: int
    den: int
    low: float | None
    high: float | None

    @property
    def value(self) -> float | None:
        return self.num / self.den if self.den else None


def competition_ranks(scores: list[float]) -> list[int]:
    """Ranks of scores sorted best first; equal scores share a rank (1, 2, 2, 4)."""
    ranks: list[int] = []
    for i, s in enumerate(scores):
        ranks.append(ranks[i - 1] if i and s == scores[i - 1] else i + 1)
    return ranks


# -- the ranking -------------------------------------------------------------------------


@dataclass
class Standing:
    department: str
    name: str
    group: str
    n: int
    rates: dict[str, Rate]
    shirking: int
    reopens: int
    base: float | None = None
    shirking_penalty: float = 0.0
    reopen_penalty: float = 0.0
    score: float | None = None
    rank: int | None = None
    of: int = 0  # ranked departments in the group
    on_list: str | None = None  # "red" | "yellow"
    reasons: list[str] = field(default_factory=list)

    @property
    def ranked(self) -> bool:
        return self.rank is not None


@dataclass
class GroupRanking:
    code: str
    name: str
    ranked: list[Standing]
    unranked: list[Standing]

    @property
    def red(self) -> list[Standing]:
        return [s for s in self.ranked if s.on_list == "red"]

    @property
    def yellow(self) -> list[Standing]:
        return [s for s in self.ranked if s.on_list == "yellow"]


@dataclass
class MonthRanking:
    month: str
    final: bool
    as_of: str  # ISO UTC of the data
    groups: list[GroupRanking]

    def standing(self, department: str) -> Standing | None:
        for g in self.groups:
            for s in g.ranked + g.unranked:
                if s.department == department:
                    return s
        return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MonthRanking:
        d = json.loads(text)

        def standing(s: dict) -> Standing:
            s["rates"] = {k: Rate(**v) for k, v in s["rates"].items()}
            return Standing(**s)

        groups = [GroupRanking(g["code"], g["name"], [standing(s) for s in g["ranked"]], [standing(s) for s in g["unranked"]])
                  for g in d["groups"]]
        return cls(d["month"], d["final"], d["as_of"], groups)


def score(standing: Standing, policy: RankingPolicy) -> None:
    """Fill in base, penalties and score (rounded to 0.01, the precision ties are judged at)."""
    have = {k: r.value for k, r in standing.rates.items() if r.value is not None and k in policy.weights}
    weight = sum(policy.weights[k] for k in have)
    standing.base = 100 * sum(policy.weights[k] * v for k, v in have.items()) / weight if weight else None
    per100 = 100 / standing.n if standing.n else 0
    standing.shirking_penalty = policy.penalties["shirking_per_ticket"] * standing.shirking * per100
    standing.reopen_penalty = policy.penalties["reopen_per_ticket"] * standing.reopens * per100
    if standing.base is not None:
        standing.score = round(standing.base - standing.shirking_penalty - standing.reopen_penalty, 2)


def rank_group(standings: list[Standing], policy: RankingPolicy) -> tuple[list[Standing], list[Standing]]:
    """Split a group into ranked (with rank and list) and unranked departments."""
    ranked = [s for s in standings if s.n >= policy.min_tickets and s.score is not None]
    unranked = sorted((s for s in standings if s not in ranked), key=lambda s: (-s.n, s.department))
    ranked.sort(key=lambda s: (-s.score, s.department))
    for s, r in zip(ranked, competition_ranks([s.score for s in ranked]), strict=True):
        s.rank, s.of = r, len(ranked)
    size = min(policy.list_size, len(ranked) // 2)
    if size:
        for s in ranked:
            if s.rank <= size:
                s.on_list = "red"
        rest = [s for s in reversed(ranked) if s.on_list is None]
        for s, r in zip(rest, competition_ranks([-s.score for s in rest]), strict=True):
            if r <= size:
                s.on_list = "yellow"
    _explain(ranked)
    return ranked, unranked


def _explain(ranked: list[Standing]) -> None:
    """Why a listed department is there: its rates furthest from the group's median, and penalties."""
    medians = {}
    for key in INDICATORS:
        values = [s.rates[key].value for s in ranked if s.rates[key].value is not None]
        medians[key] = median(values) if values else None
    for s in ranked:
        if s.on_list is None:
            continue
        gaps = []
        for key, (label, *_rest) in INDICATORS.items():
            v, m = s.rates[key].value, medians[key]
            if v is not None and m is not None:
                gaps.append((v - m, label, v, m))
        gaps.sort(reverse=s.on_list == "red")
        for gap, label, v, m in gaps[:2]:
            if (gap > 0) == (s.on_list == "red") and gap != 0:
                s.reasons.append(f"{label}{fmt_pct(v)}，{'高于' if gap > 0 else '低于'}组内中位数{fmt_pct(m)}")
        if s.on_list == "red" and not s.shirking:
            s.reasons.append("无推诿退单")
        if s.on_list == "yellow" and s.shirking_penalty:
            s.reasons.append(f"推诿退单{s.shirking}次，扣{s.shirking_penalty:.2f}分")
        if s.on_list == "yellow" and s.reopen_penalty:
            s.reasons.append(f"重办{s.reopens}次，扣{s.reopen_penalty:.2f}分")
        if not s.reasons:
            s.reasons.append("各项指标与组内其他单位接近，综合得分排在" + ("前列" if s.on_list == "red" else "末位"))


def compute(site: Site, month: str) -> MonthRanking:
    """The red and yellow lists of one month from the public rows."""
    catalog: Catalog = site.catalog
    policy = catalog.ranking
    z = z_value(policy.confidence)
    start, end = month_start(month), month_start(next_month(month))
    sums = ", ".join(f"sum({num}) AS {k}_num, sum({den}) AS {k}_den" for k, (_l, _d, num, den) in INDICATORS.items())
    found = {r["department"]: r for r in site.state.query(SQL.format(sums=sums), (utc_iso(start), utc_iso(end)))}
    groups = []
    for code, name in policy.groups.items():
        standings = []
        for d in catalog.departments:
            if d.group != code:
                continue
            r = found.get(d.code)
            rates = {}
            for key in INDICATORS:
                num, den = (r[f"{key}_num"] or 0, r[f"{key}_den"] or 0) if r else (0, 0)
                lo_hi = wilson(num, den, z)
                rates[key] = Rate(key, num, den, *(lo_hi or (None, None)))
            s = Standing(d.code, d.short, code, r["n"] if r else 0, rates, (r["shirking"] or 0) if r else 0, (r["reopens"] or 0) if r else 0)
            score(s, policy)
            standings.append(s)
        ranked, unranked = rank_group(standings, policy)
        groups.append(GroupRanking(code, name, ranked, unranked))
    final = site.now >= end
    return MonthRanking(month, final, utc_iso(min(site.now, end)), groups)


def month_ranking(site: Site, month: str, *, refresh: bool = False) -> MonthRanking:
    """A closed month's lists as first computed (kept in the state), or the current month's."""
    key = META_PREFIX + month
    if not refresh:
        cached = site.state.get_meta(key)
        if cached:
            kept = MonthRanking.from_json(cached)
            if kept.final:
                return kept
    memo_key = ("ranking", month)
    if memo_key in site.memo:
        return site.memo[memo_key]
    ranking = compute(site, month)
    if ranking.final:
        site.state.set_meta(key, ranking.to_json())
    else:
        # An open month's sums, once per pass (a Site lives for one pass): the episode
        # pages and the rankings page show the same figures, and at 1 M the pass sums
        # the month's ~300,000 closed tickets once, not twice.
        site.memo[memo_key] = ranking
        if month == month_of(site.now):
            site.state.set_meta(CURRENT_META, ranking.to_json())
    return ranking


def current_ranking(site: Site, *, refresh: bool = False) -> MonthRanking:
    """The current month's lists: as the slow lane last kept them (at most a minute old,
    like the rankings page), or computed now if `refresh` or none is kept for this month."""
    month = month_of(site.now)
    if not refresh:
        kept = site.state.get_meta(CURRENT_META)
        if kept:
            ranking = MonthRanking.from_json(kept)
            if ranking.month == month:
                return ranking
    return month_ranking(site, month, refresh=True)


# -- pages ---------------------------------------------------------------------------------


def path_for(month: str | None = None) -> str:
    return "rankings/" + (f"{month}/" if month else "")


def _feed_links(site: Site) -> list[tuple[str, str, str]]:
    rss, atom = feed_paths(FEED.slug)
    return [(FEED.title, site.url(rss), "application/rss+xml"), (FEED.title, site.url(atom), "application/atom+xml")]


def _month_page(site: Site, ranking: MonthRanking, months: list[str], *, path: str, heading_note: str = "") -> Output:
    policy = site.catalog.ranking
    label = month_label(ranking.month)
    html = site.page(
        "rankings.html",
        title=f"{label}红黄榜",
        active="/rankings/",
        r=ranking,
        label=label,
        policy=policy,
        indicators=INDICATORS,
        months=sorted(months, reverse=True),
        note=heading_note,
        is_index=path == path_for(),
        feeds=_feed_links(site),
        description=f"{label}{policy.list_names['red']}、{policy.list_names['yellow']}：各承办单位按响应、解决、满意、按时办结评分排名。",
    )
    return Output(path + "index.html", html, key=f"rankings/{ranking.month}")


def render_month(site: Site, ranking: MonthRanking, months: list[str]) -> Output:
    return _month_page(site, ranking, months, path=path_for(ranking.month))


def render_index(site: Site, ranking: MonthRanking, months: list[str]) -> Output:
    return _month_page(site, ranking, months, path=path_for())


def render_method(site: Site) -> Output:
    policy = site.catalog.ranking
    html = site.page(
        "rankings_method.html",
        title="红黄榜评价方法",
        active="/rankings/",
        policy=policy,
        indicators=INDICATORS,
        z=z_value(policy.confidence),
        groups=[(code, name, [d.short for d in site.catalog.departments if d.group == code]) for code, name in policy.groups.items()],
        description="红黄榜的计分公式、权重、扣分、最低工单数和上榜规则。",
    )
    return Output("rankings/method/index.html", html, key="rankings/method")


def render_history(site: Site, rankings: list[MonthRanking]) -> Output:
    policy = site.catalog.ranking
    months = [r.month for r in rankings][-12:]
    by_month = {r.month: r for r in rankings}
    groups = []
    for code, name in policy.groups.items():
        lines = []
        for d in site.catalog.departments:
            if d.group != code:
                continue
            cells = [by_month[m].standing(d.code) for m in months]
            lines.append((d, cells))
        groups.append((name, lines))
    html = site.page(
        "rankings_history.html",
        title="红黄榜历史排名",
        active="/rankings/",
        months=months,
        labels=[month_label(m) for m in months],
        current={r.month: not r.final for r in rankings},
        groups=groups,
        policy=policy,
        feeds=_feed_links(site),
    )
    return Output("rankings/history/index.html", html, key="rankings/history")


def feed_items(site: Site, rankings: Iterable[MonthRanking]) -> list[Item]:
    """One item per list per closed month: the departments on it and why."""
    root = site.site_url.rstrip("/") + site.base
    names = site.catalog.ranking.list_names
    items = []
    for r in rankings:
        if not r.final:
            continue
        issued = month_start(next_month(r.month))
        for which in ("red", "yellow"):
            lines = []
            for g in r.groups:
                listed = g.red if which == "red" else g.yellow
                if listed:
                    lines.append(f"【{g.name}】" + "；".join(f"第{s.rank}名 {s.name}（{s.score:.2f}分：{'，'.join(s.reasons)}）" for s in listed))
            if not lines:
                continue
            link = f"{root}{path_for(r.month)}"
            items.append(Item(
                guid=f"{link}#{which}", title=f"{month_label(r.month)}{names[which]}", link=link,
                published=issued, updated=issued, summary="\n".join(lines), categories=(names[which],),
            ))
    return items


def render_feed_outputs(site: Site, rankings: list[MonthRanking]) -> list[Output]:
    return render_feed(FEED, feed_items(site, rankings), site_url=site.site_url, base=site.base, fallback_time=site.now)


# -- the section ---------------------------------------------------------------------------


def _pages(site: Site, months: list[str], rankings: list[MonthRanking], fresh: list[MonthRanking]) -> Iterator[Output]:
    for r in fresh:
        yield render_month(site, r, months)
    yield render_index(site, rankings[-1], months)
    yield render_history(site, rankings)
    yield from render_feed_outputs(site, rankings)


class RankingsSection:
    name = "rankings"

    def full(self, site: Site) -> Iterable[Output]:
        months = closed_months(site)
        rankings = [month_ranking(site, m, refresh=True) for m in months]
        yield render_method(site)
        yield from _pages(site, months, rankings, rankings)

    def changed(self, site: Site, before: list[Row | None], after: list[Row | None]) -> Iterable[Output]:
        return []  # the current month is refreshed by the slow lane (periodic)

    def periodic(self, site: Site) -> Iterable[Output]:
        months = closed_months(site)
        rankings = [month_ranking(site, m) for m in months]
        # The current month, and the month before it (final from its first day on).
        return list(_pages(site, months, rankings, rankings[-2:]))


SECTION = RankingsSection()
if not any(slug == FEED.slug for _g, slug, _t, _p in feed_pages.FEED_REGISTRY):
    feed_pages.FEED_REGISTRY.append(("红黄榜", FEED.slug, "红黄榜（每月定榜）", FEED.page))

"""Early warning (事件预警): frequent, new and bursting matters, and group complaints.

Computed on every full build and in the slow lane over a sliding window that ends at the
build time, from the public rows and their redacted text, with the thresholds of
data/catalog/warnings.yaml:

- window: the last `window_hours`; baseline: the `baseline_days` before the window.
- A matter is a category (the leaf the ticket was filed under) or a keyword of the
  catalog's `keywords` found in the text; it is counted per area and city-wide.
- 多发 (frequent): a matter has at least `frequent.min_count` tickets in one area
  within the window.
- 新发 (new): a matter has at least `new.min_count` tickets in the window and none in
  the baseline (in that area, or city-wide).
- 爆发 (burst): one-sided Poisson test. With b baseline tickets over B hours, the
  expected count in the W-hour window is mu = (b + 0.5) * W / B (the 0.5 keeps a matter
  never seen before from having a rate of zero); a window count k with k >=
  `burst.min_count` and P(X >= k | mu) < `burst.p_value` is a burst. With
  `burst.bonferroni: 1` the p-value is multiplied by the number of tests in the run
  (every matter and area with k >= min_count), so that a quiet run of hundreds of
  matters raises a false alarm with probability below p_value, not hundreds of times it.
- 群体性投诉 (group complaint): the same estate, employer or place (found in the text,
  see generator.analytics) named by at least `group_complaint.min_count` tickets within
  `group_complaint.window_hours`, and a burst against its own baseline by the same test.

Each warning keeps the ids of the tickets that triggered it. The public page
/reports/hotspots/ shows matters and counts only: categories (not keywords), areas,
numbers; no ticket ids and no place or employer names. The full list goes only to staff:
`write_internal(config, out_dir)` (a folder outside the site) and `staff_warnings(config)`
(JSON-able, for an API endpoint behind a staff token); both read the list the last
build or slow-lane run kept in the private state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from intake_api.catalog import Catalog, WarningPolicy

from . import analytics, charts
from .pages.context import Site
from .render import Output
from .rows import Row
from .state import State

log = logging.getLogger(__name__)

REFRESH_SECONDS = 50.0
META = "warnings:internal"
KIND_LABELS = {"group": "群体性投诉", "burst": "爆发", "new": "新发", "frequent": "多发"}
KIND_ORDER = {"group": 0, "burst": 1, "new": 2, "frequent": 3}
CITY = ""  # area code of city-wide warnings


class PolicyError(ValueError):
    """warnings.yaml lacks a threshold the early warning needs."""


@dataclass(frozen=True)
class Thresholds:
    """The catalog's warning policy, checked once."""

    window_hours: float
    baseline_days: float
    frequent_min: int
    new_min: int
    burst_p: float
    burst_min: int
    bonferroni: bool
    group_min: int
    group_window_hours: float
    keywords: tuple[str, ...]

    @classmethod
    def from_policy(cls, p: WarningPolicy) -> Thresholds:
        def need(group: str, key: str) -> float:
            try:
                return float(getattr(p, group)[key])
            except KeyError:
                raise PolicyError(f"warnings.yaml: field '{group}.{key}' is required") from None

        t = cls(
            window_hours=p.window_hours, baseline_days=p.baseline_days,
            frequent_min=int(need("frequent", "min_count")), new_min=int(need("new", "min_count")),
            burst_p=need("burst", "p_value"), burst_min=int(need("burst", "min_count")),
            bonferroni=bool(p.burst.get("bonferroni", 0)),
            group_min=int(need("group_complaint", "min_count")), group_window_hours=need("group_complaint", "window_hours"),
            keywords=tuple(k for k in p.keywords if k.strip()),
        )
        if not 0 < t.burst_p < 1:
            raise PolicyError("warnings.yaml: field 'burst.p_value' must be between 0 and 1")
        return t


@dataclass(frozen=True)
class Alert:
    """One warning, with everything staff need to act on it."""

    id: str
    kind: str  # group | burst | new | frequent
    matter_kind: str  # category | keyword | place
    matter: str  # category code, keyword, or the place's category code (group)
    label: str  # what the matter is called
    area: str  # area code; "" for city-wide
    area_name: str
    count: int  # tickets in the window
    baseline: int  # tickets in the baseline period
    expected: float  # expected in the window from the baseline rate
    p_value: float | None  # raw one-sided Poisson p-value
    p_adjusted: float | None  # after the Bonferroni correction (= p_value without it)
    window_start: str
    window_end: str
    first_at: str
    last_at: str
    ticket_ids: tuple[str, ...]
    place: str = ""  # group complaints: the estate, employer or place (staff only)
    place_kind: str = ""
    public: bool = True

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ticket_ids"] = list(self.ticket_ids)
        d["kind_label"] = KIND_LABELS[self.kind]
        return d

    def public_dict(self) -> dict[str, Any]:
        """What the public summary may say: the matter, the area, the counts."""
        return {
            "kind": self.kind, "kind_label": KIND_LABELS[self.kind], "matter": self.matter, "label": self.label,
            "area": self.area, "area_name": self.area_name, "count": self.count, "baseline": self.baseline,
            "expected": round(self.expected, 2),
        }


@dataclass
class Result:
    alerts: list[Alert]
    window_start: datetime
    window_end: datetime
    baseline_start: datetime
    thresholds: Thresholds
    window_counts: dict[str, int] = field(default_factory=dict)  # category -> tickets in the window
    area_counts: dict[str, int] = field(default_factory=dict)  # area -> tickets in the window


# -- computing -------------------------------------------------------------------------------


def _slice(state: State, start: datetime, tz: ZoneInfo) -> pd.DataFrame:
    """Tickets received since `start`: id, received_at (UTC), category, area, content."""
    day = start.astimezone(tz).date().isoformat()
    df = pd.read_sql_query(
        "SELECT r.id, r.received_at, r.category, r.area, t.content FROM rows r LEFT JOIN texts t ON t.id = r.id WHERE r.day >= ?",
        state.db, params=(day,),
    )
    df["received_at"] = pd.to_datetime(df["received_at"], utc=True, format="ISO8601")
    return df[df["received_at"] > pd.Timestamp(start)].reset_index(drop=True)


def _alert_id(*parts: str) -> str:
    return "W" + hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def _iso(ts: Any) -> str:
    return pd.Timestamp(ts).tz_convert(UTC).isoformat().replace("+00:00", "Z")


def compute(state: State, catalog: Catalog, now: datetime) -> Result:
    """Every warning of the window that ends at `now`."""
    t = Thresholds.from_policy(catalog.warnings)
    tz = ZoneInfo(catalog.city.timezone)
    end = now.astimezone(UTC)
    w_start = end - timedelta(hours=t.window_hours)
    b_start = w_start - timedelta(days=t.baseline_days)
    g_start = end - timedelta(hours=t.group_window_hours)
    df = _slice(state, min(b_start, g_start - timedelta(days=t.baseline_days)), tz)
    df = df[df["received_at"] <= pd.Timestamp(end)].reset_index(drop=True)
    names = catalog.categories
    area_name = {a.code: a.name for a in catalog.areas}

    # One row per (ticket, matter): its category, and each keyword its text contains.
    matters = [df.assign(matter_kind="category", matter=df["category"])[df["category"].notna()]]
    if t.keywords and len(df):
        kw = df["content"].fillna("").str.findall("|".join(map(re.escape, t.keywords)))
        kw = kw.explode().dropna()
        hits = df.loc[kw.index].assign(matter_kind="keyword", matter=kw.to_numpy())
        matters.append(hits.drop_duplicates(["id", "matter"]))
    m = pd.concat(matters, ignore_index=True)
    m["area"] = m["area"].fillna("")
    in_window = m["received_at"] > pd.Timestamp(w_start)
    in_base = (m["received_at"] > pd.Timestamp(b_start)) & ~in_window
    ratio = t.window_hours / (t.baseline_days * 24)

    alerts: list[Alert] = []
    tests: list[tuple[float, dict]] = []  # (p, fields) of every burst test
    city = m.assign(area=CITY)
    for scope, frame in (("area", m[m["area"] != ""]), ("city", city)):
        iw = in_window.loc[frame.index]
        ib = in_base.loc[frame.index]
        keys = ["matter_kind", "matter", "area"]
        win = frame[iw.to_numpy()].groupby(keys).agg(count=("id", "size"), first=("received_at", "min"), last=("received_at", "max"), ids=("id", lambda s: tuple(sorted(s))))
        base = frame[ib.to_numpy()].groupby(keys).size()
        for (mk, matter, area), r in win.iterrows():
            b = int(base.get((mk, matter, area), 0))
            k = int(r["count"])
            label = names[matter].name if mk == "category" and matter in names else str(matter)
            common = dict(matter_kind=mk, matter=str(matter), label=label, area=area, area_name=area_name.get(area, "全市"),
                          count=k, baseline=b, expected=round(b * ratio, 3), window_start=_iso(w_start), window_end=_iso(end),
                          first_at=_iso(r["first"]), last_at=_iso(r["last"]), ticket_ids=r["ids"], public=mk == "category")
            if k >= t.burst_min:
                tests.append((analytics.poisson_sf(k, (b + 0.5) * ratio), common))
            if b == 0 and k >= t.new_min:
                alerts.append(Alert(id=_alert_id("new", mk, str(matter), area), kind="new", p_value=None, p_adjusted=None, **common))
            if scope == "area" and k >= t.frequent_min:
                alerts.append(Alert(id=_alert_id("frequent", mk, str(matter), area), kind="frequent", p_value=None, p_adjusted=None, **common))
    factor = len(tests) if t.bonferroni else 1
    for p, common in tests:
        if p * factor < t.burst_p:
            alerts.append(Alert(id=_alert_id("burst", common["matter_kind"], common["matter"], common["area"]), kind="burst",
                                p_value=p, p_adjusted=min(1.0, p * factor), **common))
    alerts += _group_complaints(df, catalog, t, end, g_start, area_name)
    alerts.sort(key=lambda a: (KIND_ORDER[a.kind], -a.count, a.area, a.matter))
    window = df[df["received_at"] > pd.Timestamp(w_start)]
    return Result(
        alerts=alerts, window_start=w_start, window_end=end, baseline_start=b_start, thresholds=t,
        window_counts={str(k): int(v) for k, v in window.groupby("category").size().items()},
        area_counts={str(k): int(v) for k, v in window.groupby("area").size().items()},
    )


def _group_complaints(df: pd.DataFrame, catalog: Catalog, t: Thresholds, end: datetime, g_start: datetime, area_name: dict) -> list[Alert]:
    """Many tickets naming one place or employer within the group window, far above its own baseline."""
    if df.empty:
        return []
    places = analytics.extract_places(df["content"].fillna(""), catalog)
    if places.empty:
        return []
    pl = places.join(df[["id", "received_at", "category", "area"]], on="pos")
    b_start = g_start - timedelta(days=t.baseline_days)
    win = pl[pl["received_at"] > pd.Timestamp(g_start)]
    counts = win.groupby("key", observed=True).size()
    candidates = counts[counts >= t.group_min].index
    if len(candidates) == 0:
        return []
    base = pl[(pl["received_at"] > pd.Timestamp(b_start)) & (pl["received_at"] <= pd.Timestamp(g_start))]
    base_counts = base.groupby("key", observed=True).size()
    names = analytics.display_names(pl)
    ratio = t.group_window_hours / (t.baseline_days * 24)
    out = []
    factor = len(candidates) if t.bonferroni else 1
    for key in sorted(map(str, candidates)):
        rows = win[win["key"] == key]
        k, b = len(rows), int(base_counts.get(key, 0))
        p = analytics.poisson_sf(k, (b + 0.5) * ratio)
        if p * factor >= t.burst_p:
            continue
        category = _mode(rows["category"])
        area = _mode(rows["area"])
        label = catalog.categories[category].name if category in catalog.categories else "其他"
        out.append(Alert(
            id=_alert_id("group", key), kind="group", matter_kind="place", matter=category or "", label=label,
            area=area or CITY, area_name=area_name.get(area or "", "全市"), count=k, baseline=b, expected=round(b * ratio, 3),
            p_value=p, p_adjusted=min(1.0, p * factor), window_start=_iso(g_start), window_end=_iso(end), first_at=_iso(rows["received_at"].min()),
            last_at=_iso(rows["received_at"].max()), ticket_ids=tuple(sorted(rows["id"])), place=names.get(key, key),
            place_kind=str(rows["kind"].iloc[0]), public=True,
        ))
    return out


def _mode(s: pd.Series) -> str:
    s = s.dropna().astype(str)
    if s.empty:
        return ""
    c = s.value_counts()
    return sorted(c[c == c.max()].index)[0]


# -- staff output (never in site/) ------------------------------------------------------------


def internal_payload(result: Result, catalog: Catalog) -> dict[str, Any]:
    t = result.thresholds
    return {
        "city": catalog.city.name,
        "generated_for": _iso(result.window_end),
        "window": {"start": _iso(result.window_start), "end": _iso(result.window_end), "baseline_start": _iso(result.baseline_start)},
        "thresholds": asdict(t) | {"keywords": list(t.keywords)},
        "test": "one-sided Poisson: P(X >= k | mu = (baseline + 0.5) * window / baseline period), times the number of tests when burst.bonferroni is 1, < burst.p_value",
        "warnings": [a.as_dict() for a in result.alerts],
    }


def _keep(site: Site, result: Result) -> None:
    """Keep the full list in the private state, where staff outputs read it."""
    site.state.set_meta(META, json.dumps(internal_payload(result, site.catalog), ensure_ascii=False, sort_keys=True))


class _ReadOnlyState(State):
    """The build's state opened read-only (the API process must not write it)."""

    def __init__(self, path: Path) -> None:  # noqa: D107 - no schema work, no writes
        self.path = Path(path)
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self.db.row_factory = sqlite3.Row


def staff_warnings(config, *, recompute: bool = False) -> dict[str, Any]:
    """The full warning list with the triggering ticket ids, as JSON-able data (staff only).

    Reads the list the last build or slow-lane run kept in the private state; with
    `recompute` (or when there is none) computes it now from the state.
    """
    from intake_api.catalog import load_catalog

    path = config.state_dir / "state.sqlite"
    if not path.exists():
        return {"warnings": [], "generated_for": None}
    state = _ReadOnlyState(path)
    try:
        raw = None if recompute else state.get_meta(META)
        if raw:
            return json.loads(raw)
        catalog = load_catalog(config.catalog_dir)
        return internal_payload(compute(state, catalog, config.clock_now()), catalog)
    finally:
        state.close()


def _inside_site(config, out: Path) -> bool:
    """Whether `out` is in the public site or one of its build folders."""
    site = config.site_dir
    roots = {site.absolute(), site.resolve()}
    roots |= {p.absolute() for p in site.absolute().parent.glob(f".{site.name}-build-*")}
    target = out.absolute()
    resolved = out.resolve()
    return any(t == r or t.is_relative_to(r) for r in roots for t in (target, resolved))


def write_internal(config, out_dir: Path) -> Path:
    """Write the staff warning list (JSON and a plain HTML table) into `out_dir`; never into site/."""
    out_dir = Path(out_dir)
    if _inside_site(config, out_dir):
        raise ValueError(f"{out_dir}: the internal warning list must not be written inside the public site ({config.site_dir})")
    payload = staff_warnings(config, recompute=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "warnings.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    (out_dir / "warnings.html").write_text(_internal_html(payload, config.base_url), encoding="utf-8")
    return path


def _internal_html(payload: dict, base: str) -> str:
    from markupsafe import escape

    rows = []
    for w in payload.get("warnings", []):
        p = "" if w["p_value"] is None else f"{w['p_value']:.2g}"
        links = " ".join(f'<a href="{escape(base)}tickets/{escape(i)}/">{escape(i)}</a>' for i in w["ticket_ids"][:50])
        rows.append(
            f"<tr><td>{escape(w['kind_label'])}</td><td>{escape(w['label'])}</td><td>{escape(w['place'])}</td>"
            f"<td>{escape(w['area_name'])}</td><td>{w['count']}</td><td>{w['baseline']}</td>"
            f"<td>{p}</td><td>{links}</td></tr>"
        )
    return (
        '<!doctype html><html lang="zh"><meta charset="utf-8"><title>事件预警（内部）</title>'
        f"<h1>事件预警（内部，勿公开）</h1><p>窗口：{escape(payload.get('window', {}).get('start', ''))} — {escape(payload.get('window', {}).get('end', ''))}</p>"
        "<table border=1 cellpadding=4><tr><th>类型</th><th>事项</th><th>场所/企业</th><th>区域</th><th>窗口件数</th><th>基线件数</th><th>p</th><th>工单</th></tr>"
        + "".join(rows) + "</table></html>\n"
    )


# -- the public hotspots page ------------------------------------------------------------------


def render_hotspots(site: Site, result: Result) -> list[Output]:
    names = site.names
    public = [a for a in result.alerts if a.public]
    t = result.thresholds
    per_day = t.baseline_days
    rows = [{**a.public_dict(), "baseline_daily": a.baseline / per_day} for a in public]
    top = sorted(result.window_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    tiles = [charts.Tile(a.code, a.name, result.area_counts.get(a.code, 0), a.centroid.lat, a.centroid.lon) for a in site.catalog.areas]
    by_kind = {k: sum(1 for a in public if a.kind == k) for k in KIND_LABELS}
    html = site.page(
        "hotspots.html", title="热点与预警", active="/reports/",
        description="近期群众诉求的多发、新发、爆发事项和群体性投诉（只含事项与数量）。",
        rows=rows, by_kind=by_kind, kind_labels=KIND_LABELS, t=t,
        window_start=result.window_start, window_end=result.window_end,
        top_chart=charts.bar_chart([(names.category(c), n) for c, n in top], title=f"近{t.window_hours:g}小时诉求最多的事项"),
        tiles=charts.tile_grid(tiles, title=f"近{t.window_hours:g}小时各县区受理量", city=site.catalog.city.name.rstrip("市")),
        json_href=site.url("reports/hotspots/hotspots.json"),
    )
    summary = {
        "window": {"start": _iso(result.window_start), "end": _iso(result.window_end)},
        "counts": by_kind, "warnings": [a.public_dict() for a in public],
        "top_matters": {c: n for c, n in top},
    }
    return [
        Output("reports/hotspots/index.html", html, key="hotspots"),
        Output("reports/hotspots/hotspots.json", json.dumps(summary, ensure_ascii=False, sort_keys=True, indent=1) + "\n", key="hotspots/json"),
    ]


class WarningsSection:
    name = "warnings"

    def full(self, site: Site) -> Iterable[Output]:
        t0 = time.perf_counter()
        result = compute(site.state, site.catalog, site.now)
        _keep(site, result)
        site.state.set_meta("warnings:refreshed", repr(time.time()))
        log.info("warnings: %d (%s) in %.2f s", len(result.alerts), ", ".join(f"{k} {sum(1 for a in result.alerts if a.kind == k)}" for k in KIND_LABELS), time.perf_counter() - t0)
        return render_hotspots(site, result)

    def changed(self, site: Site, before: list[Row | None], after: list[Row | None]) -> Iterable[Output]:
        return []  # the slow lane recomputes the window

    def periodic(self, site: Site) -> Iterable[Output]:
        last = site.state.get_meta("warnings:refreshed")
        if last is not None and time.time() - float(last) < REFRESH_SECONDS:
            return []
        site.state.set_meta("warnings:refreshed", repr(time.time()))
        result = compute(site.state, site.catalog, site.now)
        _keep(site, result)
        return render_hotspots(site, result)


SECTION = WarningsSection()

__all__ = ["Alert", "SECTION", "Thresholds", "compute", "staff_warnings", "write_internal"]

"""Aggregation of the public rows with pandas: one frame per build, periods, places.

The frame is read once per State (columns only, in chunks, strings as categoricals),
so a full build's reports, warnings and profiles share one pass over the table and
every aggregate is a groupby, never a loop over tickets.

The rate definitions are those of `generator.figures`: the per-ticket terms of its SQL
(`sum(on_time = 1) AS on_time_n`, ...) are evaluated by SQLite for each row, summed by
pandas per group, and turned into `Figures` by `figures.figures` itself, so that there
is one definition of every rate.

Places (estates, employers, roads...) are found in the redacted text with simple
patterns: a run of Chinese characters ending in a place suffix (小区, 花园, 有限公司,
厂, 工地, 路...), cut after the last function word (在, 的, 是...), with the city, area
and street names in front removed. Good enough to group repeated tickets; not a
gazetteer.
"""

from __future__ import annotations

import logging
import math
import re
import time
import weakref
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from intake_api.catalog import Catalog

from . import figures as figures_mod
from .figures import Figures
from .state import State

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000

# -- one definition of the rates: the terms of figures.SQL ----------------------------

_SUM = re.compile(r"sum\((.+?)\) AS (\w+)")
_AVG = re.compile(r"avg\((\w+)\) AS (\w+)")


@dataclass(frozen=True)
class Terms:
    """The per-ticket terms of figures.SQL: (alias, SQL expression) and the averaged column.

    Most terms are conditions (`on_time = 1`): SQLite packs them into the bits of one
    integer per ticket, so that a million rows cross into Python as one column, not
    twelve. The others are plain columns (`returns`) read as they are.
    """

    sums: tuple[tuple[str, str], ...]
    avg_column: str
    avg_alias: str

    @property
    def columns(self) -> list[str]:
        return [f"t_{alias}" for alias, _ in self.sums]

    @property
    def flags(self) -> list[tuple[str, str]]:
        return [(a, e) for a, e in self.sums if not _COLUMN.fullmatch(e)]

    @property
    def counts(self) -> list[tuple[str, str]]:
        return [(a, e) for a, e in self.sums if _COLUMN.fullmatch(e)]

    def flags_sql(self) -> str:
        return " | ".join(f"(coalesce({e}, 0) << {i})" for i, (_a, e) in enumerate(self.flags)) or "0"


_COLUMN = re.compile(r"[a-z_]+")


def terms() -> Terms:
    sql = figures_mod.SQL
    sums = tuple((alias, expr) for expr, alias in _SUM.findall(sql))
    avg = _AVG.search(sql)
    if not sums or avg is None or "count(*) AS n" not in sql:  # pragma: no cover - figures.py changed shape
        raise RuntimeError("generator.figures.SQL no longer has the expected sum()/avg() terms")
    return Terms(sums=sums, avg_column=avg.group(1), avg_alias=avg.group(2))


class _OneRow:
    """Stands in for State so that figures.figures maps aggregated terms to Figures."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row

    def query(self, sql: str, params: tuple = ()) -> list[Mapping[str, Any]]:
        return [self.row]


def figures_from(agg: Mapping[str, Any]) -> Figures:
    """Figures of one group from its summed terms (`n`, `t_<alias>`..., `days_sum`, `days_n`)."""
    t = terms()
    row: dict[str, Any] = {alias: _int(agg.get(f"t_{alias}")) for alias, _ in t.sums}
    row["n"] = _int(agg.get("n"))
    days_n = _int(agg.get("days_n"))
    row[t.avg_alias] = float(agg["days_sum"]) / days_n if days_n else None
    return figures_mod.figures(_OneRow(row))  # type: ignore[arg-type]


def figures_dict(f: Figures) -> dict[str, Any]:
    """JSON form of Figures (rates rounded to 4 places, days to 2)."""
    out: dict[str, Any] = {}
    for k, v in f.__dict__.items():
        if isinstance(v, float):
            v = round(v, 2 if k == "avg_days" else 4)
        out[k] = v
    return out


def _int(v: Any) -> int:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return 0
    return int(v)


def aggregate(df: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Summed terms per group: n, t_*, days_sum, days_n (groups with no rows are absent)."""
    cols = terms().columns
    g = df.groupby(by, observed=True, sort=True)
    out = g[cols].sum()
    out["n"] = g.size()
    out["days_sum"] = g["handling_days"].sum()
    out["days_n"] = g["handling_days"].count()
    return out


def figures_by(df: pd.DataFrame, by: str | list[str]) -> dict[Any, Figures]:
    """Figures per group key."""
    agg = aggregate(df, by)
    return {key: figures_from(rec) for key, rec in zip(agg.index, agg.to_dict("records"), strict=True)}


# -- periods ------------------------------------------------------------------------

KINDS = ("daily", "weekly", "monthly")
KIND_LABELS = {"daily": "日报", "weekly": "周报", "monthly": "月报"}
KIND_NAMES = {"daily": "日汇总", "weekly": "周统计", "monthly": "月分析"}
WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: a local day, an ISO week or a month."""

    kind: str
    key: str  # 2026-11-27 | 2026-W48 | 2026-11
    start: date  # first day
    end: date  # day after the last

    @classmethod
    def of(cls, kind: str, day: date) -> Period:
        if kind == "daily":
            return cls(kind, day.isoformat(), day, day + timedelta(days=1))
        if kind == "weekly":
            y, w, wd = day.isocalendar()
            start = day - timedelta(days=wd - 1)
            return cls(kind, f"{y}-W{w:02d}", start, start + timedelta(days=7))
        if kind == "monthly":
            start = day.replace(day=1)
            nxt = (start + timedelta(days=32)).replace(day=1)
            return cls(kind, start.strftime("%Y-%m"), start, nxt)
        raise ValueError(f"unknown period kind {kind!r}")

    @classmethod
    def parse(cls, kind: str, key: str) -> Period:
        if kind == "daily":
            return cls.of(kind, date.fromisoformat(key))
        if kind == "weekly":
            y, w = key.split("-W")
            return cls.of(kind, date.fromisocalendar(int(y), int(w), 1))
        return cls.of(kind, date.fromisoformat(key + "-01"))

    @property
    def path(self) -> str:
        return f"reports/{self.kind}/{self.key}/"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        return Period.of(self.kind, self.start - timedelta(days=1))

    def following(self) -> Period:
        return Period.of(self.kind, self.end)

    def last_year(self) -> Period:
        """The same day, ISO week or month one year earlier."""
        if self.kind == "weekly":
            y, w, _ = self.start.isocalendar()
            weeks = date(y - 1, 12, 28).isocalendar()[1]
            return Period.of(self.kind, date.fromisocalendar(y - 1, min(w, weeks), 1))
        try:
            return Period.of(self.kind, self.start.replace(year=self.start.year - 1))
        except ValueError:  # 29 February
            return Period.of(self.kind, self.start.replace(year=self.start.year - 1, day=28))

    @property
    def label(self) -> str:
        s = self.start
        if self.kind == "daily":
            return f"{s.year}年{s.month}月{s.day}日（周{WEEKDAYS[s.weekday()]}）"
        if self.kind == "weekly":
            y, w, _ = s.isocalendar()
            last = self.end - timedelta(days=1)
            return f"{y}年第{w}周（{s.month}月{s.day}日—{last.month}月{last.day}日）"
        return f"{s.year}年{s.month}月"

    def is_closed(self, today: date) -> bool:
        return self.end <= today


def week_key(day: str) -> str:
    y, w, _ = date.fromisoformat(day).isocalendar()
    return f"{y}-W{w:02d}"


PERIOD_KEY = {"daily": lambda d: d, "weekly": week_key, "monthly": lambda d: d[:7]}


def local_today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


# -- the frame -----------------------------------------------------------------------


def _concat_categoricals(parts: list[pd.Categorical]) -> pd.Categorical:
    """One categorical of the chunks' ones, whatever a chunk holds.

    A chunk whose values are all missing has no categories, and pandas gives their empty
    index a type of its own (float for a column of None, object for days of NaT), which
    `union_categoricals` refuses beside the strings of the other chunks: the newest
    100,000 tickets all still open (no closing day) made the full build fail. Such a
    chunk takes the others' type; all of them missing, the column is one of strings.
    """
    kinds = [p.categories.dtype for p in parts if len(p.categories)]
    dtype = kinds[0] if kinds else pd.Index([""]).dtype
    parts = [p if len(p.categories) else pd.Categorical.from_codes(p.codes, categories=pd.Index([], dtype=dtype))
             for p in parts]
    if len(parts) == 1:
        return parts[0]
    return pd.api.types.union_categoricals(parts, sort_categories=True)


def _derive(s: pd.Series, fn) -> pd.Series:
    """Map a categorical's categories through fn (e.g. day -> week) without touching rows."""
    cats = list(s.cat.categories)
    mapped = [fn(c) for c in cats]
    uniq = sorted({m for m in mapped if m is not None})
    pos = {u: i for i, u in enumerate(uniq)}
    lookup = np.array([pos.get(m, -1) for m in mapped] + [-1], dtype=np.int32)
    codes = s.cat.codes.to_numpy()
    return pd.Series(pd.Categorical.from_codes(lookup[codes], categories=uniq, ordered=True), index=s.index)


def _local_days(utc: np.ndarray, tz: ZoneInfo) -> pd.Categorical:
    """'YYYY-MM-DD' (local) of UTC datetime64 values, as a categorical (NaT -> missing)."""
    local = pd.Series(utc).dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None).dt.floor("D")
    cat = local.astype("category")
    return cat.cat.rename_categories([d.strftime("%Y-%m-%d") for d in cat.cat.categories]).array


FRAME_STRINGS = ("id", "day", "channel", "category", "area", "department")
FRAME_INTS = ("returns", "shirking", "reopens", "supervision")


def load_frame(state: State, tz: ZoneInfo, *, since: str | None = None) -> pd.DataFrame:
    """Read the public rows (received or closed on/after local day `since`) into a frame.

    Columns: id (str); day, week, month, closed_day, closed_week, closed_month, channel,
    category, category_top, area, department (categoricals; the days ordered); returns,
    shirking, reopens, supervision (ints); handling_days (float); t_* (the figures terms,
    0/1 or counts); unsatisfied (0/1). Rows come in table order (`pos` of `texts_in_order`).
    """
    t = terms()
    cols = ", ".join((*FRAME_STRINGS, "substr(closed_at, 1, 19)", *(f"coalesce({c}, 0)" for c in FRAME_INTS), t.avg_column))
    sql = f"SELECT {cols}, {t.flags_sql()} FROM rows"
    params: tuple = ()
    if since:
        sql += " WHERE day >= ? OR closed_at >= ?"
        params = (since, _utc_start(since, tz))
    sql += " ORDER BY rowid"
    parts: dict[str, list] = {}
    cursor = state.db.execute(sql, params)
    while batch := cursor.fetchmany(CHUNK_ROWS):
        columns = list(zip(*batch, strict=True))
        out: dict[str, Any] = {"id": np.array(columns[0], dtype=object)}
        for i, c in enumerate(FRAME_STRINGS[1:], 1):
            out[c] = pd.Categorical(columns[i])
        k = len(FRAME_STRINGS)
        closed = np.array([x or "NaT" for x in columns[k]], dtype="datetime64[s]")
        out["closed_day"] = _local_days(closed, tz)
        for i, c in enumerate(FRAME_INTS, k + 1):
            out[c] = np.array(columns[i], dtype=np.int32)
        out["handling_days"] = np.array(columns[-2], dtype=np.float64)
        out["flags"] = np.array(columns[-1], dtype=np.int64)
        for name, v in out.items():
            parts.setdefault(name, []).append(v)
    if not parts:
        return _empty_frame(t)
    data = {name: _concat_categoricals(vs) if isinstance(vs[0], pd.Categorical) else np.concatenate(vs) for name, vs in parts.items()}
    flags = data.pop("flags")
    for i, (alias, _e) in enumerate(t.flags):
        data[f"t_{alias}"] = ((flags >> i) & 1).astype(np.int8)
    for alias, column in t.counts:
        data[f"t_{alias}"] = data[column]
    df = pd.DataFrame(data)
    return _with_periods(df, t)


def _utc_start(day: str, tz: ZoneInfo) -> str:
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), tz)
    return start.astimezone(ZoneInfo("UTC")).isoformat()


def _with_periods(df: pd.DataFrame, t: Terms) -> pd.DataFrame:
    for c in ("day", "closed_day"):  # dates sort as text: ordered, so min/max work
        df[c] = df[c].cat.as_ordered()
    df["category_top"] = _derive(df["category"], lambda c: c.split(".", 1)[0]).cat.as_unordered()
    df["week"] = _derive(df["day"], week_key)
    df["month"] = _derive(df["day"], lambda d: d[:7])
    df["closed_week"] = _derive(df["closed_day"], week_key)
    df["closed_month"] = _derive(df["closed_day"], lambda d: d[:7])
    if "t_rated" in df and "t_satisfied" in df:
        df["unsatisfied"] = (df["t_rated"] - df["t_satisfied"]).astype(np.int8)
    else:  # pragma: no cover - figures.py renamed its terms
        df["unsatisfied"] = np.zeros(len(df), dtype=np.int8)
    return df


def _empty_frame(t: Terms) -> pd.DataFrame:
    cols: dict[str, Any] = {"id": pd.Series([], dtype=object)}
    for c in (*FRAME_STRINGS[1:], "closed_day"):
        cols[c] = pd.Series(pd.Categorical([]))
    for c in (*FRAME_INTS, *t.columns):
        cols[c] = pd.Series([], dtype=np.int32)
    cols["handling_days"] = pd.Series([], dtype=np.float64)
    return _with_periods(pd.DataFrame(cols), t)


@dataclass
class Data:
    """The frame of one state, and what is derived from it on demand."""

    state: State
    catalog: Catalog
    tickets: pd.DataFrame
    tz: ZoneInfo
    timings: dict[str, float] = field(default_factory=dict)

    @cached_property
    def places(self) -> pd.DataFrame:
        """One row per (ticket, place): pos (row of `tickets`), kind, key, name."""
        t0 = time.perf_counter()
        contents = texts_in_order(self.state)
        if len(contents) != len(self.tickets):  # pragma: no cover - the table changed under us
            raise RuntimeError("the rows changed while the analytics read them")
        found = extract_places(contents, self.catalog)
        self.timings["places"] = time.perf_counter() - t0
        return found

    def places_with(self, columns: list[str]) -> pd.DataFrame:
        """The places joined with ticket columns (by position)."""
        return self.places.join(self.tickets[columns], on="pos")

    def texts_for(self, ids: Iterable[str]) -> pd.Series:
        """Redacted content of the given tickets."""
        return read_texts(self.state, ids)["content"].fillna("")


_MEMO: weakref.WeakKeyDictionary[State, tuple[tuple, Data]] = weakref.WeakKeyDictionary()


def data_for(state: State, catalog: Catalog) -> Data:
    """The full frame of `state`, read once per build (memoised while the rows are unchanged)."""
    stamp = tuple(state.query("SELECT count(*), max(updated_at) FROM rows")[0])
    hit = _MEMO.get(state)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    t0 = time.perf_counter()
    tz = ZoneInfo(catalog.city.timezone)
    data = Data(state=state, catalog=catalog, tickets=load_frame(state, tz), tz=tz)
    data.timings["frame"] = time.perf_counter() - t0
    log.info("analytics: read %d rows in %.2f s", len(data.tickets), data.timings["frame"])
    _MEMO[state] = (stamp, data)
    return data


def texts_in_order(state: State) -> pd.Series:
    """Redacted content of every public row, in the order of `load_frame` (whole table)."""
    cur = state.db.execute("SELECT t.content FROM rows r LEFT JOIN texts t ON t.id = r.id ORDER BY r.rowid")
    return pd.Series([r[0] for r in cur], dtype=object)


def read_texts(state: State, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Redacted content of the public tickets (all, or the given ids): columns id, content."""
    if ids is None:
        return pd.read_sql_query("SELECT id, content FROM texts", state.db)
    rows = state.texts(list(ids))
    return pd.DataFrame({"id": list(rows), "content": [r["content"] for r in rows.values()]})


# -- places in the text ---------------------------------------------------------------

SUFFIX_KINDS = {
    "employer": ("有限责任公司", "有限公司", "股份公司", "公司", "集团", "加工厂", "工厂", "厂", "工地", "项目部", "项目", "合作社"),
    "estate": ("小区", "花园", "家园", "新村", "公寓", "嘉苑", "雅居", "新城", "水城", "苑", "园", "城", "庭", "府", "湾", "大厦"),
    "place": ("大道", "路", "大街", "广场", "市场", "医院", "中学", "小学", "幼儿园", "学校", "公园", "车站", "大桥", "桥"),
}
_KIND_OF_SUFFIX = {s: k for k, v in SUFFIX_KINDS.items() for s in v}
# Longest first, so that 有限公司 wins over 公司; not a place end: 城区, 园区, 厂长, 厂家, 政府.
_ENDS = sorted(_KIND_OF_SUFFIX, key=len, reverse=True)
SUFFIX_RE = re.compile("(?:" + "|".join(e if e != "府" else "(?<!政)府" for e in _ENDS) + ")(?![区长家])")
MAX_NAME = 16
# A name starts after the last non-Chinese character or function word in front of it
# (住在凤凰水城 -> 凤凰水城; 柳青街道凤凰水城 -> 凤凰水城; 考棚街工地 -> 工地).
_LEAD = re.compile(
    r"[^\u4e00-\u9fff]+|住在|位于|在|的|是|给|到|向|被|从|了|把|说|让|帮|找|叫|这|那|我们|我|你们|他们|"
    r"附近|靠近|一家|一个|一处|一座|一条|一所|这所|就有|一下|旁边|对面|门口|反映|投诉|举报|关于|每天|晚上|今年|去年|"
    r"已经|还是|有人|往|请|想|时|怀疑|上游|改成|协调|街道|园区|(?<!大)街(?=[\u4e00-\u9fff])"
)
# "A和B": B when B is a name by itself, else nothing (开发商和供电公司); 和平小区 stays.
_AND = re.compile(r"^.*[和与及]")
_NOT_NAME = re.compile(
    r"^(?:[一二三四五六七八九十几]+[期号栋]|.{0,2}物业公司$)|(?:马路|绕路|跑路|之路|段路|面路|字路|近路|走路|修路|道路|公路|小路|大路)$"
)
_GENERIC_WORDS = """物业公司 装修公司 开发公司 供电公司 燃气公司 供水公司 自来水公司 热力公司 保险公司 快递公司 物流公司
    中介公司 家政公司 房地产公司 建筑公司 劳务公司 施工公司 保洁公司 电信公司 移动公司 联通公司 网络公司
    公交公司 出租车公司 老小区 新小区 本小区 县城 新城 农贸市场 菜市场 商贸市场 人民医院 中心医院 乡镇卫生院
    开发商 承包项目 建设项目 工程项目 安置房项目 拆迁项目 这个小区 整个小区 附近小区 周边小区 小区花园
    停车场 加工厂 合作社 校园 果园 菜园 庄园 跨河桥 高速公路 主干路 生产路 进村路 村村通路 老城 县医院 市医院
    私立医院 公立医院 民营医院 培训学校 驾校 划片学校 对口学校 工程项目部 改造工程项目部 施工项目部"""
GENERIC = frozenset(_GENERIC_WORDS.split())


def _valid(name: str, suffix: str, kind: str) -> bool:
    core = len(name) - len(suffix)
    # One-character estate ends (苑, 园, 城) need a longer name than 路 or 厂.
    return core >= (3 if kind == "estate" and len(suffix) == 1 else 2) and name not in GENERIC and not _NOT_NAME.search(name)


class PlaceFinder:
    """Finds the places a text names; city, area and street names in front are dropped."""

    def __init__(self, catalog: Catalog) -> None:
        city = catalog.city.name.rstrip("市")
        names = {catalog.city.name, city}
        for a in catalog.areas:
            short = a.name.removeprefix(city)
            names |= {a.name, short, short.replace("经济技术开发区", "经开区").replace("高新技术产业开发区", "高新区").replace("经济开发区", "区")}
            names.update(a.streets)
        names.discard("")
        self.prefix = re.compile("^(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")+")
        self.first = frozenset(n[0] for n in names)

    def _strip(self, name: str) -> str:
        return self.prefix.sub("", name) if name[:1] in self.first else name

    def __call__(self, text: str) -> list[tuple[str, str]]:
        """(kind, name) of the places `text` names, in order."""
        out: list[tuple[str, str]] = []
        boundary = 0
        lead_ends: list[int] | None = None
        for m in SUFFIX_RE.finditer(text):
            s, e = m.span()
            if lead_ends is None:
                lead_ends = [t.end() for t in _LEAD.finditer(text)]
            i = bisect_right(lead_ends, s) - 1
            start = max(boundary, s - MAX_NAME, lead_ends[i] if i >= 0 else 0)
            suffix = m.group()
            kind = _KIND_OF_SUFFIX[suffix]
            name = self._strip(text[start:e])
            joined = _AND.match(name)
            if joined:
                rest = self._strip(name[joined.end() :])
                if _valid(rest, suffix, kind):
                    name = rest
                elif not name.startswith("和") or joined.end() > 1:  # 和平小区 is a name
                    continue
            if not _valid(name, suffix, kind):
                continue  # an invalid candidate keeps the boundary: 沂龙湾 + 清园 -> 沂龙湾清园
            out.append((kind, name))
            boundary = e
        return out


def place_key(name: str) -> str:
    """凤凰水城小区 and 凤凰水城 are one estate."""
    return name[:-2] if name.endswith("小区") and len(name) > 4 else name


def extract_places(contents: pd.Series, catalog: Catalog) -> pd.DataFrame:
    """Places named in each text: columns pos (row of `contents`), kind, key, name.

    One row per ticket and place. Each distinct text is read once (identical texts, which
    repeated and templated calls produce, name the same places).
    """
    find = PlaceFinder(catalog)
    codes, uniques = pd.factorize(contents.to_numpy(dtype=object), use_na_sentinel=True)
    found = [_distinct(find(t)) if isinstance(t, str) else [] for t in uniques]
    lens = np.array([len(f) for f in found] + [0], dtype=np.int64)  # [-1]: texts that are missing
    starts = np.concatenate(([0], np.cumsum(lens[:-1])))
    items = [it for f in found for it in f]
    per_ticket = lens[codes]
    total = int(per_ticket.sum())
    pos = np.repeat(np.arange(len(codes), dtype=np.int64), per_ticket)
    # Ticket j's places are its text's items starts[c]..starts[c]+lens[c], laid out from its own offset.
    shift = np.repeat(starts[np.where(codes >= 0, codes, 0)] - np.cumsum(per_ticket) + per_ticket, per_ticket)
    item = shift + np.arange(total, dtype=np.int64)
    vocab = sorted(set(items))
    index = {it: i for i, it in enumerate(vocab)}
    item_codes = np.array([index[it] for it in items], dtype=np.int64)[item] if total else np.array([], dtype=np.int64)
    kinds = pd.Categorical.from_codes(_codes_of([k for k, _ in vocab], item_codes), categories=sorted({k for k, _ in vocab}))
    names = pd.Categorical.from_codes(_codes_of([n for _, n in vocab], item_codes), categories=sorted({n for _, n in vocab}))
    keys = pd.Categorical.from_codes(_codes_of([place_key(n) for _, n in vocab], item_codes), categories=sorted({place_key(n) for _, n in vocab}))
    return pd.DataFrame({"pos": pos, "kind": kinds, "key": keys, "name": names})


def _codes_of(values: list[str], item_codes: np.ndarray) -> np.ndarray:
    cats = {v: i for i, v in enumerate(sorted(set(values)))}
    return np.array([cats[v] for v in values] or [0], dtype=np.int64)[item_codes] if len(item_codes) else np.array([], dtype=np.int64)


def _distinct(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One mention per place key in a text."""
    seen: set[str] = set()
    out = []
    for kind, name in found:
        key = place_key(name)
        if key not in seen:
            seen.add(key)
            out.append((kind, name))
    return out


def display_names(places: pd.DataFrame) -> dict[str, str]:
    """The most frequent written form of each place key (ties: the longest, then first)."""
    counts = places.groupby(["key", "name"], observed=True).size().reset_index(name="c")
    counts["len"] = counts["name"].str.len()
    counts = counts.sort_values(["key", "c", "len", "name"], ascending=[True, False, False, True])
    return dict(zip(counts.drop_duplicates("key")["key"], counts.drop_duplicates("key")["name"], strict=True))


# -- a stated test ---------------------------------------------------------------------


def poisson_sf(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu): the one-sided p-value of observing k or more."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if mu > k:
        # Upper tail is large; 1 - CDF(k - 1) by summing the k lower terms.
        log_term = -mu
        total = math.exp(log_term)
        for i in range(1, k):
            log_term += math.log(mu) - math.log(i)
            total += math.exp(log_term)
        return max(0.0, 1.0 - total)
    # Series of the upper tail from its first term: pmf(k) * sum_j mu^j / ((k+1)...(k+j)).
    log_pmf = -mu + k * math.log(mu) - math.lgamma(k + 1)
    term, total, j = 1.0, 1.0, 1
    while term > 1e-17 * total and j < 10_000:
        term *= mu / (k + j)
        total += term
        j += 1
    return min(1.0, math.exp(log_pmf) * total)

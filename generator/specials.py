"""Special reports (专报): editors' Markdown in content/reports/ with figures from the data.

A file `content/reports/<slug>.md` starts with YAML front matter (validated strictly;
every error names the file and the field):

    ---
    title: 物业服务投诉集中在哪些小区        # required
    date: 2026-11-25                      # required: publication date
    summary: 一句话摘要（订阅源与列表用）
    author: 12345热线数据分析科
    data_from: 2026-09-01                 # optional window of the embedded data (receipt day)
    data_to: 2026-11-30
    tags: [物业]
    draft: false                          # drafts are built only with --drafts
    ---

and embeds figures and tables produced from the public data by name, each on a line of
its own:

    {{ figure: property_complaints_by_estate top=10 }}   chart and table
    {{ table: property_stage_breakdown }}                 table only

The names are those of EMBEDS below (an unknown name or parameter fails the build with
the file and line); content/reports/_README.md lists them for editors (files whose name
starts with "_" are not reports). Each 专报 gets /reports/special/<slug>/ and a figures.json with the
numbers of every embed, and an item in the reports feed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import charts, content
from .analytics import Data, display_names
from .pages.context import Site
from .render import Output, fmt_pct

EMBED_LINE = re.compile(r"^[ \t]*\{\{\s*(figure|table)\s*:\s*([A-Za-z0-9_]+)((?:\s+[a-z_]+=[^\s}]+)*)\s*\}\}[ \t]*$", re.M)
TOKEN = "SHOUFAEMBED{}END"


class SpecialMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=120)
    date: date
    summary: str = Field("", max_length=400)
    author: str = "12345热线数据分析科"
    data_from: date | None = None
    data_to: date | None = None
    tags: list[str] = []
    draft: bool = False

    @model_validator(mode="after")
    def _window(self) -> SpecialMeta:
        if self.data_from and self.data_to and self.data_to < self.data_from:
            raise ValueError("data_to is before data_from")
        return self


@dataclass(frozen=True)
class Special:
    slug: str
    meta: SpecialMeta
    body: str
    source: Path

    @property
    def title(self) -> str:
        return self.meta.title

    @property
    def date(self) -> date:
        return self.meta.date

    @property
    def summary(self) -> str:
        return self.meta.summary

    @property
    def path(self) -> str:
        return f"reports/special/{self.slug}/"


SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


def load_file(path: Path) -> Special:
    text = content.read_text(path)
    try:
        front, body = content.split_front_matter(text, source=str(path))
    except content.ContentError:
        raise
    except ValueError as exc:  # PyYAML's own value errors, e.g. a date 2026-13-01
        raise content.ContentError(f"{path}: front matter: {exc}") from None
    meta = content.validate(SpecialMeta, front, source=str(path))
    if not SLUG.match(path.stem):
        raise content.ContentError(f"{path}: file name must be a slug (lower-case letters, digits, '-'): {path.stem!r}")
    for m in EMBED_LINE.finditer(body):
        _check_embed(path, body, m)
    for n, line in enumerate(body.splitlines(), 1):
        if "{{" in line and not EMBED_LINE.match(line):
            raise content.ContentError(f"{path}: line {n + _front_lines(text)}: not an embed line; write '{{{{ figure: name }}}}' on a line of its own")
    return Special(slug=path.stem, meta=meta, body=body, source=path)


def _front_lines(text: str) -> int:
    m = content.FRONT_MATTER.match(text.removeprefix("\ufeff"))
    return m.group(0).count("\n") if m else 0


def _check_embed(path: Path, body: str, m: re.Match) -> None:
    name = m.group(2)
    line = body.count("\n", 0, m.start()) + 1
    embed = EMBEDS.get(name)
    if embed is None:
        raise content.ContentError(f"{path}: body line {line}: unknown figure {name!r} (known: {', '.join(sorted(EMBEDS))})")
    for key, _value in _params(m.group(3)).items():
        if key not in embed.params:
            raise content.ContentError(f"{path}: body line {line}: figure {name!r} has no parameter {key!r} (it takes: {', '.join(sorted(embed.params)) or 'none'})")


def _params(raw: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in raw.split())


def load_all(site: Site) -> list[Special]:
    """Every special report in content/reports/ (drafts only when the build asks for them)."""
    content_dir, drafts = content.content_source(site)
    if content_dir is None:
        return []
    folder = Path(content_dir) / "reports"
    if not folder.is_dir():
        return []
    out = [load_file(p) for p in sorted(folder.glob("*.md")) if not p.name.startswith("_")]
    return sorted((s for s in out if drafts or not s.meta.draft), key=lambda s: (s.date, s.slug), reverse=True)


# -- embeds ------------------------------------------------------------------------------


@dataclass
class Scope:
    """The tickets (and places in them) an embed may use: a 专报's data window."""

    site: Site
    data: Data
    tickets: pd.DataFrame
    places: pd.DataFrame  # pos, kind, key, name, joined with the ticket columns


@dataclass(frozen=True)
class Rendered:
    chart: Markup | None
    table: Markup
    numbers: Any
    caption: str = ""


@dataclass(frozen=True)
class Embed:
    title: str
    params: dict[str, str]  # name -> default
    fn: Callable[[Scope, dict[str, str]], Rendered] = field(repr=False)


def _of_category(df: pd.DataFrame, code: str) -> pd.Series:
    cat = df["category"].astype(object).fillna("")
    return (cat == code) | cat.str.startswith(code + ".")


def _table(head: list[str], rows: list[list[Any]]) -> Markup:
    h = "".join(f"<th>{escape(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{x if isinstance(x, Markup) else escape(x)}</td>" for x in r) + "</tr>" for r in rows)
    return Markup(f'<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>')


def _ticket_links(site: Site, ids: list[str]) -> Markup:
    return Markup("、").join(Markup('<a href="{}">{}</a>').format(site.url(f"tickets/{i}/"), i[-6:]) for i in ids)


def complaints_by_estate(scope: Scope, p: dict[str, str]) -> Rendered:
    site, top, code = scope.site, int(p["top"]), p["category"]
    pl = scope.places[(scope.places["kind"] == "estate") & _of_category(scope.places, code)]
    total = int(_of_category(scope.tickets, code).sum())
    if pl.empty:
        return Rendered(None, Markup("<p>本期无相关诉求。</p>"), {"total": total, "estates": []})
    names = display_names(pl)
    g = pl.groupby("key", observed=True)
    stats = pd.DataFrame({
        "n": g.size(),
        "unsatisfied": g["unsatisfied"].sum(),
        "reopens": g["reopens"].sum(),
        "areas": g["area"].agg(lambda s: "、".join(sorted({scope.site.names.area(a) for a in s.dropna().astype(str)}))),
    })
    stats = stats[stats["n"] > 0].sort_values(["n", "reopens"], ascending=False).head(top)
    latest = pl.sort_values("id", ascending=False).groupby("key", observed=True)["id"].apply(lambda s: list(s[:5]))
    rows, numbers = [], []
    for key, r in stats.iterrows():
        ids = latest.get(key, [])
        rows.append([names.get(key, key), f"{int(r.n):,}", fmt_pct(r.n / total if total else None), int(r.unsatisfied), int(r.reopens), r.areas, _ticket_links(site, ids)])
        numbers.append({"estate": names.get(key, key), "tickets": int(r.n), "share": round(r.n / total, 4) if total else None,
                        "unsatisfied": int(r.unsatisfied), "reopens": int(r.reopens)})
    share = stats["n"].head(5).sum() / total if total else 0
    caption = f"共{total:,}件{site.names.category(code)}诉求，诉求量前5位的小区占{share * 100:.1f}%。"
    chart = charts.bar_chart([(n["estate"], n["tickets"]) for n in numbers], title=f"{site.names.category(code)}诉求量前{len(numbers)}位小区")
    table = _table(["小区", "诉求件数", "占比", "不满意", "重办", "区县", "最近工单"], rows)
    return Rendered(chart, table, {"category": code, "total": total, "top5_share": round(share, 4), "estates": numbers}, caption)


STAGES = {
    "准入接管": ("交房", "交付", "接管", "前期物业", "开发商", "撤场", "新物业", "移交", "承接"),
    "服务统管": ("打扫", "保洁", "垃圾", "门禁", "门岗", "电梯", "绿化", "维修", "漏水", "不干活", "服务"),
    "共治共管": ("业委会", "业主大会", "公共区域", "收益", "选聘", "更换物业", "停车位", "公示", "物业费"),
    "行业监管": ("主管部门", "住建", "监管", "资质", "备案", "处罚", "督促", "介入", "核实"),
}


def property_stage_breakdown(scope: Scope, p: dict[str, str]) -> Rendered:
    """Property complaints by the four stages of the 专报 (keywords in the redacted text)."""
    code = p["category"]
    mask = _of_category(scope.tickets, code).to_numpy()
    ids = scope.tickets["id"][mask]
    texts = scope.data.texts_for(ids)
    total = len(texts)
    rows, numbers = [], {}
    for stage, words in STAGES.items():
        n = int(texts.str.contains("|".join(words), regex=True).sum()) if total else 0
        numbers[stage] = n
        rows.append([stage, "、".join(words[:6]) + "…", f"{n:,}", fmt_pct(n / total if total else None)])
    chart = charts.bar_chart(list(numbers.items()), title="物业诉求涉及的环节（一件诉求可涉及多个环节）")
    return Rendered(chart, _table(["环节", "识别关键词（部分）", "涉及件数", "占比"], rows), {"total": total, "stages": numbers})


def category_trend(scope: Scope, p: dict[str, str]) -> Rendered:
    code = p["category"]
    df = scope.tickets[_of_category(scope.tickets, code)]
    counts = df.groupby("month", observed=True).size()
    counts = counts[counts > 0]
    labels = [m.replace("-", "年") + "月" for m in counts.index.astype(str)]
    values = [float(v) for v in counts.to_numpy()]
    name = scope.site.names.category(code)
    chart = charts.line_chart(labels, [charts.Series(name, values)], title=f"{name}诉求逐月受理量")
    table = _table(["月份", "受理件数"], [[m, f"{int(v):,}"] for m, v in zip(counts.index.astype(str), values, strict=True)])
    return Rendered(chart, table, {m: int(v) for m, v in zip(counts.index.astype(str), values, strict=True)})


def category_by_area(scope: Scope, p: dict[str, str]) -> Rendered:
    code = p["category"]
    df = scope.tickets[_of_category(scope.tickets, code)]
    counts = df.groupby("area", observed=True).size()
    site = scope.site
    tiles = [charts.Tile(a.code, a.name, int(counts.get(a.code, 0)), a.centroid.lat, a.centroid.lon) for a in site.catalog.areas]
    chart = charts.tile_grid(tiles, title=f"{site.names.category(code)}诉求的区县分布", city=site.catalog.city.name.rstrip("市"))
    rows = [[site.names.area(a), f"{int(n):,}"] for a, n in counts.sort_values(ascending=False).items() if n]
    return Rendered(chart, _table(["区县", "件数"], rows), {str(a): int(n) for a, n in counts.items() if n})


def category_by_department(scope: Scope, p: dict[str, str]) -> Rendered:
    from .analytics import figures_by

    code, top = p["category"], int(p["top"])
    df = scope.tickets[_of_category(scope.tickets, code)]
    figs = figures_by(df, "department")
    ranked = sorted(figs.items(), key=lambda kv: -kv[1].n)[:top]
    names = scope.site.names
    rows = [[names.department(d), f"{f.n:,}", fmt_pct(f.satisfaction), fmt_pct(f.on_time), f.reopens] for d, f in ranked]
    chart = charts.bar_chart([(names.department(d), f.n) for d, f in ranked], title=f"{names.category(code)}诉求的承办单位")
    return Rendered(chart, _table(["承办单位", "件数", "满意率", "按时办结率", "重办"], rows),
                    {str(d): {"n": f.n, "satisfaction": f.satisfaction, "on_time": f.on_time} for d, f in ranked})


EMBEDS: dict[str, Embed] = {
    "property_complaints_by_estate": Embed("物业服务诉求按小区排名", {"top": "10", "category": "housing.property"}, complaints_by_estate),
    "complaints_by_estate": Embed("诉求按小区排名", {"top": "10", "category": "housing"}, complaints_by_estate),
    "property_stage_breakdown": Embed("物业诉求的四个环节", {"category": "housing.property"}, property_stage_breakdown),
    "category_trend": Embed("诉求逐月趋势", {"category": "housing.property"}, category_trend),
    "category_by_area": Embed("诉求的区县分布", {"category": "housing.property"}, category_by_area),
    "category_by_department": Embed("诉求的承办单位", {"category": "housing.property", "top": "10"}, category_by_department),
}


# -- rendering ---------------------------------------------------------------------------


def scope_for(site: Site, data: Data, s: Special) -> Scope:
    df = data.tickets
    day = df["day"].astype(str)
    mask = pd.Series(True, index=df.index)
    if s.meta.data_from:
        mask &= day >= s.meta.data_from.isoformat()
    if s.meta.data_to:
        mask &= day <= s.meta.data_to.isoformat()
    tickets = df[mask]
    pl = data.places
    pl = pl[mask.to_numpy()[pl["pos"].to_numpy()]]
    joined = pl.join(df[["id", "category", "area", "department", "unsatisfied", "reopens", "day"]], on="pos")
    return Scope(site=site, data=data, tickets=tickets, places=joined)


def render(site: Site, data: Data, s: Special) -> list[Output]:
    scope = scope_for(site, data, s)
    blocks: list[Markup] = []
    numbers: dict[str, Any] = {}

    def replace(m: re.Match) -> str:
        mode, name, params = m.group(1), m.group(2), _params(m.group(3))
        embed = EMBEDS[name]
        r = embed.fn(scope, {**embed.params, **params})
        numbers[f"{name}#{len(blocks) + 1}"] = {"params": {**embed.params, **params}, "data": r.numbers}
        parts = [Markup('<div class="shoufa-embed">')]
        if mode == "figure" and r.chart is not None:
            parts.append(r.chart)
        if r.caption:
            parts.append(Markup('<p class="shoufa-embed__caption">{}</p>').format(r.caption))
        parts += [r.table, Markup("</div>")]
        blocks.append(Markup("").join(parts))
        return "\n\n" + TOKEN.format(len(blocks) - 1) + "\n\n"

    md = EMBED_LINE.sub(replace, s.body)
    html = content.render_markdown(md, source=str(s.source), own_host=_own_host(site))
    for i, block in enumerate(blocks):
        html = html.replace(f"<p>{TOKEN.format(i)}</p>", str(block))
    window = (s.meta.data_from.isoformat() if s.meta.data_from else "起始", s.meta.data_to.isoformat() if s.meta.data_to else "今")
    page = site.page(
        "special_report.html", title=s.title, active="/reports/", description=s.summary or None,
        special=s, body=Markup(html), window=window, json_href=site.url(s.path + "figures.json"),
    )
    data_out = {"slug": s.slug, "title": s.title, "date": s.date.isoformat(), "data_from": window[0], "data_to": window[1], "figures": numbers}
    return [
        Output(s.path + "index.html", page, key=f"special/{s.slug}"),
        Output(s.path + "figures.json", json.dumps(data_out, ensure_ascii=False, sort_keys=True, indent=1, default=str) + "\n", key=f"special/{s.slug}/json"),
    ]


def _own_host(site: Site) -> str:
    from urllib.parse import urlsplit

    return urlsplit(site.site_url).hostname or ""

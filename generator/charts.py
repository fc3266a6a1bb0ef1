"""SVG charts rendered at build time: trend lines, bars, a tile grid of areas, sparklines.

Every chart is a self-contained <svg> (inline in the page, or saved as a .svg file) whose
words are <text> elements, so the reader's browser draws the Chinese with its own
fonts; nothing is loaded from another host. Colours follow the site's palette through
CSS variables, with fixed fallbacks for a standalone file. Each chart carries a <title>
and an aria-label; the pages print the same numbers in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT = "var(--md-text-font, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', 'Source Han Sans SC', sans-serif)"
FG = "var(--md-default-fg-color, #333)"
FG_LIGHT = "var(--md-default-fg-color--light, #666)"
GRID = "var(--md-default-fg-color--lightest, #ddd)"
SERIES = (
    "var(--shoufa-blue, #1e6fd9)",
    "var(--shoufa-orange, #e8590c)",
    "var(--shoufa-teal, #00897b)",
    "var(--shoufa-purple, #6a3fb5)",
)
ACCENT = "var(--shoufa-red, #c8161d)"
# Sequential scale for tiles (light to dark), readable in both colour schemes.
SCALE = ("#fde7e4", "#f9b9b0", "#f08a7c", "#dc5445", "#b3261e")
SCALE_TEXT = ("#5a1a14", "#5a1a14", "#3b0d09", "#ffffff", "#ffffff")


def _f(x: float) -> str:
    """Coordinates with one decimal: small files, deterministic output."""
    return f"{x:.1f}".rstrip("0").rstrip(".") if x % 1 else str(int(x))


def _svg(width: int, height: int, title: str, body: list[str], *, cls: str) -> Markup:
    t = escape(title)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="shoufa-chart {cls}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="{t}" '
        f'style="max-width:{width}px;font-family:{FONT};font-size:12px">'
        f"<title>{t}</title>" + "".join(body) + "</svg>"
    )


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _tick_label(v: float) -> str:
    if v >= 10000 and v % 1000 == 0:
        return f"{v / 10000:g}万"
    return f"{v:,.0f}" if v == int(v) else f"{v:g}"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    unit: str = "件",
    highlight: int | None = None,
    width: int = 720,
    height: int = 260,
) -> Markup:
    """A trend line per series over the same x labels; `highlight` marks one x position."""
    left, right, top, bottom = 56, 16, 48, 40
    pw, ph = width - left - right, height - top - bottom
    vmax = max((v for s in series for v in s.values if v is not None), default=0)
    ticks = nice_ticks(vmax)
    ymax = ticks[-1] or 1
    n = len(labels)

    def x(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph - ph * v / ymax

    body = [f'<text x="0" y="18" style="fill:{FG};font-size:14px;font-weight:600">{escape(title)}</text>']
    for t in ticks:
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{_f(y(t))}" y2="{_f(y(t))}" style="stroke:{GRID}" />')
        body.append(f'<text x="{left - 6}" y="{_f(y(t) + 4)}" text-anchor="end" style="fill:{FG_LIGHT}">{_tick_label(t)}</text>')
    body.append(f'<text x="{left - 6}" y="{top - 12}" text-anchor="end" style="fill:{FG_LIGHT}">{escape(unit)}</text>')
    if highlight is not None and 0 <= highlight < n:
        hx = x(highlight)
        body.append(f'<line x1="{_f(hx)}" x2="{_f(hx)}" y1="{top}" y2="{top + ph}" style="stroke:{ACCENT};stroke-dasharray:3 3" />')
    step = max(1, math.ceil(n / 8))
    for i, lab in enumerate(labels):
        if i % step == 0 or i == n - 1 and (n - 1) % step >= step / 2:
            body.append(f'<text x="{_f(x(i))}" y="{height - bottom + 16}" text-anchor="middle" style="fill:{FG_LIGHT}">{escape(lab)}</text>')
    for k, s in enumerate(series):
        color = SERIES[k % len(SERIES)]
        pts = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None]
        if len(pts) > 1:
            d = " ".join(f"{_f(px)},{_f(py)}" for px, py in pts)
            body.append(f'<polyline points="{d}" style="fill:none;stroke:{color};stroke-width:2;stroke-linejoin:round" />')
        for i, v in enumerate(s.values):
            if v is not None and (n <= 40 or i == highlight):
                r = 3.5 if i == highlight else 2.2
                body.append(f'<circle cx="{_f(x(i))}" cy="{_f(y(v))}" r="{r}" style="fill:{color}"><title>{escape(labels[i])} {escape(s.name)} {_tick_label(v)}{escape(unit)}</title></circle>')
    lx = width - right
    for k, s in reversed(list(enumerate(series))):
        color = SERIES[k % len(SERIES)]
        label_w = 14 * len(s.name) + 24
        lx -= label_w
        body.append(f'<rect x="{lx}" y="9" width="14" height="4" style="fill:{color}" />')
        body.append(f'<text x="{lx + 18}" y="15" style="fill:{FG}">{escape(s.name)}</text>')
    return _svg(width, height, title, body, cls="shoufa-chart--line")


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "件",
    width: int = 720,
    label_chars: int = 12,
    value_format=None,
) -> Markup:
    """Horizontal bars, largest first as given, each with its label and value."""
    fmt = value_format or (lambda v: f"{v:,.0f}")
    row, top = 24, 30
    label_w = min(14 * label_chars, 14 * max((len(lab) for lab, _ in items), default=4)) + 10
    value_w = 70
    pw = width - label_w - value_w - 8
    height = top + row * max(len(items), 1) + 8
    vmax = max((v for _, v in items), default=0) or 1
    body = [f'<text x="0" y="18" style="fill:{FG};font-size:14px;font-weight:600">{escape(title)}</text>']
    for i, (lab, v) in enumerate(items):
        y0 = top + i * row
        short = lab if len(lab) <= label_chars else lab[: label_chars - 1] + "…"
        w = max(pw * v / vmax, 1 if v else 0)
        body.append(f'<text x="{label_w - 8}" y="{y0 + 15}" text-anchor="end" style="fill:{FG}"><title>{escape(lab)}</title>{escape(short)}</text>')
        body.append(f'<rect x="{label_w}" y="{y0 + 4}" width="{_f(w)}" height="{row - 8}" rx="2" style="fill:{SERIES[0]}" />')
        body.append(f'<text x="{_f(label_w + w + 6)}" y="{y0 + 15}" style="fill:{FG_LIGHT}">{escape(fmt(v))}{escape(unit)}</text>')
    if not items:
        body.append(f'<text x="0" y="{top + 14}" style="fill:{FG_LIGHT}">暂无数据</text>')
    return _svg(width, height, title, body, cls="shoufa-chart--bars")


@dataclass(frozen=True)
class Tile:
    code: str
    name: str
    value: float
    lat: float
    lon: float
    href: str | None = None


def grid_positions(tiles: Sequence[Tile], cols: int, rows: int) -> dict[str, tuple[int, int]]:
    """Place each area in a grid cell near its centroid (closest pairs first, one area per cell)."""
    if not tiles:
        return {}
    lats = [t.lat for t in tiles]
    lons = [t.lon for t in tiles]
    lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
    want = {}
    for t in tiles:
        cx = (t.lon - lon0) / ((lon1 - lon0) or 1) * (cols - 1)
        cy = (lat1 - t.lat) / ((lat1 - lat0) or 1) * (rows - 1)
        want[t.code] = (cx, cy)
    pairs = sorted(
        ((want[t.code][0] - c) ** 2 + (want[t.code][1] - r) ** 2, t.code, c, r)
        for t in tiles
        for c in range(cols)
        for r in range(rows)
    )
    placed: dict[str, tuple[int, int]] = {}
    used: set[tuple[int, int]] = set()
    for _d, code, c, r in pairs:
        if code in placed or (c, r) in used:
            continue
        placed[code] = (c, r)
        used.add((c, r))
    return placed


def short_area_name(name: str, city: str = "临沂") -> str:
    out = name.removeprefix(city + "市").removeprefix(city)
    for long, short in (("高新技术产业开发区", "高新区"), ("经济技术开发区", "经开区"), ("经济开发区", "开发区"), ("旅游度假区", "度假区")):
        out = out.replace(long, short)
    return out or name


def tile_grid(tiles: Sequence[Tile], *, title: str, unit: str = "件", city: str = "临沂", cols: int = 6, rows: int = 6) -> Markup:
    """The city's areas as tiles placed roughly as on a map, shaded by value."""
    tw, th, gap, top = 118, 64, 6, 30
    pos = grid_positions(tiles, cols, rows)
    used_rows = sorted({r for _, r in pos.values()})
    used_cols = sorted({c for c, _ in pos.values()})
    rmap = {r: i for i, r in enumerate(used_rows)}
    cmap = {c: i for i, c in enumerate(used_cols)}
    width = max(len(used_cols), 1) * (tw + gap)
    height = top + max(len(used_rows), 1) * (th + gap) + 26
    vmax = max((t.value for t in tiles), default=0)
    body = [f'<text x="0" y="18" style="fill:{FG};font-size:14px;font-weight:600">{escape(title)}</text>']
    for t in sorted(tiles, key=lambda t: t.code):
        c, r = pos[t.code]
        x0, y0 = cmap[c] * (tw + gap), top + rmap[r] * (th + gap)
        level = 0 if vmax <= 0 else min(len(SCALE) - 1, int(len(SCALE) * t.value / vmax - 1e-9)) if t.value > 0 else 0
        fill, ink = SCALE[level], SCALE_TEXT[level]
        label = escape(short_area_name(t.name, city))
        tip = f"<title>{escape(t.name)} {t.value:,.0f}{escape(unit)}</title>"
        tile = (
            f'<rect x="{x0}" y="{y0}" width="{tw}" height="{th}" rx="4" style="fill:{fill}" />'
            f'<text x="{x0 + tw / 2:g}" y="{y0 + 26}" text-anchor="middle" style="fill:{ink};font-size:13px">{label}</text>'
            f'<text x="{x0 + tw / 2:g}" y="{y0 + 48}" text-anchor="middle" style="fill:{ink};font-size:15px;font-weight:600">{t.value:,.0f}</text>'
        )
        if t.href:
            body.append(f'<a href="{escape(t.href)}">{tip}{tile}</a>')
        else:
            body.append(f"<g>{tip}{tile}</g>")
    ly = height - 14
    body.append(f'<text x="0" y="{ly + 4}" style="fill:{FG_LIGHT}">少</text>')
    for i, col in enumerate(SCALE):
        body.append(f'<rect x="{18 + i * 22}" y="{ly - 7}" width="20" height="12" style="fill:{col}" />')
    body.append(f'<text x="{18 + len(SCALE) * 22 + 4}" y="{ly + 4}" style="fill:{FG_LIGHT}">多（{escape(unit)}）</text>')
    return _svg(width, height, title, body, cls="shoufa-chart--tiles")


def sparkline(values: Sequence[float], *, title: str, width: int = 160, height: int = 36) -> Markup:
    """A small trend line without axes; the last value is marked."""
    pad = 3
    n = len(values)
    vmax = max(values, default=0) or 1
    pts = [(pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5), height - pad - (height - 2 * pad) * v / vmax) for i, v in enumerate(values)]
    body = []
    if len(pts) > 1:
        area = f"{_f(pts[0][0])},{height - pad} " + " ".join(f"{_f(x)},{_f(y)}" for x, y in pts) + f" {_f(pts[-1][0])},{height - pad}"
        body.append(f'<polygon points="{area}" style="fill:{SERIES[0]};opacity:0.15" />')
        body.append(f'<polyline points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in pts)}" style="fill:none;stroke:{SERIES[0]};stroke-width:1.5" />')
    if pts:
        body.append(f'<circle cx="{_f(pts[-1][0])}" cy="{_f(pts[-1][1])}" r="2.5" style="fill:{ACCENT}" />')
    return _svg(width, height, title, body, cls="shoufa-chart--spark")


def standalone(svg: Markup) -> str:
    """An inline chart as a .svg file."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + str(svg) + "\n"

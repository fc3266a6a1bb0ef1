"""Rendering: the jinja2 environment, filters, and the Output every page renderer returns.

Autoescaping is on for every template: citizen and department text is always shown as
literal text, never interpreted as HTML, Markdown or template syntax.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup, escape

from intake_api.clock import SHANGHAI, parse_ts

from .config import TEMPLATES_DIR
from .shell import Layout

WEEKDAYS = "一二三四五六日"


@dataclass
class Output:
    """One file of the site, with the ids of the tickets whose data it carries."""

    path: str  # relative to the site root, e.g. "tickets/LY.../index.html"
    content: str | bytes
    ids: tuple[str, ...] = ()
    key: str = ""  # what produced it (for reports)
    meta: dict[str, Any] = field(default_factory=dict)
    scan: str | None = None  # what the leak scan reads instead of the whole file (its variable parts)

    @property
    def data(self) -> bytes:
        return self.content.encode("utf-8") if isinstance(self.content, str) else self.content

    @property
    def scan_text(self) -> str:
        """The text the leak scan must read: a page's own parts, not the fixed layout."""
        if self.scan is not None:
            return self.scan
        dynamic = getattr(self.content, "dynamic", None)
        if dynamic is not None:
            return dynamic
        return self.content if isinstance(self.content, str) else self.content.decode("utf-8", errors="replace")

    @property
    def digest(self) -> str:
        return hashlib.blake2b(self.data, digest_size=16).hexdigest()


def _to_dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return parse_ts(value)
    return value


def fmt_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    dt = _to_dt(value)
    return dt.astimezone(SHANGHAI).strftime(fmt) if dt else ""


def fmt_date(value: Any) -> str:
    return fmt_time(value, "%Y-%m-%d")


def fmt_day_label(day: str) -> str:
    """'2026-11-28' -> '2026年11月28日（周六）'."""
    d = datetime.strptime(day, "%Y-%m-%d")
    return f"{d.year}年{d.month}月{d.day}日（周{WEEKDAYS[d.weekday()]}）"


def fmt_duration(hours: float | None) -> str:
    if hours is None:
        return ""
    if hours < 1:
        return f"{max(hours * 60, 1):.0f}分钟"
    if hours < 48:
        return f"{hours:.1f}小时"
    return f"{hours / 24:.1f}天"


def fmt_pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def fmt_num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def iso_utc(value: Any) -> str:
    dt = _to_dt(value)
    return dt.isoformat().replace("+00:00", "Z") if dt else ""


_BADGES = {"open": "办理中", "overdue": "已超期", "closed": "已办结"}
_RATINGS = {
    "satisfied": ("satisfied", "满意"),
    "basic": ("basically-satisfied", "基本满意"),
    "unsatisfied": ("unsatisfied", "不满意"),
}


def ticket_rows(rows: Any, base: str, names: Any) -> Markup:
    """The <tr> lines of a ticket table (listing pages carry up to 1,000 of them).

    Plain Python rather than a jinja2 loop: a day page's table took ~30 ms through the
    template and ~3 ms here. Every value from a ticket goes through `escape`.
    """
    esc = _escape
    base = esc(base)
    out = []
    for r in rows:
        rid = esc(r.id)
        dept = (
            f'<a href="{base}departments/{esc(r.department)}/">{esc(names.department(r.department))}</a>'
            if r.department else ""
        )
        status = esc(r.status)
        cell = f'<span class="shoufa-badge shoufa-badge--{status}">{esc(_BADGES.get(r.status, r.status))}</span>'
        if r.supervision:
            level = int(r.supervision)
            cell += f' <span class="shoufa-badge shoufa-badge--level-{level}">{esc(names.supervision(level))}</span>'
        if r.satisfaction in _RATINGS:
            cls, label = _RATINGS[r.satisfaction]
            cell += f' <span class="shoufa-badge shoufa-badge--{cls}">{label}</span>'
        out.append(
            f'<tr>\n<td><a href="{base}tickets/{rid}/">{rid}</a></td>\n<td>{esc(fmt_time(r.received_at))}</td>\n'
            f'<td><strong>{esc(r.title)}</strong><br><span class="shoufa-snippet">{esc(r.snippet)}</span></td>\n'
            f"<td>{dept}</td>\n<td>{cell}</td>\n</tr>\n"
        )
    return Markup("".join(out))


def _escape(value: Any) -> str:
    """markupsafe's escape for plain strings, a third of the time (no Markup object made)."""
    if value is None:
        return ""
    if type(value) is not str:  # Markup (already safe), numbers, anything with __html__
        return str(escape(value))
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "'" in value:
        value = value.replace("'", "&#39;")
    if '"' in value:
        value = value.replace('"', "&#34;")
    return value


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        time=fmt_time,
        date=fmt_date,
        daylabel=fmt_day_label,
        duration=fmt_duration,
        pct=fmt_pct,
        num=fmt_num,
        iso=iso_utc,
    )
    env.globals["ticket_rows"] = ticket_rows
    return env


def render_template(name: str, **ctx: Any) -> str:
    return environment().get_template(name).render(**ctx)


def page(
    layout: Layout,
    template: str,
    *,
    title: str,
    active: str | None,
    base: str = "/",
    feeds: list[tuple[str, str, str]] = (),  # (title, href, type)
    description: str | None = None,
    **ctx: Any,
) -> str:
    """Render a template's body into the Material layout."""
    body = render_template(template, base=base, **ctx)
    extra = "".join(  # f-strings with escape: what Markup.format does, in a third of the time
        f'<link rel="alternate" type="{escape(typ)}" title="{escape(t)}" href="{escape(href)}">'
        for t, href, typ in feeds
    )
    html = PageHTML(layout.render(title=title, body=body, active=active, extra_head=extra, description=description))
    # Everything but the layout's fixed head and tail, which carry no ticket data.
    html.dynamic = "\n".join((title, description or "", extra, body))
    return html


class PageHTML(str):
    """A rendered page that remembers its own (non-layout) parts for the leak scan."""

    dynamic: str

"""RSS 2.0 and Atom feeds (feedgen), built from public rows only.

Ticket text is always shown literally: escaped HTML in an RSS description (which
readers render as HTML), a plain-text summary in Atom.

Each feed holds its newest 50 items, newest first, with stable GUIDs (the ticket's URL,
plus a fragment for event-specific items) and RFC 822 / RFC 3339 dates with time zone.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from feedgen.feed import FeedGenerator

from intake_api.clock import parse_ts

from .render import Output
from .rows import Row

ITEMS = 50


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str
    published: datetime
    updated: datetime
    summary: str
    categories: tuple[str, ...] = ()
    enclosure: tuple[str, str, str] | None = None  # (url, length, type)


@dataclass(frozen=True)
class FeedSpec:
    slug: str  # file stem under feeds/: feeds/<slug>.rss.xml and .atom.xml
    title: str
    description: str
    page: str  # the HTML page the feed belongs to (site path)


def feed_paths(slug: str) -> tuple[str, str]:
    return f"feeds/{slug}.rss.xml", f"feeds/{slug}.atom.xml"


def render_feed(spec: FeedSpec, items: list[Item], *, site_url: str, base: str, fallback_time: datetime) -> list[Output]:
    """Both formats of one feed."""
    root = site_url.rstrip("/") + base
    rss_path, atom_path = feed_paths(spec.slug)
    items = sorted(items, key=lambda i: (i.updated, i.guid), reverse=True)[:ITEMS]
    updated = max((i.updated for i in items), default=fallback_time)
    outputs = []
    for fmt, path in (("rss", rss_path), ("atom", atom_path)):
        fg = FeedGenerator()
        fg.id(root + spec.page.lstrip("/"))
        fg.title(spec.title)
        fg.subtitle(spec.description)
        fg.description(spec.description) if fmt == "rss" else None
        # feedgen's RSS <link> is the last link added: the page, not the feed itself.
        fg.link(href=root + path, rel="self")
        fg.link(href=root + spec.page.lstrip("/"), rel="alternate")
        fg.language("zh-CN")
        fg.generator("shoufa")
        fg.updated(updated)
        fg.lastBuildDate(updated)
        # feedgen prepends entries: add oldest first so the newest comes first.
        for it in reversed(items):
            fe = fg.add_entry()
            fe.id(it.guid)
            fe.guid(it.guid, permalink=it.guid.startswith("http") and "#" not in it.guid)
            fe.title(it.title)
            fe.link(href=it.link)
            # RSS has one date per item: the time of this version, which orders the feed.
            fe.published(it.published if fmt == "atom" else it.updated)
            fe.updated(it.updated)
            if fmt == "rss":
                # Readers take an RSS description as HTML: escape the text so that it is shown
                # literally (citizen text may look like markup), keeping its line breaks.
                fe.description(html.escape(it.summary).replace("\n", "<br>\n"))
            else:
                fe.summary(it.summary, type="text")
            for c in it.categories:
                fe.category(term=c)
            if it.enclosure:
                fe.enclosure(*it.enclosure)
        data = fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True)
        outputs.append(Output(path, data, ids=(), key=f"feed/{spec.slug}/{fmt}"))
    return outputs


def ticket_items(rows: list[Row], *, site_url: str, base: str, texts: dict, names, when: Callable[[Row], str] = lambda r: r.updated_at, fragment: str = "") -> list[Item]:
    root = site_url.rstrip("/") + base
    out = []
    for r in rows:
        link = f"{root}tickets/{r.id}/"
        t = texts.get(r.id)
        summary = (t["content"] if t else r.snippet) or ""
        if t and t["reply"]:
            summary += f"\n\n【答复】{t['reply']}"
        out.append(
            Item(
                guid=link + (f"#{fragment}" if fragment else ""),
                title=f"{r.id} {r.title}（{names.department(r.department)}）",
                link=link,
                published=parse_ts(r.received_at),
                updated=parse_ts(when(r)),
                summary=summary,
                categories=tuple(x for x in (names.category(r.category_top) if r.category_top else None, names.area(r.area) if r.area else None) if x),
            )
        )
    return out

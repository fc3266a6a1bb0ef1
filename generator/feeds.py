"""RSS 2.0 and Atom feeds (feedgen), built from public rows only.

Ticket text is always shown literally: escaped HTML in an RSS description (which
readers render as HTML), a plain-text summary in Atom.

Each feed holds its newest 50 items, newest first, with stable GUIDs (the ticket's URL,
plus a fragment for event-specific items) and RFC 822 / RFC 3339 dates with time zone.
"""

from __future__ import annotations

import html
import re
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


# -- the same two documents without building an lxml tree -----------------------------
#
# A year of Linyi's tickets is 3.7 million per-ticket feeds (two files each); feedgen
# builds and serialises an lxml tree per file (~0.4 ms a ticket, a sixth of its full
# build cost). `render_feed_direct` writes the very same bytes for feeds without
# enclosures (the golden site and a property test pin it); anything it cannot vouch
# for goes to feedgen.

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _t(text: str) -> str:
    """Escape element text as libxml2 serialises it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _a(text: str) -> str:
    """Escape an attribute value as libxml2 serialises it."""
    return _t(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _rfc822_c(dt: datetime) -> str:
    """RFC 822 date with English names whatever the process locale is (as feedgen's)."""
    return f"{_DAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.strftime('%Y %H:%M:%S %z')}"


def render_feed_direct(spec: FeedSpec, items: list[Item], *, site_url: str, base: str, fallback_time: datetime) -> list[Output]:
    """`render_feed`, byte for byte, written as text (falls back to it when unsure)."""
    strings = [spec.title, spec.description, *(x for i in items for x in (i.guid, i.title, i.link, i.summary, *i.categories))]
    # (one search over all of them: "\n" is not a character _XML_BAD looks for)
    if any(i.enclosure for i in items) or _XML_BAD.search("\n".join(strings)) or not all(i.summary and i.title for i in items):
        return render_feed(spec, items, site_url=site_url, base=base, fallback_time=fallback_time)
    root = site_url.rstrip("/") + base
    rss_path, atom_path = feed_paths(spec.slug)
    page = root + spec.page.lstrip("/")
    items = sorted(items, key=lambda i: (i.updated, i.guid), reverse=True)[:ITEMS]
    updated = max((i.updated for i in items), default=fallback_time)
    head = "<?xml version='1.0' encoding='UTF-8'?>\n"
    rss = [
        head,
        '<rss xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">\n',
        "  <channel>\n",
        f"    <title>{_t(spec.title)}</title>\n",
        f"    <link>{_t(page)}</link>\n",
        f"    <description>{_t(spec.description)}</description>\n",
        f'    <atom:link href="{_a(root + rss_path)}" rel="self"/>\n',
        "    <docs>http://www.rssboard.org/rss-specification</docs>\n",
        "    <generator>shoufa</generator>\n",
        "    <language>zh-CN</language>\n",
        f"    <lastBuildDate>{_rfc822_c(updated)}</lastBuildDate>\n",
    ]
    atom = [
        head,
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-CN">\n',
        f"  <id>{_t(page)}</id>\n",
        f"  <title>{_t(spec.title)}</title>\n",
        f"  <updated>{updated.isoformat()}</updated>\n",
        f'  <link href="{_a(root + atom_path)}" rel="self"/>\n',
        f'  <link href="{_a(page)}" rel="alternate"/>\n',
        "  <generator>shoufa</generator>\n",
        f"  <subtitle>{_t(spec.description)}</subtitle>\n",
    ]
    for it in items:
        permalink = "true" if it.guid.startswith("http") and "#" not in it.guid else "false"
        description = html.escape(it.summary).replace("\n", "<br>\n")
        rss += [
            "    <item>\n",
            f"      <title>{_t(it.title)}</title>\n",
            f"      <link>{_t(it.link)}</link>\n",
            f"      <description>{_t(description)}</description>\n",
            f'      <guid isPermaLink="{permalink}">{_t(it.guid)}</guid>\n',
            *(f"      <category>{_t(c)}</category>\n" for c in it.categories),
            f"      <pubDate>{_rfc822_c(it.updated)}</pubDate>\n",
            "    </item>\n",
        ]
        atom += [
            "  <entry>\n",
            f"    <id>{_t(it.guid)}</id>\n",
            f"    <title>{_t(it.title)}</title>\n",
            f"    <updated>{it.updated.isoformat()}</updated>\n",
            f'    <link href="{_a(it.link)}"/>\n',
            f'    <summary type="text">{_t(it.summary)}</summary>\n',
            *(f'    <category term="{_a(c)}"/>\n' for c in it.categories),
            f"    <published>{it.published.isoformat()}</published>\n",
            "  </entry>\n",
        ]
    rss += ["  </channel>\n", "</rss>\n"]
    atom.append("</feed>\n")
    # Both files are these strings in fixed XML (and dates): the leak scan reads the strings
    # once, not 2 x 3-4 KB of markup per ticket (as it reads a page's parts, not its layout).
    scan = "\n".join([root, page, *strings])
    return [
        Output(rss_path, "".join(rss).encode("utf-8"), ids=(), key=f"feed/{spec.slug}/rss", scan=scan),
        Output(atom_path, "".join(atom).encode("utf-8"), ids=(), key=f"feed/{spec.slug}/atom", scan=scan),
    ]


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

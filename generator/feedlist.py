"""Feeds beyond the core's: each ticket's own updates, and the OPML list of every feed.

- /feeds/tickets/YYYY/MM/DD/<id>.rss.xml and .atom.xml: one ticket's timeline, one item
  per public event (GUID `<ticket URL>#e<seq>`, stable because events are append-only);
  a run of repeats linked to the ticket is one item, under its first event's GUID.
  It is rendered from the ticket's public view, so it must be rendered with the ticket
  page (full-build workers and incremental builds call `render_ticket_feed`); one folder
  per day keeps each folder to a day's tickets at 3.7 M tickets a year.
- /feeds/shoufa.opml: every site feed in one file, for newsrooms to import into a reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree import ElementTree as ET

from .feeds import FeedSpec, Item, feed_paths, render_feed_direct
from .pages import feeds as feed_pages
from .pages.context import Site
from .public import PublicEvent, TicketPublic, fold_repeats, repeats_summary
from .render import Output, fmt_num
from .rows import Row

OPML_PATH = "feeds/shoufa.opml"


def ticket_feed_slug(ticket_id: str) -> str:
    day = ticket_id[-14:-6]  # the YYYYMMDD of the id
    return f"tickets/{day[:4]}/{day[4:6]}/{day[6:]}/{ticket_id}"


def ticket_feed_paths(ticket_id: str) -> tuple[str, str]:
    """(RSS, Atom) paths of a ticket's feed: delete both when the ticket is withheld."""
    return feed_paths(ticket_feed_slug(ticket_id))


def ticket_feed_links(site: Site, ticket_id: str) -> list[tuple[str, str, str]]:
    """<link rel="alternate"> entries for the ticket page (title, href, type)."""
    rss, atom = ticket_feed_paths(ticket_id)
    title = f"工单 {ticket_id} 办理进展"
    return [(title, site.url(rss), "application/rss+xml"), (title, site.url(atom), "application/atom+xml")]


def _event_text(e: PublicEvent, t: TicketPublic) -> str:
    d = e.details
    typ = e.type
    if typ == "received":
        extra = f"通过{d.get('channel', '')}受理。\n\n【诉求内容】{t.content}"
    elif typ in ("dispatched", "redispatched"):
        extra = str(d.get("why", ""))
    elif typ == "contacted":
        extra = f"{d.get('method', '')}诉求人。"
    elif typ == "rated":
        extra = f"{d.get('via', '')}：{d.get('satisfaction', '')}，问题{'已解决' if d.get('solved') else '未解决'}。" if d else ""
    elif typ == "supervised":
        extra = str(d.get("name", ""))
    elif typ == "closed":
        extra = str(d.get("reason", ""))
    else:
        extra = ""
    return "\n".join(x for x in (extra, e.text or "") if x) or e.title


def render_ticket_feed(site: Site, t: TicketPublic) -> list[Output]:
    """Both formats of one ticket's feed: every step of its handling, newest first."""
    link = site.absolute(f"tickets/{t.id}/")
    title = f"{t.title} {t.id}"  # (a property, computed once)
    spec = FeedSpec(ticket_feed_slug(t.id), f"{title} 办理进展", "本工单每一步办理进展（个人信息已隐去）", f"/tickets/{t.id}/")
    items = []
    for e in fold_repeats(t.timeline):
        if isinstance(e, list):  # a storm of repeats: one item, updated as the run grows
            first, last = e[0], e[-1]
            items.append(Item(guid=f"{link}#e{first.seq}", title=f"收到重复诉求{fmt_num(len(e))}件（{first.actor}）：{title}",
                              link=link, published=first.at, updated=last.at, summary=repeats_summary(e),
                              categories=(first.title,)))
        else:
            items.append(Item(guid=f"{link}#e{e.seq}", title=f"{e.title}（{e.actor}）：{title}", link=link,
                              published=e.at, updated=e.at, summary=_event_text(e, t), categories=(e.title,)))
    outs = render_feed_direct(spec, items, site_url=site.site_url, base=site.base, fallback_time=t.updated_at)
    for o in outs:
        o.ids = (t.id,)
        o.key = f"ticket-feed/{t.id}"
    return outs


# -- OPML ------------------------------------------------------------------------------------


def _feeds(site: Site) -> list[tuple[str, str, str, str]]:
    """(group, title, feed URL, page URL) of every site-wide feed."""
    names = site.names
    out = [("工单", "新受理工单", "tickets-new", "/tickets/"), ("工单", "新办结工单", "tickets-closed", "/tickets/status/closed/")]
    out += [("承办单位", d.name, f"department-{d.code}", f"/departments/{d.code}/") for d in site.catalog.departments]
    for column, dim, label in (("category_top", "category", names.category), ("area", "area", names.area)):
        group = "诉求类别" if dim == "category" else "区域"
        values = site.state.values(column)
        out += [(group, label(v), f"{dim}-{v}", f"/tickets/{dim}/{v}/") for v in values]
    out += [(group, title, slug, page) for group, slug, title, page in feed_pages.FEED_REGISTRY]
    return [(g, t, site.absolute(feed_paths(slug)[0]), site.absolute(page.lstrip("/"))) for g, t, slug, page in out]


def render_opml(site: Site) -> Output:
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = f"{site.catalog.city.hotline_name} 全部订阅源"
    body = ET.SubElement(opml, "body")
    groups: dict[str, ET.Element] = {}
    for group, title, xml_url, html_url in _feeds(site):
        if group not in groups:
            groups[group] = ET.SubElement(body, "outline", text=group, title=group)
        ET.SubElement(groups[group], "outline", type="rss", text=title, title=title, xmlUrl=xml_url, htmlUrl=html_url)
    ET.indent(opml)
    data = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(opml, encoding="unicode") + "\n"
    return Output(OPML_PATH, data, key="feeds/opml")


class FeedListSection:
    name = "feedlist"

    def full(self, site: Site) -> Iterable[Output]:
        return [render_opml(site)]

    def changed(self, site: Site, before: list[Row | None], after: list[Row | None]) -> Iterable[Output]:
        return []

    def periodic(self, site: Site) -> Iterable[Output]:
        return [render_opml(site)]


SECTION = FeedListSection()

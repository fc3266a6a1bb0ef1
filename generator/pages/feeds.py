"""The ticket feeds and /feeds/, the list of every feed.

- tickets-new: newly received tickets; tickets-closed: newly closed tickets;
- department-<code>: every update of the department's tickets (one item per version,
  GUID `<ticket URL>#e<events>`), category-<top> and area-<code>: new tickets there.
Other sections (episodes, rankings, top lists, reports) add their own feeds and list
them through `FEED_REGISTRY`.
"""

from __future__ import annotations

from ..feeds import FeedSpec, feed_paths, render_feed, ticket_items
from ..render import Output
from ..rows import Row
from .context import Site

# Feeds other sections publish: (group, slug, title, page); filled by those sections.
FEED_REGISTRY: list[tuple[str, str, str, str]] = []


def link_for(site: Site, dim: str, value: str) -> tuple[str, str, str] | None:
    slug = f"{dim}-{value}"
    rss, atom = feed_paths(slug)
    return (slug, site.url(rss), site.url(atom))


def _texts(site: Site, rows: list[Row]) -> dict:
    return site.state.texts([r.id for r in rows])


def _feed(site: Site, spec: FeedSpec, rows: list[Row], **kw) -> list[Output]:
    items = ticket_items(rows, site_url=site.site_url, base=site.base, texts=_texts(site, rows), names=site.names, **kw)
    outs = render_feed(spec, items, site_url=site.site_url, base=site.base, fallback_time=site.now)
    for o in outs:
        o.ids = tuple(r.id for r in rows)
    return outs


def new_tickets(site: Site) -> list[Output]:
    spec = FeedSpec("tickets-new", f"{site.catalog.city.hotline_name} 新受理工单", "最新受理的公开工单（个人信息已隐去）", "/tickets/")
    return _feed(site, spec, site.state.rows("1", (), limit=50), when=lambda r: r.received_at)


def closed_tickets(site: Site) -> list[Output]:
    spec = FeedSpec("tickets-closed", f"{site.catalog.city.hotline_name} 新办结工单", "最新办结的公开工单及答复", "/tickets/status/closed/")
    rows = site.state.rows("closed_at IS NOT NULL", (), order="closed_at DESC, id DESC", limit=50)
    return _feed(site, spec, rows, when=lambda r: r.closed_at, fragment="closed")


def value_feed(site: Site, dim: str, value: str) -> list[Output]:
    from .listings import DIMS, value_path

    column, _ = DIMS[dim]
    names = site.names
    if dim == "department":
        name = names.department_full(value)
        spec = FeedSpec(f"department-{value}", f"{name} 工单动态", f"{name}承办工单的每一次办理进展", "/" + value_path(dim, value))
        rows = site.state.rows("department=?", (value,), order="updated_at DESC, id DESC", limit=50)
        outs = _feed_versions(site, spec, rows)
        return outs
    name = names.category(value) if dim == "category" else names.area(value)
    spec = FeedSpec(f"{dim}-{value}", f"{name} 新受理工单", f"{name}最新受理的公开工单", "/" + value_path(dim, value))
    rows = site.state.rows(f"{column}=?", (value,), order="day DESC, id DESC", limit=50)  # index order, no sort
    return _feed(site, spec, rows, when=lambda r: r.received_at)


def _feed_versions(site: Site, spec: FeedSpec, rows: list[Row]) -> list[Output]:
    """One item per ticket version: a reader sees each new step as a new item."""
    items = ticket_items(rows, site_url=site.site_url, base=site.base, texts=_texts(site, rows), names=site.names)
    items = [i.__class__(**{**i.__dict__, "guid": f"{i.link}#e{r.events}"}) for i, r in zip(items, rows, strict=True)]
    outs = render_feed(spec, items, site_url=site.site_url, base=site.base, fallback_time=site.now)
    for o in outs:
        o.ids = tuple(r.id for r in rows)
    return outs


def _values(site: Site, column: str) -> list[str]:
    return site.state.values(column)


def render_all(site: Site) -> list[Output]:
    outs = new_tickets(site) + closed_tickets(site)
    depts = sorted(set(_values(site, "department")) | set(site.catalog.department_by_code))
    for d in depts:
        outs += value_feed(site, "department", d)
    for c in _values(site, "category_top"):
        outs += value_feed(site, "category", c)
    for a in _values(site, "area"):
        outs += value_feed(site, "area", a)
    outs.append(feeds_index(site))
    return outs


def render_changed(site: Site, before: list[Row | None], after: list[Row | None]) -> list[Output]:
    outs: list[Output] = []
    keys: set[tuple[str, str]] = set()
    new = closed = False
    for old, row in zip(before, after, strict=True):
        if old is None and row is not None:
            new = True
        if (row and row.status == "closed") != (old and old.status == "closed") or (old and row is None):
            closed = True
        for r in (old, row):
            if r is None:
                continue
            if r.department:
                keys.add(("department", r.department))
            if r.category_top:
                keys.add(("category", r.category_top))
            if r.area:
                keys.add(("area", r.area))
        if old is not None and row is None:
            new = True  # a withheld ticket must leave the new-tickets feed too
    if new:
        outs += new_tickets(site)
    if closed:
        outs += closed_tickets(site)
    for dim, value in sorted(keys):
        outs += value_feed(site, dim, value)
    return outs


def feeds_index(site: Site) -> Output:
    names = site.names
    groups: list[tuple[str, list[tuple[str, str, str]]]] = []

    def entry(title: str, slug: str) -> tuple[str, str, str]:
        rss, atom = feed_paths(slug)
        return (title, site.url(rss), site.url(atom))

    groups.append(("工单", [entry("新受理工单", "tickets-new"), entry("新办结工单", "tickets-closed")]))
    groups.append(("承办单位", [entry(d.name, f"department-{d.code}") for d in site.catalog.departments]))
    groups.append(("诉求类别", [entry(names.category(c), f"category-{c}") for c in _values(site, "category_top")]))
    groups.append(("区域", [entry(names.area(a), f"area-{a}") for a in _values(site, "area")]))
    extra: dict[str, list] = {}
    for group, slug, title, _page in FEED_REGISTRY:
        extra.setdefault(group, []).append(entry(title, slug))
    groups += sorted(extra.items())  # sections register at import time, in any order
    html = site.page("feeds_index.html", title="RSS/Atom 订阅", active="/feeds/", groups=groups)
    return Output("feeds/index.html", html, key="feeds")

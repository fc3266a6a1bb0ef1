"""/sitemap.xml (a sitemap index) and one sitemap file per day of tickets."""

from __future__ import annotations

from xml.sax.saxutils import escape

from ..render import Output
from .context import Site
from .listings import day_path

HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def day_file(day: str) -> str:
    return f"sitemaps/{day}.xml"


def render_day(site: Site, day: str) -> Output:
    rows = site.state.query("SELECT id, updated_at FROM rows WHERE day=? ORDER BY id", (day,))
    lines = [HEADER, '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n']
    lines.append(f"<url><loc>{escape(site.absolute(day_path(day)))}</loc></url>\n")
    for r in rows:
        loc = escape(site.absolute("tickets/" + r["id"] + "/"))
        lines.append(f"<url><loc>{loc}</loc><lastmod>{r['updated_at'][:10]}</lastmod></url>\n")
    lines.append("</urlset>\n")
    # No ids: the file carries no ticket's data, only ids and dates, so the leak scan
    # checks it for withheld ids (in its text) but not for any ticket's private fields.
    return Output(day_file(day), "".join(lines), key=f"sitemap/{day}")


def render_pages(site: Site, existing: set[str]) -> Output:
    paths = sorted({p[: -len("index.html")] for p in existing} | {"tickets/", "departments/"})
    paths += [p for p in site.layout.pages if p.lstrip("/") not in paths]
    urls = "".join(f"<url><loc>{escape(site.absolute(p))}</loc></url>\n" for p in sorted(set(paths)))
    body = HEADER + '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + urls + "</urlset>\n"
    return Output("sitemaps/pages.xml", body, key="sitemap/pages")


def render_index(site: Site, existing: set[str]) -> list[Output]:
    """The sitemap index: the editorial pages plus one file per day (depends on days only)."""
    days = site.state.days()
    items = [f"<sitemap><loc>{escape(site.absolute('sitemaps/pages.xml'))}</loc></sitemap>\n"]
    items += [f"<sitemap><loc>{escape(site.absolute(day_file(d)))}</loc></sitemap>\n" for d in days]
    body = HEADER + '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + "".join(items) + "</sitemapindex>\n"
    return [Output("sitemap.xml", body, key="sitemap"), render_pages(site, existing)]

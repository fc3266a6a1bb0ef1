"""首发聚焦 episodes: content/episodes/*.md -> /episodes/ and /episodes/<slug>/.

An episode is a Markdown file with YAML front matter (see content/episodes/README.md).
The tickets it covers are the ids listed in `tickets:` plus the public tickets that
match its `ticket_query:`; each episode page shows them with their CURRENT status, so a
viewer sees whether the problem was fixed after airing, and each covered ticket's page
links back (through `episodes_by_ticket`, which the build calls before rendering tickets).

Query matches are resolved against the public rows: all of them on a full build, only the
changed tickets on an incremental build; the result is kept in the state (meta key
`episodes:covered`) so that ticket pages rendered later link back to the episode.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from markupsafe import Markup

from intake_api.catalog import Catalog
from intake_api.clock import SHANGHAI

from . import content
from .config import cached_catalog
from .content import SLUG, EpisodeMeta
from .feeds import FeedSpec, Item, feed_paths, render_feed
from .pages import feeds as feed_pages
from .pages.context import Site
from .rankings import utc_iso
from .render import Output
from .rows import Row

log = logging.getLogger(__name__)

FEED = FeedSpec("episodes", "首发聚焦", "《首发聚焦》节目：曝光问题，跟踪整改", "/episodes/")
COVERED_META = "episodes:covered"
MEDIA_META = "episodes:media"
MEDIA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_MEDIA_BYTES = 20 * 1024 * 1024
QUERY_WINDOW_DAYS = 365
FOLLOW_UP = {
    "pending": ("待整改", "open"),
    "rectifying": ("整改中", "open"),
    "resolved": ("已整改", "closed"),
    "unresolved": ("未整改到位", "overdue"),
    "monitoring": ("持续跟踪", "open"),
}
NOT_EPISODES = {"readme.md"}


# -- loading ---------------------------------------------------------------------------------


class EpisodeRef(NamedTuple):
    """What a ticket page shows of an episode covering it."""

    slug: str
    number: int
    title: str


@dataclass(frozen=True)
class Episode:
    slug: str
    source: Path
    meta: EpisodeMeta
    html: str
    aired_at: datetime
    video_src: str | None  # URL to use in the page
    video_embed: bool  # a <video> of this site's own file, or just a link to another host
    cover_src: str | None

    @property
    def ref(self) -> EpisodeRef:
        return EpisodeRef(self.slug, self.meta.number, self.meta.title)

    @property
    def path(self) -> str:
        return f"episodes/{self.slug}/"

    @property
    def cover_key(self) -> str:
        """Key of its covered set in the state: changes when what it covers is edited."""
        what = json.dumps([self.meta.tickets, self.meta.ticket_query and self.meta.ticket_query.model_dump(mode="json"),
                           self.aired_at.isoformat()], sort_keys=True)
        return f"{self.slug}#{hashlib.sha256(what.encode()).hexdigest()[:12]}"


def episodes_dir(content_dir: Path) -> Path:
    return content_dir / "episodes"


def _aired(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
    return datetime.combine(value, time(), SHANGHAI)


def _media_url(value: str, *, source: Path, field: str, own_host: str) -> tuple[str, bool]:
    """(URL for the page, whether it is on this site) of a media reference."""
    parts = urlsplit(value)
    if parts.scheme:
        return value, bool(own_host) and parts.hostname == own_host
    if value.startswith("/"):
        return value, True
    name = value.removeprefix("media/")
    if not MEDIA_NAME.match(name) or not (source.parent / "media" / name).is_file():
        raise content.ContentError(f"{source}: field '{field}': no file content/episodes/media/{name}")
    return f"episodes/media/{name}", True  # relative to the site's base


def load_file(path: Path, catalog: Catalog, *, drafts: bool, own_host: str) -> Episode | None:
    """One episode, or None for a draft when drafts are not built."""
    data, body = content.split_front_matter(content.read_text(path), source=str(path))
    if data.get("draft") is True and not drafts:
        return None  # a draft is validated only where it is built (the editors' preview)
    meta = content.validate(EpisodeMeta, data, source=str(path), context={"catalog": catalog})
    slug = meta.slug or path.stem
    if not re.fullmatch(SLUG, slug):
        raise content.ContentError(f"{path}: field 'slug': the file name {path.stem!r} is not a usable slug; "
                                   "name the file with a-z, 0-9 and '-' or set slug:")
    video_src, embed = None, False
    if meta.video:
        video_src, embed = _media_url(meta.video.url, source=path, field="video.url", own_host=own_host)
    cover_src = _media_url(meta.cover, source=path, field="cover", own_host=own_host)[0] if meta.cover else None
    html = content.render_markdown(body, source=str(path), own_host=own_host)
    return Episode(slug, path, meta, html, _aired(meta.aired), video_src, embed, cover_src)


def _stats(*roots: Path) -> tuple:
    out = []
    for root in roots:
        if root.is_dir():
            for p in sorted(root.rglob("*")):
                with contextlib.suppress(OSError):
                    st = p.stat()
                    out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


_CACHE: dict[tuple, list[Episode]] = {}


def load_episodes(content_dir: Path, catalog: Catalog, *, drafts: bool, own_host: str = "") -> list[Episode]:
    """Every episode to build, newest first; a bad file raises ContentError naming file and field."""
    folder = episodes_dir(content_dir)
    key = (str(folder), drafts, own_host, _stats(folder), _stats(catalog.root))
    if key in _CACHE:
        return _CACHE[key]
    out: list[Episode] = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.md")):
            if path.name.lower() in NOT_EPISODES or path.name.startswith(("_", ".")):
                continue
            ep = load_file(path, catalog, drafts=drafts, own_host=own_host)
            if ep is not None:
                out.append(ep)
    for field, value in (("slug", lambda e: e.slug), ("number", lambda e: e.meta.number)):
        seen: dict[Any, Path] = {}
        for ep in out:
            v = value(ep)
            if v in seen:
                raise content.ContentError(f"{ep.source}: field '{field}': {v!r} is already used by {seen[v]}")
            seen[v] = ep.source
    out.sort(key=lambda e: (e.aired_at, e.meta.number), reverse=True)
    _CACHE.clear()
    _CACHE[key] = out
    return out


def own_host(site_url: str) -> str:
    return urlsplit(site_url).hostname or ""


def site_episodes(site: Site) -> list[Episode]:
    """The episodes of this build (none when the content folder is unknown)."""
    content_dir, drafts = content.content_source(site)
    if content_dir is None:
        return []
    return load_episodes(content_dir, site.catalog, drafts=drafts, own_host=own_host(site.site_url))


# -- which tickets an episode covers -------------------------------------------------------


def _query_sql(ep: Episode) -> tuple[str, list[Any]]:
    q = ep.meta.ticket_query
    assert q is not None
    since = q.since or (ep.aired_at.astimezone(SHANGHAI).date() - timedelta(days=QUERY_WINDOW_DAYS))
    where = ["r.day >= ?"]
    params: list[Any] = [since.isoformat()]
    if q.until:
        where.append("r.day <= ?")
        params.append(q.until.isoformat())
    if q.category:
        where.append("instr(r.category || '.', ? || '.') = 1")
        params.append(q.category)
    for column in ("department", "area"):
        if getattr(q, column):
            where.append(f"r.{column} = ?")
            params.append(getattr(q, column))
    for word in q.text:
        where.append("instr(t.content, ?) > 0")
        params.append(word)
    sql = (f"SELECT r.id FROM rows r JOIN texts t ON t.id = r.id WHERE {' AND '.join(where)} "
           f"ORDER BY r.received_at DESC, r.id DESC LIMIT {int(q.limit)}")
    return sql, params


def matches(ep: Episode, row: Row, text: str) -> bool:
    """Whether a public ticket matches the episode's query (the same rules as _query_sql)."""
    q = ep.meta.ticket_query
    if q is None:
        return False
    since = q.since or (ep.aired_at.astimezone(SHANGHAI).date() - timedelta(days=QUERY_WINDOW_DAYS))
    return (
        row.day >= since.isoformat()
        and (q.until is None or row.day <= q.until.isoformat())
        and (q.category is None or (row.category or "").__add__(".").startswith(q.category + "."))
        and (q.department is None or row.department == q.department)
        and (q.area is None or row.area == q.area)
        and all(w in text for w in q.text)
    )


def _public(site: Site, ids: list[str]) -> list[str]:
    if not ids:
        return []
    found = {r[0] for r in site.state.query(f"SELECT id FROM rows WHERE id IN ({','.join('?' * len(ids))})", tuple(ids))}
    return [i for i in ids if i in found]


def resolve(site: Site, ep: Episode) -> list[str]:
    """Listed tickets that are public, then query matches, newest first."""
    ids = _public(site, ep.meta.tickets)
    if ep.meta.ticket_query:
        sql, params = _query_sql(ep)
        ids += [r[0] for r in site.state.query(sql, tuple(params))]
    return list(dict.fromkeys(ids))


def _stored(site: Site, eps: list[Episode]) -> dict[str, list[str]]:
    """slug -> covered ids kept in the state, for the episodes whose coverage was not edited since."""
    raw = site.state.get_meta(COVERED_META)
    kept = json.loads(raw) if raw else {}
    return {ep.slug: kept[ep.cover_key] for ep in eps if ep.cover_key in kept}


def _store(site: Site, eps: list[Episode], covered: dict[str, list[str]]) -> None:
    data = {ep.cover_key: covered[ep.slug] for ep in eps if ep.slug in covered}
    if site.state.get_meta(COVERED_META) != (text := json.dumps(data, sort_keys=True)):
        site.state.set_meta(COVERED_META, text)


def update_covered(site: Site, eps: list[Episode], covered: dict[str, list[str]],
                   before: list[Row | None], after: list[Row | None]) -> set[str]:
    """Apply changed rows to the covered sets; return the slugs whose page changes."""
    changed_ids = {r.id for r in (*before, *after) if r is not None}
    now_rows = {r.id: r for r in after if r is not None}
    gone = changed_ids - set(now_rows)
    texts = site.state.texts(sorted(now_rows)) if any(e.meta.ticket_query for e in eps) else {}
    touched: set[str] = set()
    for ep in eps:
        ids = covered.get(ep.slug)
        if ids is None:
            covered[ep.slug] = resolve(site, ep)
            touched.add(ep.slug)
            continue
        if changed_ids & set(ids) or changed_ids & set(ep.meta.tickets):
            touched.add(ep.slug)
        new = [i for i in ids if i not in gone]
        new += [i for i in ep.meta.tickets if i in now_rows and i not in new]
        if ep.meta.ticket_query:
            q_limit = ep.meta.ticket_query.limit
            listed = set(ep.meta.tickets)
            for tid, row in now_rows.items():
                t = texts.get(tid)
                hit = matches(ep, row, t["content"] if t else "")
                if hit and tid not in new:
                    new.append(tid)
                    touched.add(ep.slug)
                elif not hit and tid in new and tid not in listed:
                    new.remove(tid)
                    touched.add(ep.slug)
            if len(new) > len(listed) + q_limit:
                new = _newest(site, new, listed, q_limit)
        covered[ep.slug] = new
    return touched


def _newest(site: Site, ids: list[str], listed: set[str], limit: int) -> list[str]:
    rows = {r.id: r for r in site.state.rows(f"id IN ({','.join('?' * len(ids))})", tuple(ids))}
    matched = sorted((i for i in ids if i not in listed and i in rows), key=lambda i: (rows[i].received_at, i), reverse=True)
    return [i for i in ids if i in listed] + matched[:limit]


# -- the ticket pages' back links --------------------------------------------------------


class EpisodeIndex(dict):
    """ticket id -> [EpisodeRef]; also tells the sections where the content is."""

    def __init__(self, refs: dict[str, list[EpisodeRef]], *, content_dir: Path | None, drafts: bool) -> None:
        super().__init__(refs)
        self.content_dir = content_dir
        self.drafts = drafts


def _state_covered(state_dir: Path) -> dict[str, list[str]]:
    """The covered sets the last build left in the state (read only; none before the first build)."""
    path = state_dir / "state.sqlite"
    if not path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            r = db.execute("SELECT value FROM meta WHERE key=?", (COVERED_META,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    return json.loads(r[0]) if r else {}


def episodes_by_ticket(config, covered: dict[str, list[str]] | None = None) -> EpisodeIndex:
    """Map ticket id -> the episodes covering it (newest first), for the ticket pages.

    `covered` defaults to the covered sets the last build kept in the state folder.
    """
    catalog = cached_catalog(config.catalog_dir)
    eps = load_episodes(config.content_dir, catalog, drafts=config.drafts,
                        own_host=own_host(config.site_url or catalog.city.site_url))
    if covered is None:
        covered = _state_covered(config.state_dir)
    refs: dict[str, list[EpisodeRef]] = {}
    for ep in eps:  # newest first
        for tid in dict.fromkeys([*ep.meta.tickets, *covered.get(ep.cover_key, [])]):
            refs.setdefault(tid, []).append(ep.ref)
    return EpisodeIndex(refs, content_dir=config.content_dir, drafts=config.drafts)


LINKS_META = "episodes:links"


def covered_in(state) -> dict[str, list[str]]:
    """The covered sets kept in an open state (the one a build is writing)."""
    raw = state.get_meta(COVERED_META)
    return json.loads(raw) if raw else {}


def _links(index: dict[str, list[EpisodeRef]]) -> str:
    return json.dumps({tid: [list(ref) for ref in refs] for tid, refs in index.items()}, sort_keys=True, ensure_ascii=False)


def remember_links(state, index: dict[str, list[EpisodeRef]]) -> None:
    """Record which episodes the ticket pages of this build link to."""
    text = _links(index)
    if state.get_meta(LINKS_META) != text:
        state.set_meta(LINKS_META, text)


def relinked_tickets(state, index: dict[str, list[EpisodeRef]]) -> list[str]:
    """Tickets whose pages link to other episodes than last time (re-render them), and remember the new links.

    For the build: an episode edited, added or removed, or a query that matched new
    tickets, changes the "首发聚焦" box of ticket pages that no journal change touches.
    """
    raw = state.get_meta(LINKS_META)
    old = json.loads(raw) if raw else {}
    new = json.loads(_links(index))
    remember_links(state, index)
    return sorted(t for t in old.keys() | new.keys() if old.get(t) != new.get(t))


# -- pages ---------------------------------------------------------------------------------


@dataclass
class Coverage:
    rows: list[Row]
    closed: int
    open: int
    overdue: int
    solved: int
    satisfied: int
    after_airing: int


def coverage(site: Site, ep: Episode, ids: list[str]) -> Coverage:
    found = {r.id: r for r in site.state.rows(f"id IN ({','.join('?' * len(ids))})", tuple(ids))} if ids else {}
    rows = [found[i] for i in ids if i in found]
    aired = utc_iso(ep.aired_at)
    return Coverage(
        rows=rows,
        closed=sum(r.status == "closed" for r in rows),
        open=sum(r.status == "open" for r in rows),
        overdue=sum(r.status == "overdue" for r in rows),
        solved=sum(r.solved == 1 for r in rows),
        satisfied=sum(r.satisfaction in ("satisfied", "basic") for r in rows),
        after_airing=sum(r.received_at > aired for r in rows),
    )


def _feed_links(site: Site) -> list[tuple[str, str, str]]:
    rss, atom = feed_paths(FEED.slug)
    return [(FEED.title, site.url(rss), "application/rss+xml"), (FEED.title, site.url(atom), "application/atom+xml")]


def _standings(site: Site, eps: list[Episode], *, refresh: bool = True) -> tuple[str | None, dict]:
    """The current month's standing of every department an episode names, and the time of
    the data: computed now (`refresh`), or as the rankings page shows it (a ticket's change)."""
    if not any(ep.meta.departments for ep in eps):
        return None, {}
    from .rankings import current_ranking

    ranking = current_ranking(site, refresh=refresh)
    return ranking.as_of, {d: ranking.standing(d) for ep in eps for d in ep.meta.departments}


def _href(site: Site, url: str | None) -> str | None:
    """A media URL for a page: own media files are relative to the site's base."""
    if url is None or url.startswith("/") or urlsplit(url).scheme:
        return url
    return site.url(url)


def render_episode(site: Site, ep: Episode, ids: list[str], standings: tuple[str | None, dict]) -> Output:
    cov = coverage(site, ep, ids)
    as_of, standings = standings
    html = site.page(
        "episode.html",
        title=f"首发聚焦第{ep.meta.number}期：{ep.meta.title}",
        active="/episodes/",
        ep=ep,
        body=Markup(ep.html),  # editors' trusted Markdown, checked for remote loads
        cov=cov,
        aired_iso=utc_iso(ep.aired_at),
        video_href=_href(site, ep.video_src),
        cover_href=_href(site, ep.cover_src),
        follow=FOLLOW_UP,
        standings=[(d, site.names.department_full(d), standings.get(d)) for d in ep.meta.departments],
        standings_as_of=as_of,
        list_names=site.catalog.ranking.list_names,
        missing=len(ep.meta.tickets) - len([i for i in ep.meta.tickets if i in {r.id for r in cov.rows}]),
        feeds=_feed_links(site),
        description=ep.meta.summary,
    )
    return Output(ep.path + "index.html", html, ids=tuple(r.id for r in cov.rows), key=f"episode/{ep.slug}")


def render_index(site: Site, eps: list[Episode], covered: dict[str, list[str]]) -> Output:
    items = [(ep, coverage(site, ep, covered.get(ep.slug, []))) for ep in eps]
    html = site.page("episodes.html", title="首发聚焦", active="/episodes/", items=items, follow=FOLLOW_UP,
                     feeds=_feed_links(site), description="《首发聚焦》：把群众反映强烈的问题摆上台面，跟踪整改到底。")
    return Output("episodes/index.html", html, key="episodes")


def feed_items(site: Site, eps: list[Episode]) -> list[Item]:
    root = site.site_url.rstrip("/") + site.base
    items = []
    for ep in eps:
        if ep.meta.draft:
            continue
        link = root + ep.path
        enclosure = None
        v = ep.meta.video
        if v and v.size and v.type and ep.video_src:
            src = ep.video_src
            url = src if urlsplit(src).scheme else site.site_url.rstrip("/") + (src if src.startswith("/") else site.url(src))
            enclosure = (url, str(v.size), v.type)
        items.append(Item(guid=link, title=f"第{ep.meta.number}期：{ep.meta.title}", link=link,
                          published=ep.aired_at, updated=ep.aired_at, summary=ep.meta.summary,
                          categories=("首发聚焦",), enclosure=enclosure))
        f = ep.meta.follow_up
        if f and f.updated:
            # Each follow-up update is an item of its own, so that subscribers see it.
            at = datetime.combine(f.updated, time(), SHANGHAI)
            label = FOLLOW_UP[f.status][0]
            items.append(Item(guid=f"{link}#follow-up-{f.updated.isoformat()}", title=f"第{ep.meta.number}期整改跟踪：{label}",
                              link=link, published=at, updated=at, summary=f"{ep.meta.title}\n\n{label}" + (f"：{f.note}" if f.note else ""),
                              categories=("首发聚焦", "整改跟踪")))
    return items


def render_media(site: Site, content_dir: Path) -> list[Output]:
    """Copy content/episodes/media/ to /episodes/media/ (covers, short clips)."""
    folder = episodes_dir(content_dir) / "media"
    outs = []
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if not p.is_file() or p.name.startswith("."):
                continue
            if not MEDIA_NAME.match(p.name):
                raise content.ContentError(f"{p}: media file names may use A-Z, a-z, 0-9, '.', '_' and '-' only")
            if p.stat().st_size > MAX_MEDIA_BYTES:
                raise content.ContentError(f"{p}: larger than {MAX_MEDIA_BYTES // 1024 // 1024} MB; "
                                           "serve long videos from /media/ on the web server and give that path")
            outs.append(Output(f"episodes/media/{p.name}", p.read_bytes(), key="episodes/media"))
    return outs


def _media_tag(content_dir: Path) -> str:
    return hashlib.sha256(repr(_stats(episodes_dir(content_dir) / "media")).encode()).hexdigest()[:16]


# -- the section ---------------------------------------------------------------------------


class EpisodesSection:
    name = "episodes"

    def _all(self, site: Site, eps: list[Episode], covered: dict[str, list[str]]) -> list[Output]:
        standings = _standings(site, eps)
        outs = [render_episode(site, ep, covered.get(ep.slug, []), standings) for ep in eps]
        outs.append(render_index(site, eps, covered))
        outs += render_feed(FEED, feed_items(site, eps), site_url=site.site_url, base=site.base, fallback_time=site.now)
        return outs

    def full(self, site: Site) -> Iterable[Output]:
        content_dir, drafts = content.content_source(site)
        if content_dir is None:
            return []
        content.remember_source(site, content_dir, drafts)
        remember_links(site.state, site.episodes_by_ticket)
        eps = site_episodes(site)
        covered = {ep.slug: resolve(site, ep) for ep in eps}
        _store(site, eps, covered)
        site.state.set_meta(MEDIA_META, _media_tag(content_dir))
        return self._all(site, eps, covered) + render_media(site, content_dir)

    def changed(self, site: Site, before: list[Row | None], after: list[Row | None]) -> Iterable[Output]:
        """The pages of the episodes covering a changed ticket (and the list, for its counts)."""
        eps = site_episodes(site)
        if not eps:
            return []
        covered = _stored(site, eps)
        touched = update_covered(site, eps, covered, before, after)
        _store(site, eps, covered)
        if not touched:
            return []
        # The standings as the slow lane last kept them: summing the month is not this
        # change's work (the rankings page itself is refreshed each minute).
        standings = _standings(site, [ep for ep in eps if ep.slug in touched], refresh=False)
        outs = [render_episode(site, ep, covered[ep.slug], standings) for ep in eps if ep.slug in touched]
        outs.append(render_index(site, eps, covered))
        return outs

    def periodic(self, site: Site) -> Iterable[Output]:
        """Every episode page (editors' edits, named departments' standings) within a minute."""
        content_dir, _drafts = content.content_source(site)
        if content_dir is None:
            return []
        try:
            eps = site_episodes(site)
            media = []
            tag = _media_tag(content_dir)
            if site.state.get_meta(MEDIA_META) != tag:
                media = render_media(site, content_dir)
                site.state.set_meta(MEDIA_META, tag)
        except content.ContentError as exc:
            log.error("episodes not refreshed: %s", exc)
            return []
        covered = _stored(site, eps)
        for ep in eps:
            if ep.slug not in covered:
                covered[ep.slug] = resolve(site, ep)
        _store(site, eps, covered)
        return self._all(site, eps, covered) + media


SECTION = EpisodesSection()
if not any(slug == FEED.slug for _g, slug, _t, _p in feed_pages.FEED_REGISTRY):
    feed_pages.FEED_REGISTRY.append(("首发聚焦", FEED.slug, "首发聚焦（节目与整改跟踪）", FEED.page))

"""RSS 2.0 and Atom: every feed parses, stable GUIDs, newest first, dates with zone, nothing private."""

from __future__ import annotations

import html
import re
from email.utils import parsedate_to_datetime
from xml.etree import ElementTree as ET

import feedparser
import pytest

from generator import feedlist
from generator.pages import feeds as feed_pages
from generator.public import make_public
from generator.redact import Redactor
from intake_api.store import Store

from .media_fixtures import OWN_PHONE, SECRET_NAME, SECRET_PHONE, MediaSite
from .media_fixtures import media_site as media_site  # noqa: F401 - the shared fixture

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
MEDIA_FEEDS = ("feeds/episodes", "feeds/rankings", "feeds/top")


def _guids(data: bytes) -> list[str]:
    return [e.get("id") for e in feedparser.parse(data).entries]


def test_every_feed_parses_without_bozo(media_site: MediaSite):
    feeds = media_site.feeds()
    assert len(feeds) > 100
    for path in (f"{f}.{fmt}.xml" for f in MEDIA_FEEDS for fmt in ("rss", "atom")):
        assert path in feeds, path
    for path, data in feeds.items():
        parsed = feedparser.parse(data)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.version in ("rss20", "atom10"), path
        assert len(parsed.entries) <= 50, path


def test_items_newest_first_with_zoned_dates_and_self_links(media_site: MediaSite):
    for path, data in media_site.feeds().items():
        parsed = feedparser.parse(data)
        self_links = [ln.href for ln in parsed.feed.get("links", []) if ln.get("rel") == "self"]
        assert self_links == [f"https://shoufa.example.gov.cn/{path}"], path
        if path.endswith(".rss.xml"):
            for date in re.findall(rb"<pubDate>([^<]+)</pubDate>", data):
                assert parsedate_to_datetime(date.decode()).tzinfo is not None, (path, date)
        else:
            for date in re.findall(rb"<updated>([^<]+)</updated>", data):
                assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)", date), (path, date)
        # Atom orders by <updated>; the media feeds' RSS <pubDate> is in the same order too.
        if path.endswith(".atom.xml") or path.startswith(MEDIA_FEEDS):
            stamps = [e.get("updated_parsed") or e.get("published_parsed") for e in parsed.entries]
            assert stamps == sorted(stamps, reverse=True), path


def test_guids_and_feeds_are_stable_across_full_builds(media_site: MediaSite):
    now = media_site.feeds()
    assert sorted(now) == sorted(media_site.first_feeds)
    for path, data in now.items():
        assert _guids(data) == _guids(media_site.first_feeds[path]), path
        assert len(set(_guids(data))) == len(_guids(data)), path
    for f in MEDIA_FEEDS:
        assert now[f"{f}.atom.xml"] == media_site.first_feeds[f"{f}.atom.xml"]  # byte for byte


def test_media_pages_are_deterministic(media_site: MediaSite):
    """With the clock pinned, a rebuild writes the same bytes (a golden-site test can diff them)."""
    now = media_site.media_files()
    assert sorted(now) == sorted(media_site.first_files)
    assert [p for p in now if now[p] != media_site.first_files[p]] == []


def test_nothing_private_or_confidential_in_any_feed(media_site: MediaSite):
    store = Store(media_site.config.data_dir, prefix="LY", durable=False)
    phones, names, withheld = set(), set(), set()
    for t in store.scan():
        p = t.state.private
        if p.citizen_phone:
            phones.add(re.sub(r"\D", "", p.citizen_phone))
        if p.citizen_name and len(p.citizen_name) >= 3:
            names.add(p.citizen_name)
        if not t.state.is_public:
            withheld.add(t.id)
    assert media_site.secret_id in withheld and len(withheld) > 3
    assert {SECRET_PHONE, OWN_PHONE} <= phones and SECRET_NAME in names
    for path, data in media_site.feeds().items():
        text = data.decode("utf-8")
        digits = re.sub(r"[\s\-.]", "", text)
        assert not [t for t in withheld if t in text], path
        assert not [p for p in phones if p in digits], path
        assert not [n for n in names if n in text], path
    # The planted ticket is in the feeds, with its phone removed.
    dept = media_site.feeds()
    assert any(media_site.phone_id.encode() in d for d in dept.values())


def test_feeds_are_listed_and_advertised(media_site: MediaSite):
    index = media_site.read("feeds/index.html")
    for slug in ("episodes", "rankings", "top"):
        assert f"/feeds/{slug}.rss.xml" in index and f"/feeds/{slug}.atom.xml" in index
    for page, slug in (("episodes/index.html", "episodes"), ("episodes/001-temp-power/index.html", "episodes"),
                       ("rankings/index.html", "rankings"), ("rankings/2026-10/index.html", "rankings"),
                       ("top/index.html", "top"), ("top/2026-W46/index.html", "top")):
        html = media_site.read(page)
        for typ, fmt in (("application/rss+xml", "rss"), ("application/atom+xml", "atom")):
            link = rf'<link rel="alternate" type="{re.escape(typ)}" title="[^"]+" href="/feeds/{slug}\.{fmt}\.xml">'
            assert re.search(link, html), (page, fmt)


def test_episode_feed_has_enclosures(media_site: MediaSite):
    parsed = feedparser.parse(media_site.read("feeds/episodes.rss.xml"))
    assert [e.title for e in parsed.entries] == ["第1期整改跟踪：整改中", "第2期：讨薪难", "第1期：凤凰水城的临时电"]
    (enc,) = parsed.entries[2].enclosures
    assert enc.href == "https://shoufa.example.gov.cn/episodes/media/clip.mp4" and enc.length == "12" and enc.type == "video/mp4"
    assert not parsed.entries[1].get("enclosures")  # no size or type given
    assert parsed.entries[2].id == "https://shoufa.example.gov.cn/episodes/001-temp-power/"
    assert parsed.entries[0].id == "https://shoufa.example.gov.cn/episodes/001-temp-power/#follow-up-2026-11-18"
    assert "供电公司已勘察现场" in parsed.entries[0].summary


def test_rankings_and_top_feeds_carry_closed_periods(media_site: MediaSite):
    parsed = feedparser.parse(media_site.read("feeds/rankings.atom.xml"))
    ids = [e.id for e in parsed.entries]
    assert "https://shoufa.example.gov.cn/rankings/2026-10/#red" in ids
    assert not [i for i in ids if "2026-11" in i]  # the current month is not final
    red = next(e for e in parsed.entries if e.id.endswith("2026-10/#red"))
    assert red.title == "2026年10月红榜" and "第1名" in red.summary
    parsed = feedparser.parse(media_site.read("feeds/top.rss.xml"))
    ids = [e.id for e in parsed.entries]
    assert "https://shoufa.example.gov.cn/top/2026-10/#best" in ids and "https://shoufa.example.gov.cn/top/2026-W46/#worst" in ids
    assert not [i for i in ids if "2026-W47" in i or "2026-11/" in i]
    assert "签收+10" in parsed.entries[-1].summary or "签收-10" in parsed.entries[-1].summary


def test_opml_lists_every_site_feed(media_site: MediaSite):
    opml = ET.fromstring(media_site.read(feedlist.OPML_PATH).encode())
    urls = {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")}
    rss = {f"https://shoufa.example.gov.cn/{p}" for p in media_site.feeds() if p.endswith(".rss.xml") and "/tickets/" not in p}
    assert rss <= urls
    # Others are feeds of sections this test site does not build (registered when imported).
    others = {f"https://shoufa.example.gov.cn/feeds/{slug}.rss.xml" for _g, slug, _t, _p in feed_pages.FEED_REGISTRY}
    assert urls - rss <= others - rss


@pytest.fixture
def ticket_feed(media_site: MediaSite):
    site = media_site.site_object()
    store = Store(media_site.config.data_dir, prefix="LY", durable=False)
    redactor = Redactor(media_site.catalog.redaction.rules)

    def render(tid: str):
        public = make_public(store.get(tid), catalog=media_site.catalog, redactor=redactor)
        return public, feedlist.render_ticket_feed(site, public)

    yield render
    site.state.close()


def test_each_tickets_own_feed(media_site: MediaSite, ticket_feed):
    public, outs = ticket_feed(media_site.phone_id)
    day = media_site.phone_id[2:10]
    assert [o.path for o in outs] == [f"feeds/tickets/{day[:4]}/{day[4:6]}/{day[6:]}/{media_site.phone_id}.{f}.xml" for f in ("rss", "atom")]
    assert all(o.ids == (media_site.phone_id,) for o in outs)
    for out in outs:
        parsed = feedparser.parse(out.data)
        assert not parsed.bozo
        assert len(parsed.entries) == len(public.timeline)
        assert [e.id for e in parsed.entries] == [f"https://shoufa.example.gov.cn/tickets/{public.id}/#e{e.seq}" for e in reversed(public.timeline)]
        assert OWN_PHONE not in out.data.decode()
    assert feedlist.ticket_feed_links(media_site.site_object(), public.id)[1][1].endswith(f"{public.id}.atom.xml")
    assert ticket_feed(media_site.phone_id)[1][1].data == outs[1].data  # stable


def test_a_storm_of_repeats_is_one_item_in_the_tickets_feed(media_site: MediaSite, ticket_feed):
    """120 repeats must not push the department's reply out of the feed's 50 items."""
    from datetime import timedelta

    from generator.public import PublicEvent

    public, _ = ticket_feed(media_site.phone_id)
    events = list(public.timeline)
    at = events[-1].at

    def event(typ: str, **kw) -> PublicEvent:
        seq = len(events) + 1
        return PublicEvent(seq=seq, type=typ, at=at + timedelta(minutes=seq), actor="系统", hash=f"{seq:064x}", **kw)

    for run in range(2):
        first = len(events) + 1
        for n in range(60):
            events.append(event("linked", title="关联工单", details={"ticket": f"LY2026112810{run}{n:03d}", "relation": "duplicate"}))
        if run == 0:
            runs = (first, len(events))
            events.append(event("replied", title="答复", text="已抢修完毕，恢复供水。"))
    stormy = public.model_copy(update={"timeline": events})
    link = f"https://shoufa.example.gov.cn/tickets/{public.id}/"
    for out in feedlist.render_ticket_feed(media_site.site_object(), stormy):
        parsed = feedparser.parse(out.data)
        assert not parsed.bozo
        assert len(parsed.entries) == len(public.timeline) + 3
        ids = [e.id for e in parsed.entries]
        assert ids[:3] == [f"{link}#e{runs[1] + 2}", f"{link}#e{runs[1] + 1}", f"{link}#e{runs[0]}"]
        assert ids[-1] == f"{link}#e1", "the first event is still in the feed"
        newest, reply, older = parsed.entries[:3]
        assert newest.title.startswith("收到重复诉求60件") and older.title.startswith("收到重复诉求60件")
        assert "已抢修完毕" in reply.summary
        assert "收到重复诉求60件" in older.summary
        # A growing run keeps its GUID and is updated to its last repeat.
        assert older.updated_parsed[:5] == (events[runs[1] - 1].at).utctimetuple()[:5]


def test_citizen_markup_stays_text_in_the_tickets_feed(ticket_feed, media_site: MediaSite):
    _public, (rss, atom) = ticket_feed(media_site.markup_id)
    text = atom.data.decode()
    assert "<script>" not in text and "&lt;script&gt;alert" in text and "{{ 7*7 }}" in text
    assert not feedparser.parse(rss.data).bozo


def test_citizen_markup_is_literal_text_in_rss_readers(ticket_feed, media_site: MediaSite):
    _public, (rss, _atom) = ticket_feed(media_site.markup_id)
    received = feedparser.parse(rss.data).entries[-1]
    shown = html.unescape(re.sub(r"<[^>]+>", "", received.summary))  # what a reader displays
    assert '<script>alert("x")</script><img src=x onerror=alert(1)>' in shown


# -- the per-ticket feeds' direct writer --------------------------------------------------

from datetime import UTC as _UTC  # noqa: E402
from datetime import datetime as _dt  # noqa: E402
from datetime import timedelta as _td  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from generator.feeds import FeedSpec, Item, render_feed, render_feed_direct  # noqa: E402

_TEXT = st.text(alphabet=st.sampled_from(list("工单答复&<>\"'\r\n\t ]]>a1#😀\u3000\x0b")), min_size=0, max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    title=_TEXT, summaries=st.lists(_TEXT, min_size=0, max_size=6), cats=st.lists(_TEXT, max_size=2),
    minutes=st.lists(st.integers(0, 10_000), min_size=6, max_size=6), micro=st.booleans(),
)
def test_the_direct_feed_writer_gives_feedgens_bytes(title, summaries, cats, minutes, micro):
    """Whatever the text (markup, quotes, CR, tabs, emoji, characters XML forbids), the
    per-ticket feeds are the bytes feedgen makes, or feedgen's own result."""
    base = _dt(2026, 11, 28, 2, 44, 46, 808000 if micro else 0, tzinfo=_UTC)
    link = "https://shoufa.example.gov.cn/tickets/LY20261128000001/"
    items = [
        Item(guid=f"{link}#e{i}", title=f"{s[:5]}签收{i}", link=link, published=base + _td(minutes=minutes[i]),
             updated=base + _td(minutes=minutes[i]), summary=s or "签收", categories=tuple(cats))
        for i, s in enumerate(summaries)
    ]
    spec = FeedSpec("tickets/2026/11/28/LY20261128000001", title or "办理进展", "本工单每一步办理进展", "/tickets/LY20261128000001/")
    kw = dict(site_url="https://shoufa.example.gov.cn/", base="/", fallback_time=base)
    try:
        want = [o.data for o in render_feed(spec, items, **kw)]
    except ValueError:  # lxml refuses characters XML forbids: so must the direct writer
        try:
            render_feed_direct(spec, items, **kw)
        except ValueError:
            return
        raise AssertionError("the direct writer accepted what feedgen refuses") from None
    assert [o.data for o in render_feed_direct(spec, items, **kw)] == want

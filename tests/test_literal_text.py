"""Citizen and department text is shown literally everywhere (issue 9, item 6).

HTML, scripts, event handlers, `javascript:` and `data:` links, Markdown link and
attribute syntax, template syntax, snippet includes and front-matter fences, filed as a
citizen's text and sent as a department's reply, come out as the same literal text on
the ticket page and in listings, feeds, exports and search results; a real browser
runs none of it.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import lxml.html
import pytest

from generator import slowlane
from generator.build import build
from intake_api.model import Actor, Role, TicketCreate

from .site_fixtures import BuiltSite, make_site, open_page, serve_static

PAYLOAD = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><svg onload="window.__pwned=4"></svg>'
    "[点我](javascript:window.__pwned=3) [数据](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) "
    '<a href="javascript:window.__pwned=5">链接</a> {: onclick="window.__pwned=6" } {{ 7*7 }} {% raw %} ${7*7} '
    '--8<-- "/etc/passwd"\n---\ntitle: x\n---\n<iframe srcdoc="<script>parent.__pwned=7</script>"></iframe> &amp; &lt;b&gt;'
)
CITIZEN_WORD = "独角兽"  # unique words to find the two texts in search
REPLY_WORD = "麒麟"
CONTENT = f"{CITIZEN_WORD}小区路灯坏了，兰山区。{PAYLOAD}"
REPLY = f"{REPLY_WORD}答复：{PAYLOAD}"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NS = {"atom": "http://www.w3.org/2005/Atom"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[BuiltSite, str]:
    b = make_site(tmp_path_factory.mktemp("literal"), tickets=60, days=3, search=False)
    t = b.service.create(TicketCreate(channel="web", content=CONTENT, area="兰山区"), actor=Actor(role=Role.OPERATOR)).ticket
    dept = Actor(role=Role.DEPARTMENT, department=t.state.department)
    b.service.act(t.id, {"action": "accept"}, actor=dept)
    b.service.act(t.id, {"action": "reply", "text": REPLY}, actor=dept)
    build(b.config)  # incremental, like production
    slowlane.run(b.config)  # exports and search shards
    return b, t.id


def _html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_no_page_carries_markup_from_ticket_text(built):
    b, tid = built
    pages_with_text = 0
    for path in _html_files(b.site):
        raw = path.read_text(encoding="utf-8")
        if "__pwned" not in raw:
            continue
        pages_with_text += 1
        doc = lxml.html.fromstring(raw)
        for el in doc.iter():
            if not isinstance(el.tag, str):
                continue
            for name, value in el.attrib.items():
                assert not (name.lower().startswith("on") and "__pwned" in value), (path, el.tag, name)
                assert not value.strip().lower().startswith(("javascript:", "data:")), (path, el.tag, name, value)
            if el.tag in ("script", "iframe", "svg", "img", "object", "embed"):
                assert "__pwned" not in (el.text or "") + " ".join(el.attrib.values()), (path, el.tag)
        assert "{{ 7*7 }}" in doc.text_content() or "{{ 7*7 }}" not in raw  # templates were not evaluated
    assert pages_with_text >= 3  # the ticket page, its day listing, the home page at least


def test_ticket_page_shows_citizen_and_department_text_verbatim(built):
    b, tid = built
    doc = lxml.html.fromstring((b.site / "tickets" / tid / "index.html").read_text(encoding="utf-8"))
    [content] = doc.xpath("//blockquote[contains(@class, 'shoufa-content')]")
    assert content.text_content().strip() == CONTENT.strip()
    assert len(content) == 0 or all(child.tag in ("br", "p") for child in content.iter() if child is not content)
    timeline = doc.xpath("//*[contains(@class, 'shoufa-timeline')]")[0].text_content()
    for line in REPLY.splitlines():
        assert line.strip() in timeline


def _rss_items(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    return {item.findtext("link"): item.findtext("description") or "" for item in root.iter("item")}


def _atom_entries(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {e.find("atom:link", NS).get("href"): e for e in root.findall("atom:entry", NS)}


def test_feeds_carry_the_text_as_text(built):
    b, tid = built
    dept = b.service.store.get(tid).state.department
    link = f"https://shoufa.example.gov.cn/tickets/{tid}/"
    for slug in ("tickets-new", f"department-{dept}"):
        # RSS: <description> is HTML to every reader, so the text must arrive escaped in it.
        description = _rss_items(b.site / "feeds" / f"{slug}.rss.xml")[link]
        fragment = lxml.html.fragment_fromstring(description, create_parent="div")
        assert [el.tag for el in fragment.iter() if el is not fragment and el.tag != "br"] == [], description[:200]
        shown = fragment.text_content()
        assert "<script>window.__pwned=1</script>" in shown and "{{ 7*7 }}" in shown
        # Atom: a text construct (or escaped HTML), never markup the reader would run.
        entry = _atom_entries(b.site / "feeds" / f"{slug}.atom.xml")[link]
        summary = entry.find("atom:summary", NS)
        assert len(summary) == 0  # no child elements (no xhtml content)
        kind = summary.get("type", "text")
        text = summary.text or ""
        if kind == "html":
            frag = lxml.html.fragment_fromstring(text, create_parent="div")
            assert [el.tag for el in frag.iter() if el is not frag and el.tag != "br"] == []
            text = frag.text_content()
        else:
            assert kind == "text"
        assert "<script>window.__pwned=1</script>" in text
    reply_feed = _rss_items(b.site / "feeds" / f"department-{dept}.rss.xml")[link]
    assert f"{REPLY_WORD}答复" in lxml.html.fragment_fromstring(reply_feed, create_parent="div").text_content()


def test_exports_carry_the_exact_strings(built):
    b, tid = built
    month = b.service.store.get(tid).state.received_at.astimezone().strftime("%Y-%m")
    raw_csv = (b.site / "open-data" / f"tickets-{month}.csv").read_text(encoding="utf-8-sig")
    [row] = [r for r in csv.DictReader(io.StringIO(raw_csv)) if r["id"] == tid]
    assert row["content"] == CONTENT and row["reply"] == REPLY
    data = json.loads((b.site / "open-data" / f"tickets-{month}.json").read_bytes())
    [rec] = [r for r in data["tickets"] if r["id"] == tid]
    assert rec["content"] == CONTENT and rec["reply"] == REPLY


# -- in a real browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(built):
    b, tid = built
    with serve_static(b.site) as base:
        yield b, tid, base


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    with open_page(browser) as pg:
        yield pg


def _inert(page) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert page.locator("iframe").count() == 0


@pytest.mark.browser
def test_no_script_runs_on_the_pages_that_show_the_text(served, page):
    b, tid, base = served
    day = b.service.store.get(tid).state.received_at.astimezone().strftime("%Y/%m/%d")
    for path in (f"/tickets/{tid}/", f"/tickets/{day}/", "/"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        _inert(page)
    page.goto(f"{base}/tickets/{tid}/")
    timeline = page.locator(".shoufa-timeline").inner_text()
    assert f"{REPLY_WORD}答复：<script>window.__pwned=1</script>" in timeline
    assert page.locator(".shoufa-timeline img, .shoufa-timeline svg, .shoufa-timeline a[href^='javascript']").count() == 0


@pytest.mark.browser
@pytest.mark.parametrize("word", [CITIZEN_WORD, REPLY_WORD])
def test_search_results_show_the_text_literally(served, page, word):
    b, tid, base = served
    page.goto(f"{base}/search/")
    page.select_option("#shoufa-range", "all")
    # Choosing the range remounts the search box once its shards are fetched: type after that.
    page.wait_for_selector('#search[data-range="all"] .pagefind-ui__search-input')
    page.fill(".pagefind-ui__search-input", word)
    page.wait_for_selector(".pagefind-ui__result-link", timeout=30000)
    page.wait_for_timeout(800)  # let every result and excerpt render
    _inert(page)
    links = page.locator(".pagefind-ui__result-link").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert f"/tickets/{tid}/" in links
    excerpts = page.locator(".pagefind-ui__result-excerpt")
    assert excerpts.count() >= 1
    # Only Pagefind's own <mark> highlights: no element from the ticket text.
    tags = excerpts.evaluate_all("els => els.flatMap(e => [...e.querySelectorAll('*')].map(c => c.tagName))")
    assert set(tags) <= {"MARK"}, tags
    assert word in excerpts.first.inner_text()


@pytest.mark.browser
def test_a_search_term_with_markup_is_not_run(served, page):
    _b, _tid, base = served
    page.goto(f"{base}/search/")
    page.select_option("#shoufa-range", "all")
    # Choosing the range remounts the search box once its shards are fetched: type after that.
    page.wait_for_selector('#search[data-range="all"] .pagefind-ui__search-input')
    page.fill(".pagefind-ui__search-input", '<img src=x onerror="window.__pwned=9">')
    page.wait_for_timeout(1500)
    _inert(page)
    assert page.locator("#search img").count() == 0


def test_the_listing_tables_escape_is_markupsafes_escape():
    """Listing tables escape each value with a quicker copy of markupsafe's escape: any
    text, markup characters included, comes out exactly as markupsafe makes it."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from markupsafe import Markup, escape

    from generator.render import _escape

    @settings(max_examples=500, deadline=None)
    @given(st.one_of(st.text(alphabet=st.sampled_from("<>&'\"a中 ;#x<&"), max_size=30), st.text(max_size=30),
                     st.integers(), st.none()))
    def same(value):
        assert _escape(value) == str(escape("" if value is None else value))

    same()
    assert _escape(Markup("<b>已办结</b>")) == "<b>已办结</b>"  # already safe: kept

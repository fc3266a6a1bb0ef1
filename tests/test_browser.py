"""The pages in a real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .site_fixtures import STORM_REPLY, BuiltSite, make_site, open_page, serve_static

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    built: BuiltSite = make_site(tmp_path_factory.mktemp("browser-site"), tickets=300, days=8, storm=60)
    with serve_static(built.site) as base:
        yield built, base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    with open_page(browser, viewport={"width": 1280, "height": 900}) as pg:
        yield pg


def _external_requests(page, base: str) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if not r.url.startswith(base) and not r.url.startswith("data:") else None)
    return seen


def test_ticket_page_shows_the_whole_timeline(served, page):
    built, base = served
    t = next(t for t in built.service.store.scan() if t.state.is_public and t.state.status == "closed")
    external = _external_requests(page, base)
    page.goto(f"{base}/tickets/{t.id}/")
    assert page.locator("h1").inner_text().endswith(t.id)
    assert page.locator(".shoufa-timeline > li").count() == len(t.events)
    assert "回访评价" in page.locator(".shoufa-timeline").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ticket.png"), full_page=True)
    assert external == []


def test_a_ticket_with_many_repeats_shows_its_reply_first_and_folds_the_repeats(served, page):
    """A burst main: 60 citizens called about one building. The first report's page must
    show what was done without scrolling past 60 links, and still lead to every repeat."""
    built, base = served
    page.goto(f"{base}/tickets/{built.storm_id}/")
    facts = page.locator("dl.shoufa-meta")
    assert facts.locator("dt", has_text="重复诉求").count() == 1
    assert facts.locator("dd", has_text="件关联到本工单").inner_text().startswith("60件关联到本工单，各自照常办理")
    reply = page.get_by_text(STORM_REPLY)
    assert reply.is_visible()
    assert reply.bounding_box()["y"] < 2 * 900, "the reply is within the first two screens"
    assert page.evaluate("document.body.scrollHeight") < 3 * 900
    repeats = page.locator("li.shoufa-event--repeats")
    assert repeats.count() == 1
    assert "收到重复诉求60件" in repeats.inner_text()
    rows = repeats.locator(".shoufa-repeats__list > li")
    assert rows.count() == 60 and not rows.first.is_visible()
    repeats.locator("summary").click()
    assert rows.nth(59).is_visible()
    assert all(rows.nth(i).locator("code.shoufa-hash").inner_text().startswith("#") for i in range(0, 60, 7))
    # Each link leads to a repeat, which links back to this ticket as its first report.
    href = rows.nth(7).locator("a").get_attribute("href")
    rows.nth(7).locator("a").click()
    page.wait_for_url(f"**{href}")
    back = page.locator("dl.shoufa-meta dd", has_text="重复诉求，原工单")
    assert back.locator("a").get_attribute("href").endswith(f"/tickets/{built.storm_id}/")


def test_home_page_shows_figures(served, page):
    _, base = served
    external = _external_requests(page, base)
    page.goto(f"{base}/")
    assert "今日受理" in page.locator(".shoufa-figures").first.inner_text()
    assert page.locator("table.shoufa-tickets tbody tr").count() == 10
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
    assert external == []


def test_no_script_from_ticket_text_runs(served, page):
    built, base = served
    page.goto(f"{base}/tickets/{built.xss_id}/")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    content = page.locator("blockquote.shoufa-content").inner_text()
    assert "<script>window.__pwned=1</script>" in content and "{{ 7*7 }}" in content
    assert page.locator("blockquote.shoufa-content img").count() == 0
    assert page.locator("blockquote.shoufa-content a").count() == 0


def test_search_finds_a_ticket_by_a_chinese_word(served, page):
    built, base = served
    target = next(t for t in built.service.store.scan() if t.state.is_public and "物业" in t.state.content)
    page.goto(f"{base}/search/")
    page.select_option("#shoufa-range", "all")
    # Choosing the range remounts the search box once its shards are fetched: type after that.
    page.wait_for_selector('#search[data-range="all"] .pagefind-ui__search-input')
    page.fill(".pagefind-ui__search-input", "物业")
    page.wait_for_selector(".pagefind-ui__result-link", timeout=30000)
    page.wait_for_timeout(500)
    text = page.locator(".pagefind-ui__message").inner_text()
    assert "物业" in text
    links = page.locator(".pagefind-ui__result-link").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert links and all(link.startswith("/tickets/LY") for link in links)
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)
    # Lookup by ticket number goes straight to the ticket.
    page.fill("#shoufa-id", target.id)
    page.click("#shoufa-go")
    page.wait_for_url(f"**/tickets/{target.id}/")


def test_a_search_that_never_answers_says_so(served, page):
    """Pagefind's box waits for ever when a request of its own fails: after 12 s without
    an answer the page asks the reader to reload."""
    _, base = served
    page.route("**/pagefind.js", lambda route: route.abort())
    page.goto(f"{base}/search/")
    page.select_option("#shoufa-range", "all")
    page.wait_for_selector('#search[data-range="all"] .pagefind-ui__search-input')
    page.fill(".pagefind-ui__search-input", "物业")
    page.wait_for_selector("#shoufa-stalled", timeout=30000)
    assert page.locator("#shoufa-stalled").inner_text() == "搜索没有响应，请刷新页面重试。"
    assert page.locator(".pagefind-ui__result").count() == 0


def test_a_search_that_answers_shows_no_stall_notice(served, page):
    _, base = served
    page.goto(f"{base}/search/")
    page.select_option("#shoufa-range", "all")
    page.wait_for_selector('#search[data-range="all"] .pagefind-ui__search-input')
    page.fill(".pagefind-ui__search-input", "物业")
    page.wait_for_selector(".pagefind-ui__result-link", timeout=30000)
    page.wait_for_timeout(13000)  # past the stall timer
    assert page.locator("#shoufa-stalled").count() == 0
    # Nothing found is an answer too.
    page.fill(".pagefind-ui__search-input", "zzqxjvw")
    page.wait_for_function("document.querySelector('.pagefind-ui__message').textContent.includes('没有找到')")
    page.wait_for_timeout(13000)
    assert page.locator("#shoufa-stalled").count() == 0


def test_search_says_so_when_its_index_cannot_be_loaded(served, page):
    _, base = served
    page.route("**/search/shards.json", lambda route: route.abort())
    page.goto(f"{base}/search/")
    page.wait_for_function("document.getElementById('search').textContent.includes('搜索索引暂时无法加载')")
    assert page.locator("#search .pagefind-ui__search-input").count() == 0


PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}


def _one_of_each_kind(built: BuiltSite) -> list[str]:
    """The URL paths of one page of each kind a citizen reaches (a storm's first report
    is the ticket page with the most on it)."""
    site = built.site

    def first(pattern: str) -> str:
        found = sorted(site.glob(pattern))
        assert found, f"the test site has no page {pattern}"
        return "/" + found[0].parent.relative_to(site).as_posix() + "/"

    return ["/", "/tickets/", first("tickets/2*/*/*/index.html"), first("tickets/category/*/index.html"),
            "/departments/", first("departments/*/index.html"), first("departments/*/2*/index.html"),
            f"/tickets/{built.storm_id}/", "/episodes/", first("episodes/0*/index.html"), "/rankings/", "/top/",
            first("reports/daily/2*/index.html"), first("reports/monthly/2*/index.html"), "/search/", "/about/"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_kind_of_page_fits_the_screen_and_loads_without_an_error(served, browser, viewport):
    """No page scrolls sideways on a 360-pixel phone (tables too wide for it scroll in
    their own box, or become cards), and none asks for a file that is not there (Material
    fetched a sitemap.xml next to every feed a page links to) or logs an error."""
    built, base = served
    with open_page(browser, viewport=viewport) as page:
        # Long episode videos are the web server's /media/, not the site's (content/episodes/README.md).
        missing: list[str] = []
        media: list[str] = []
        page.on("response", lambda r: (media if r.url.startswith(f"{base}/media/") else missing).append(r.url)
                if r.status >= 400 else None)
        for path in _one_of_each_kind(built):
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{path} is {width} px wide on a {viewport['width']} px screen"
        assert missing == []
        errors = [line for line in page.console_lines if line.startswith(("error", "pageerror", "failed"))
                  and f"{base}/media/" not in line]  # a video's request, also when the player aborts it
        # What is left: the browser's own line for a missing video ("... status of 404"), if any.
        assert len(errors) <= len(media) and all("status of 404" in line for line in errors), errors


def test_on_a_phone_each_ticket_of_a_listing_is_a_card(served, browser):
    """Id and status side by side, the citizen's text below at full width, then the time
    and the department; on a desktop the same markup is a table row."""
    built, base = served
    day = _one_of_each_kind(built)[2]
    for viewport in (PHONE, DESKTOP):
        with open_page(browser, viewport=viewport) as page:
            page.goto(f"{base}{day}")
            row = page.locator("table.shoufa-tickets tbody tr").first
            cells = [row.locator("td").nth(i).bounding_box() for i in range(5)]
            ident, received, text, department, status = cells
            if viewport is PHONE:
                assert page.locator("table.shoufa-tickets thead").bounding_box()["height"] <= 1  # read out, not shown
                assert abs(ident["y"] - status["y"]) < 8 and status["x"] > ident["x"] + ident["width"]
                assert text["y"] >= ident["y"] + ident["height"] and text["width"] > 0.85 * (PHONE["width"] - 32)
                assert received["y"] >= text["y"] + text["height"] and abs(received["y"] - department["y"]) < 8
            else:
                assert len({round(c["y"]) for c in cells}) == 1, "one row, five columns"
                assert ident["x"] < received["x"] < text["x"] < department["x"] < status["x"]
    page_path = _one_of_each_kind(built)[9]  # an episode: its covered tickets' text wraps in its column
    with open_page(browser, viewport=DESKTOP) as page:
        page.goto(f"{base}{page_path}")
        table = page.locator("table.shoufa-tickets--covered")
        if table.count():
            content = page.locator("article.md-content__inner").bounding_box()
            box = table.bounding_box()
            assert box["x"] + box["width"] <= content["x"] + content["width"] + 1

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

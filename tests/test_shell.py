"""The mkdocs-material shell and the layout that generated pages share with it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from generator.shell import Layout, build_shell, load_layout

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "mkdocs.yml"
TICKET_URL = "/tickets/LY20261128000001/"
# Sections the generator renders; they do not exist in a shell-only build.
GENERATED = (
    "/tickets/",
    "/departments/",
    "/rankings/",
    "/top/",
    "/episodes/",
    "/reports/",
    "/search/",
    "/open-data/",
    "/feeds/",
)
EDITORIAL = ("/about/", "/about/privacy/", "/about/verify/", "/about/dispatch/")


class _Links(HTMLParser):
    """Collect href and src attribute values of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(v for k, v in attrs if k in ("href", "src") and v is not None)


def links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.urls


def is_other_host(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.netloc) or parts.scheme in ("http", "https")


def target(out_dir: Path, path: str) -> Path:
    """Return the file a server would answer for the absolute URL path."""
    file = out_dir / unquote(path).lstrip("/")
    return file / "index.html" if path.endswith("/") else file


def is_generated(path: str) -> bool:
    return path == "/" or path.startswith(GENERATED)


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, Path]:
    out_dir = tmp_path_factory.mktemp("site")
    layout = build_shell(config_file=CONFIG, out_dir=out_dir)  # strict: raises on warnings
    return layout, out_dir


@pytest.fixture(scope="module")
def ticket_page(shell: tuple[Layout, Path]) -> str:
    """A page rendered with the layout and published at depth 3, like a ticket."""
    layout, out_dir = shell
    page = layout.render(
        title="LY20261128000001 楼道灯不亮",
        body='<h1>楼道灯不亮</h1>\n<p class="probe">测试正文</p>',
        active=TICKET_URL,
        extra_head='<link rel="alternate" type="application/atom+xml" href="/feeds/all.xml">',
    )
    path = target(out_dir, TICKET_URL)
    path.parent.mkdir(parents=True)
    path.write_text(page, encoding="utf-8")
    return page


def built_files(out_dir: Path, *suffixes: str) -> list[Path]:
    return sorted(p for p in out_dir.rglob("*") if p.suffix in suffixes)


def test_editorial_pages_are_built(shell: tuple[Layout, Path]) -> None:
    layout, out_dir = shell
    assert sorted(layout.pages) == sorted(EDITORIAL)
    for path in EDITORIAL:
        page = target(out_dir, path).read_text(encoding="utf-8")
        assert '<html lang="zh"' in page


def test_layout_page_is_not_published(shell: tuple[Layout, Path]) -> None:
    layout, out_dir = shell
    assert not (out_dir / "_layout").exists()
    assert not (out_dir / "sitemap.xml").exists()  # the generator owns the sitemap
    for file in built_files(out_dir, ".html", ".xml"):
        text = file.read_text(encoding="utf-8")
        assert "_layout" not in text and "SHOUFA_LAYOUT_TITLE" not in text, file


def test_render_sets_title_body_and_language(ticket_page: str) -> None:
    assert ticket_page.startswith('<!doctype html>\n<html lang="zh"')
    assert "<title>LY20261128000001 楼道灯不亮 - 12345·临沂首发</title>" in ticket_page
    article = re.search(
        r'<article class="md-content__inner md-typeset">(.*?)</article>', ticket_page, re.S
    )
    assert article is not None
    assert '<p class="probe">测试正文</p>' in article[1]
    assert "<!--shoufa:" not in ticket_page and "SHOUFA_LAYOUT_TITLE" not in ticket_page


def test_render_escapes_title_and_places_extra_head(shell: tuple[Layout, Path]) -> None:
    layout, _ = shell
    page = layout.render(title="<b>A&B</b>", body="", extra_head="<style>.x{}</style>")
    assert "<title>&lt;b&gt;A&amp;B&lt;/b&gt; - 12345·临沂首发</title>" in page
    head = page.split("</head>")[0]
    assert head.rstrip().endswith("<style>.x{}</style>")
    assert layout.render(title="", body="").count("<title>12345·临沂首发</title>") == 1


def test_render_description(shell: tuple[Layout, Path]) -> None:
    layout, _ = shell
    assert f'content="{layout.description}"' in layout.render(title="x", body="")
    page = layout.render(title="x", body="", description='楼道灯"不亮"')
    assert '<meta name="description" content="楼道灯&quot;不亮&quot;">' in page


def active_tabs(page: str) -> list[str]:
    return re.findall(
        r'md-tabs__item--active">\s*<a href="([^"]*)" class="md-tabs__link md-tabs__link--active"',
        page,
    )


@pytest.mark.parametrize(
    ("active", "tab"),
    [
        (TICKET_URL, "/tickets/"),
        ("/tickets/", "/tickets/"),
        ("/departments/lanshan-zhujian/", "/departments/"),
        ("/", "/"),
        ("/about/privacy/", "/about/"),
    ],
)
def test_render_marks_one_tab_active(shell: tuple[Layout, Path], active: str, tab: str) -> None:
    layout, _ = shell
    assert active_tabs(layout.render(title="x", body="", active=active)) == [tab]


def test_render_marks_no_tab_for_unknown_section(shell: tuple[Layout, Path]) -> None:
    layout, _ = shell
    assert active_tabs(layout.render(title="x", body="", active="/nowhere/")) == []
    assert "--active" not in layout.render(title="x", body="")


def test_stylesheets_are_absolute_and_exist(shell: tuple[Layout, Path], ticket_page: str) -> None:
    _, out_dir = shell
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]*)">', ticket_page)
    assert any("/assets/stylesheets/main." in s for s in sheets)
    assert "/assets/shoufa.css" in sheets
    for sheet in sheets:
        assert sheet.startswith("/"), sheet
        assert target(out_dir, sheet).is_file(), sheet


def test_every_link_at_depth_three_resolves(shell: tuple[Layout, Path], ticket_page: str) -> None:
    _, out_dir = shell
    checked = 0
    for url in links(ticket_page):
        parts = urlsplit(url)
        if parts.scheme == "tel" or url.startswith("#"):
            continue
        assert url.startswith("/"), f"relative URL breaks at depth: {url}"
        if is_generated(parts.path):
            continue
        assert target(out_dir, parts.path).is_file(), url
        checked += 1
    assert checked >= 8  # favicon, stylesheets, bundle, about pages
    config = re.search(r'<script id="__config" type="application/json">(.*?)</script>', ticket_page)
    assert config is not None and '"base": "/"' in config[1]
    assert 'new URL("/",location)' in ticket_page


def test_every_link_in_the_shell_resolves(shell: tuple[Layout, Path]) -> None:
    _, out_dir = shell
    for file in built_files(out_dir, ".html"):
        if file.relative_to(out_dir).parts[0] in ("tickets",):
            continue
        page_url = "/" + file.relative_to(out_dir).as_posix().removesuffix("index.html")
        for url in links(file.read_text(encoding="utf-8")):
            parts = urlsplit(urljoin(page_url, url))
            if parts.scheme == "tel" or url.startswith("#") or is_generated(parts.path):
                continue
            assert not parts.scheme and target(out_dir, parts.path).is_file(), (file, url)


def test_nothing_loads_from_another_host(shell: tuple[Layout, Path], ticket_page: str) -> None:
    _, out_dir = shell
    for file in built_files(out_dir, ".html", ".css"):
        text = file.read_text(encoding="utf-8")
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, file
        if file.suffix == ".html":
            for url in links(text):
                assert not is_other_host(url) and "cdn." not in url, (file, url)
        else:
            refs = re.findall(r"@import\s+(?:url\()?\s*['\"]?([^'\")\s;]+)", text)
            refs += re.findall(r"url\(\s*['\"]?([^'\")]+)", text)
            for url in refs:
                assert url.startswith("data:") or not is_other_host(url), (file, url)


def test_layout_round_trips_through_json(shell: tuple[Layout, Path], tmp_path: Path) -> None:
    layout, _ = shell
    layout.save(tmp_path / "layout.json")
    loaded = load_layout(tmp_path / "layout.json")
    assert loaded == layout
    assert loaded.fingerprint == layout.fingerprint
    assert loaded.render(title="x", body="y", active="/top/") == layout.render(
        title="x", body="y", active="/top/"
    )


def test_build_keeps_files_already_in_out_dir_and_honours_base_url(tmp_path: Path) -> None:
    (tmp_path / "tickets").mkdir()
    (tmp_path / "tickets" / "index.html").write_text("generated", encoding="utf-8")
    layout = build_shell(config_file=CONFIG, out_dir=tmp_path, base_url="/shoufa/")
    assert (tmp_path / "tickets" / "index.html").read_text(encoding="utf-8") == "generated"
    page = layout.render(title="x", body="")
    assert '<link rel="stylesheet" href="/shoufa/assets/shoufa.css">' in page
    assert '"base": "/shoufa/"' in page
    assert layout.pages[0] == "/shoufa/about/"

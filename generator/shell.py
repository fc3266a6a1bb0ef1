"""The site shell: mkdocs-material pages and the layout shared by generated pages.

mkdocs-material builds the editorial pages (content/pages/) and the theme assets. One
of those pages, content/pages/_layout/, holds nothing but a marker comment in its
article; `build_shell` cuts its HTML at the marker into a head and a tail, makes every
relative URL in them absolute so that they work at any depth, and removes the page
from the site. The generator then wraps each ticket page, listing and the home page
in that head and tail with `Layout.render`, so that they are Material pages too.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig

log = logging.getLogger(__name__)

LAYOUT_PAGE = "_layout"
"""Folder (under the docs dir and the built site) of the page cut into the layout."""

LAYOUT_TITLE = "SHOUFA_LAYOUT_TITLE"
"""Title of the layout page in its front matter, replaced by each page's title."""

CONTENT_MARKER = "<!-- shoufa:content -->"
"""Comment in the layout page's article where the page body goes."""

# Slots left in the head by build_shell and filled by Layout.render.
TITLE_SLOT = "<!--shoufa:title-->"
TOPIC_SLOT = "<!--shoufa:topic-->"
DESCRIPTION_SLOT = "<!--shoufa:description-->"
HEAD_SLOT = "<!--shoufa:extra-head-->"

FORMAT_VERSION = 1
"""Version of the JSON written by Layout.save; load_layout refuses others."""

# Files of the mkdocs build that the generator owns in the published site.
GENERATOR_OWNED = ("sitemap.xml", "sitemap.xml.gz")

_URL_ATTR_RE = re.compile(r'(\s(?:href|src))="([^"]*)"')
_SCOPE_RE = re.compile(r'new URL\("([^"]*)",location\)')
_CONFIG_RE = re.compile(r'(<script id="__config" type="application/json">)(.*?)(</script>)', re.S)
_TITLE_RE = re.compile(r"<title>.*?</title>", re.S)
_DESCRIPTION_RE = re.compile(r'<meta name="description" content="[^"]*">')
_CANONICAL_RE = re.compile(r'\s*<link rel="(?:canonical|prev|next)" href="[^"]*">')
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_ACTIVE_CLASS_RE = re.compile(r" md-(?:tabs__item|tabs__link|nav__item|nav__link)--active")
_TAB_RE = re.compile(r'<li class="md-tabs__item">(\s*)<a href="([^"]*)" class="md-tabs__link">')
_NAV_RE = re.compile(r'<li class="md-nav__item">(\s*)<a href="([^"]*)" class="md-nav__link">')


class ShellError(RuntimeError):
    """The shell could not be built or the layout page is not what we expect."""


@dataclass(frozen=True)
class Layout:
    """A Material page cut open at its content slot."""

    head: str
    """The page HTML up to the article's content, with slots for title and head."""
    tail: str
    """The page HTML after the article's content."""
    site_name: str = "12345·临沂首发"
    """Appended to every page title."""
    description: str = ""
    """Default <meta name="description"> of pages that give none."""
    pages: tuple[str, ...] = field(default=())
    """URL paths of the editorial pages mkdocs built (for the sitemap and links)."""

    def render(
        self,
        *,
        title: str,
        body: str,
        active: str | None = None,
        extra_head: str = "",
        description: str | None = None,
    ) -> str:
        """Return a full page: `body` (trusted HTML) in the article, `title` as text.

        `active` is a URL path (a section like "/tickets/" or the page's own URL); the
        nav tab with the longest matching prefix is marked active. `extra_head` (trusted
        HTML: feeds, canonical link, page CSS) goes just before </head>.
        """
        head = _activate(self.head, active) if active else self.head
        full_title = f"{title} - {self.site_name}" if title else self.site_name
        head = (
            head.replace(TITLE_SLOT, html.escape(full_title, quote=False), 1)
            .replace(TOPIC_SLOT, html.escape(title or self.site_name, quote=False))
            .replace(DESCRIPTION_SLOT, html.escape(description or self.description), 1)
            .replace(HEAD_SLOT, extra_head, 1)
        )
        return f"{head}{body}{self.tail}"

    @property
    def fingerprint(self) -> str:
        """Return a short hash of the layout: pages need re-rendering when it changes."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode("utf-8"))
        return digest.hexdigest()[:16]

    def save(self, path: Path | str) -> None:
        """Write the layout as JSON, atomically, so incremental builds can skip mkdocs."""
        path = Path(path)
        data = {"format": FORMAT_VERSION, **asdict(self), "pages": list(self.pages)}
        text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def load_layout(path: Path | str) -> Layout:
    """Read a layout written by Layout.save."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != FORMAT_VERSION:
        raise ShellError(f"{path}: layout format {data.get('format')!r}, expected {FORMAT_VERSION}")
    return Layout(
        head=data["head"],
        tail=data["tail"],
        site_name=data["site_name"],
        description=data["description"],
        pages=tuple(data["pages"]),
    )


def build_shell(*, config_file: Path, out_dir: Path, base_url: str = "/") -> Layout:
    """Build the mkdocs shell into out_dir and return the layout cut from its layout page.

    mkdocs builds into a temporary folder (its build empties its site_dir) whose files
    are then copied into out_dir, so that pages already in out_dir survive. The layout
    page and the files the generator owns (sitemap) are not copied. The temporary
    folder is made inside out_dir (a build's staging folder): a build killed meanwhile
    leaves it there, where the next build's clean-up of abandoned builds removes it,
    not in the system's temporary folder.
    """
    if not (base_url.startswith("/") and base_url.endswith("/")):
        raise ShellError(f"base_url must start and end with '/': {base_url!r}")
    out_dir = Path(out_dir).resolve()  # mkdocs takes a relative site_dir as relative to its config
    start = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".shell-", dir=out_dir) as tmp:
        site = Path(tmp)
        config = _run_mkdocs(Path(config_file), site)
        layout_html = (site / LAYOUT_PAGE / "index.html").read_text(encoding="utf-8")
        shutil.rmtree(site / LAYOUT_PAGE)
        for name in GENERATOR_OWNED:
            (site / name).unlink(missing_ok=True)
        pages = tuple(
            sorted(
                base_url + p.parent.relative_to(site).as_posix() + "/"
                for p in site.rglob("index.html")
                if p.parent != site
            )
        )
        head, tail = _cut(layout_html, page_url=f"{base_url}{LAYOUT_PAGE}/")
        shutil.rmtree(out_dir / LAYOUT_PAGE, ignore_errors=True)
        shutil.copytree(site, out_dir, dirs_exist_ok=True)
    log.info("built the shell into %s in %.2f s", out_dir, time.monotonic() - start)
    return Layout(
        head=head,
        tail=tail,
        site_name=config.site_name,
        description=config.site_description or "",
        pages=pages,
    )


def _run_mkdocs(config_file: Path, site_dir: Path) -> MkDocsConfig:
    """Run a strict mkdocs build of config_file into site_dir; return the config."""
    # Imported here: mkdocs is only needed when the shell is rebuilt.
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    try:
        config = load_config(config_file=str(config_file), site_dir=str(site_dir), strict=True)
        config.plugins.on_startup(command="build", dirty=False)
        try:
            build(config)
        finally:
            config.plugins.on_shutdown()
    except MkDocsException as exc:  # Abort (strict warnings) and config errors
        raise ShellError(f"mkdocs build of {config_file} failed: {exc}") from exc
    return config


def _cut(page: str, *, page_url: str) -> tuple[str, str]:
    """Split the built layout page into head and tail, with absolute URLs and slots."""
    if page.count(CONTENT_MARKER) != 1:
        raise ShellError(f"layout page must contain {CONTENT_MARKER!r} exactly once")
    page = _absolutize(_compact(page), page_url)
    page = _ACTIVE_CLASS_RE.sub("", page)
    page = _CANONICAL_RE.sub("", page)
    page, titles = _TITLE_RE.subn(f"<title>{TITLE_SLOT}</title>", page, count=1)
    page, descriptions = _DESCRIPTION_RE.subn(
        f'<meta name="description" content="{DESCRIPTION_SLOT}">', page, count=1
    )
    if not descriptions:
        page = page.replace(
            "<title>", f'<meta name="description" content="{DESCRIPTION_SLOT}">\n<title>', 1
        )
    page = page.replace(LAYOUT_TITLE, TOPIC_SLOT)
    if titles != 1 or page.count("</head>") != 1:
        raise ShellError("layout page has no <title> or no single </head>")
    page = page.replace("</head>", f"{HEAD_SLOT}\n</head>", 1)
    head, _, tail = page.partition(CONTENT_MARKER)
    return head, tail


def _compact(page: str) -> str:
    """Drop indentation and blank lines (the theme's templates leave plenty).

    Safe for the layout page: it has no <pre> or <textarea> of its own.
    """
    lines = (line.strip() for line in page.splitlines())
    return "\n".join(line for line in lines if line) + "\n"


def _absolutize(page: str, page_url: str) -> str:
    """Make every relative URL in page absolute, resolved against page_url."""
    page = _URL_ATTR_RE.sub(lambda m: f'{m[1]}="{_resolve(m[2], page_url)}"', page)
    page = _SCOPE_RE.sub(lambda m: f'new URL("{_resolve(m[1], page_url)}",location)', page)
    return _CONFIG_RE.sub(lambda m: m[1] + _absolutize_config(m[2], page_url) + m[3], page)


def _absolutize_config(text: str, page_url: str) -> str:
    """Make the base and search-worker URLs of Material's __config JSON absolute."""
    config = json.loads(text)
    for key in ("base", "search"):
        if isinstance(config.get(key), str):
            config[key] = _resolve(config[key], page_url)
    return json.dumps(config, sort_keys=True).replace("</", "<\\/")


def _resolve(url: str, page_url: str) -> str:
    """Return url resolved against page_url, unless it is absolute or a fragment."""
    if not url or url.startswith(("/", "#", "?")) or _SCHEME_RE.match(url):
        return url
    return urljoin(page_url, url)


@functools.lru_cache(maxsize=64)
def _activate(head: str, active: str) -> str:
    """Return head with the tab and the nav link that best match URL path `active` marked."""
    head = _mark(head, active, _TAB_RE, "md-tabs__item", "md-tabs__link")
    return _mark(head, active, _NAV_RE, "md-nav__item", "md-nav__link")


def _mark(head: str, active: str, pattern: re.Pattern[str], item: str, link: str) -> str:
    """Mark active the item of pattern whose href is the longest prefix of active."""
    hrefs = {m[2] for m in pattern.finditer(head)}
    best = max((h for h in hrefs if _matches(h, active)), key=len, default=None)
    if best is None:
        return head

    def mark(m: re.Match[str]) -> str:
        if m[2] != best:
            return m[0]
        return (
            f'<li class="{item} {item}--active">{m[1]}'
            f'<a href="{m[2]}" class="{link} {link}--active">'
        )

    return pattern.sub(mark, head)


def _matches(href: str, active: str) -> bool:
    """Tell whether nav link href covers the URL path active (the root only itself)."""
    if not href.startswith("/"):
        return False
    if href == active:
        return True
    return href.endswith("/") and href.count("/") > 1 and active.startswith(href)

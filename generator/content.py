"""Editors' files in content/: front matter and YAML validated once, Markdown rendered.

Front matter and YAML files are parsed strictly (intake_api.yamlsafe: no tags, no
anchors or aliases, no duplicate keys, bounded size) and validated by pydantic models;
every error names the file and the field, and fails the build, so the live site stays
as it was. Editors' Markdown is trusted and rendered with the extensions the Material
shell uses, but nothing in it may load from another host (no remote images, scripts,
frames or styles): such a file fails the build too.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import markdown
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from intake_api import yamlsafe
from intake_api.catalog import Catalog

MAX_FILE_BYTES = 1024 * 1024
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)
M = TypeVar("M", bound=BaseModel)
SLUG = r"^[a-z0-9][a-z0-9-]{0,79}$"
TICKET_ID = r"^[A-Z]{2,4}[0-9]{14}$"

MARKDOWN_EXTENSIONS = [
    "abbr", "admonition", "attr_list", "def_list", "footnotes", "md_in_html", "tables", "toc",
    "pymdownx.details", "pymdownx.superfences", "pymdownx.tabbed", "pymdownx.highlight",
    "pymdownx.inlinehilite", "pymdownx.emoji",
]


class ContentError(ValueError):
    """An editor's file cannot be published; the message names the file and the field."""


def read_text(path: Path) -> str:
    """Read an editor's file as UTF-8, within the size limit."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContentError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ContentError(f"{path}: file too large ({len(raw)} bytes, max {MAX_FILE_BYTES})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(f"{path}: not valid UTF-8 at byte {exc.start}") from None


def split_front_matter(text: str, *, source: str) -> tuple[dict[str, Any], str]:
    """Split `---` YAML front matter from the Markdown body; both are required."""
    text = text.removeprefix("\ufeff")
    m = FRONT_MATTER.match(text)
    if not m:
        raise ContentError(f"{source}: missing front matter (the file must start with a '---' line)")
    try:
        data = yamlsafe.loads(m.group(1), source=source)
    except yamlsafe.YamlError as exc:
        raise ContentError(f"{exc} (in the front matter)") from None
    if not isinstance(data, dict):
        raise ContentError(f"{source}: front matter must be a mapping of fields, got {type(data).__name__}")
    return data, text[m.end():]


def describe(exc: ValidationError) -> str:
    """'field 'video.url': ...; field 'number': ...' from a pydantic error."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"field '{loc}': {msg}")
    return "; ".join(parts)


def validate(model: type[M], data: Any, *, source: str, context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ContentError(f"{source}: {describe(exc)}") from None


def load_yaml(path: Path, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Load and validate one YAML file of content/ (e.g. content/top.yaml)."""
    try:
        data = yamlsafe.loads(read_text(path), source=str(path))
    except yamlsafe.YamlError as exc:
        raise ContentError(str(exc)) from None
    return validate(model, {} if data is None else data, source=str(path), context=context)


# -- episodes' front matter (content/episodes/*.md, see its README.md) ------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _catalog(info: ValidationInfo) -> Catalog | None:
    return (info.context or {}).get("catalog")


class Video(_Strict):
    url: str = Field(min_length=1, max_length=500)
    """A file in content/episodes/media/ (media/x.mp4), a path on this site (/media/x.mp4) or an http(s) URL."""
    type: str | None = Field(default=None, pattern=r"^(video|audio)/[a-z0-9.+-]+$")
    size: int | None = Field(default=None, gt=0)
    """Bytes; with `type`, the feeds carry the video as an enclosure."""
    duration: int | None = Field(default=None, gt=0)
    """Seconds, or "mm:ss" / "hh:mm:ss"."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("", "http", "https") or v.startswith("//") or ".." in v.split("/"):
            raise ValueError("must be media/<file>, a path on this site starting with /, or an http(s) URL")
        return v

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        if isinstance(v, str) and re.fullmatch(r"\d{1,3}(:\d{2}){1,2}", v):
            secs = 0
            for part in v.split(":"):
                secs = secs * 60 + int(part)
            return secs
        return v


class TicketQuery(_Strict):
    """Public tickets an episode covers besides the listed ones (all criteria must hold)."""

    text: list[str] = []
    """Words that must all appear in the ticket's (redacted) text."""
    category: str | None = None
    """A category code; its subcategories count too."""
    department: str | None = None
    area: str | None = None
    since: date | None = None
    """Received on or after (default: 365 days before the air date)."""
    until: date | None = None
    """Received on or before (default: no end, so later tickets show whether it recurs)."""
    limit: int = Field(default=50, ge=1, le=500)

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("text")
    @classmethod
    def _words(cls, v: list[str]) -> list[str]:
        for w in v:
            if not 2 <= len(w.strip()) <= 40:
                raise ValueError(f"each word must have 2 to 40 characters: {w!r}")
        return [w.strip() for w in v]

    @field_validator("category")
    @classmethod
    def _category(cls, v: str | None, info: ValidationInfo) -> str | None:
        cat = _catalog(info)
        if v is not None and cat is not None and v not in cat.categories:
            raise ValueError(f"unknown category {v!r}")
        return v

    @field_validator("department")
    @classmethod
    def _department(cls, v: str | None, info: ValidationInfo) -> str | None:
        cat = _catalog(info)
        if v is not None and cat is not None and v not in cat.department_by_code:
            raise ValueError(f"unknown department {v!r}")
        return v

    @field_validator("area")
    @classmethod
    def _area(cls, v: str | None, info: ValidationInfo) -> str | None:
        cat = _catalog(info)
        if v is not None and cat is not None and v not in cat.area_by_code:
            raise ValueError(f"unknown area {v!r}")
        return v

    @model_validator(mode="after")
    def _something(self) -> TicketQuery:
        if not (self.text or self.category or self.department or self.area):
            raise ValueError("give at least one of text, category, department, area")
        if self.since and self.until and self.since > self.until:
            raise ValueError("since is after until")
        return self


class FollowUp(_Strict):
    status: Literal["pending", "rectifying", "resolved", "unresolved", "monitoring"]
    updated: date | None = None
    note: str = Field(default="", max_length=1000)


class EpisodeMeta(_Strict):
    """The front matter of one episode."""

    number: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=80)
    aired: datetime | date
    """Air date (YYYY-MM-DD) or time (YYYY-MM-DD HH:MM), Asia/Shanghai."""
    summary: str = Field(min_length=1, max_length=500)
    video: Video | None = None
    cover: str | None = Field(default=None, max_length=300)
    """A file in content/episodes/media/ (media/x.jpg) or a path on this site."""
    tickets: list[str] = []
    ticket_query: TicketQuery | None = None
    departments: list[str] = []
    follow_up: FollowUp | None = None
    draft: bool = False
    slug: str | None = Field(default=None, pattern=SLUG)

    @field_validator("tickets")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for i, t in enumerate(v):
            if not re.fullmatch(TICKET_ID, t):
                raise ValueError(f"item {i}: {t!r} is not a ticket id")
        return list(dict.fromkeys(v))

    @field_validator("departments")
    @classmethod
    def _departments(cls, v: list[str], info: ValidationInfo) -> list[str]:
        cat = _catalog(info)
        for i, code in enumerate(v):
            if cat is not None and code not in cat.department_by_code:
                raise ValueError(f"item {i}: unknown department {code!r}")
        return v

    @field_validator("cover")
    @classmethod
    def _cover(cls, v: str | None) -> str | None:
        if v is not None and (urlsplit(v).scheme or v.startswith("//") or ".." in v.split("/")):
            raise ValueError("must be media/<file> or a path on this site: nothing is loaded from another host")
        return v


# -- Markdown ------------------------------------------------------------------------


def emoji_without_cdn(index, shortname, alias, uc, alt, title, category, options, md):  # noqa: ANN001 - pymdownx's signature
    """Material's icons (:material-...:) as inline SVG, emoji as the character itself.

    Material's own `to_svg` loads every emoji (:smile:) as an image from cdn.jsdelivr.net;
    mkdocs.yml can use this one too: `emoji_generator: !!python/name:generator.content.emoji_without_cdn`.
    """
    from material.extensions.emoji import to_svg
    from pymdownx.emoji import to_alt

    gen = to_alt if uc else to_svg
    return gen(index, shortname, alias, uc, alt, title, category, options, md)


@lru_cache(maxsize=1)
def _extension_configs() -> dict[str, dict[str, Any]]:
    from material.extensions.emoji import twemoji
    from pymdownx.slugs import slugify

    return {
        # Unicode slugs: a Chinese heading gets a readable anchor, not "_1".
        "toc": {"permalink": True, "permalink_title": "本节链接", "slugify": slugify(case="lower")},
        "pymdownx.tabbed": {"alternate_style": True},
        "pymdownx.emoji": {"emoji_index": twemoji, "emoji_generator": emoji_without_cdn},
    }


def render_markdown(text: str, *, source: str, own_host: str = "") -> str:
    """Render trusted Markdown to HTML; refuse anything that would load from another host."""
    md = markdown.Markdown(extensions=MARKDOWN_EXTENSIONS, extension_configs=_extension_configs())
    html = md.convert(text)
    problems = remote_loads(html, own_host=own_host)
    if problems:
        raise ContentError(f"{source}: body: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return html


# Tags that run code or embed another page: never in editors' text (use `video:`).
FORBIDDEN_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal"}
LOADING_ATTRS = {"src", "srcset", "poster", "data", "background", "lowsrc", "dynsrc", "imagesrcset"}
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")\s]+)|@import\s+['\"]([^'\"]+)", re.I)


def is_remote(url: str, own_host: str = "") -> bool:
    """Whether fetching `url` would contact another host than the site's own."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme in ("", "data") and not url.startswith("//"):
        return False
    if parts.scheme not in ("", "http", "https"):
        return True  # ftp:, file:, blob: ... never needed here
    return not own_host or (parts.hostname or "") != own_host


class _LoadScanner(HTMLParser):
    def __init__(self, own_host: str) -> None:
        super().__init__(convert_charrefs=True)
        self.own_host = own_host
        self.problems: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> is not allowed (no scripts or embedded pages; use the 'video' field for video)")
            return
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>: event handlers are not allowed")
            elif name in LOADING_ATTRS or (tag == "link" and name == "href"):
                urls = [u.strip().split(" ")[0] for u in value.split(",")] if name.endswith("srcset") else [value]
                for u in urls:
                    if is_remote(u, self.own_host):
                        self.problems.append(f"<{tag} {name}={u!r}> loads from another host")
            elif name == "style":
                self._css(tag, value)
            elif name in ("href", "action", "formaction") and value.strip().lower().startswith(("javascript:", "vbscript:")):
                self.problems.append(f"<{tag} {name}=...>: script links are not allowed")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css("style", data)

    def _css(self, tag: str, css: str) -> None:
        for m in CSS_URL.finditer(css):
            u = m.group(1) or m.group(2)
            if is_remote(u, self.own_host):
                self.problems.append(f"<{tag}> style loads {u!r} from another host")


def remote_loads(html: str, *, own_host: str = "") -> list[str]:
    """What in `html` would make a browser contact another host (empty: nothing)."""
    scanner = _LoadScanner(own_host)
    scanner.feed(html)
    scanner.close()
    return scanner.problems


# -- where the content is, for the sections --------------------------------------------

SOURCE_META = "content:source"


def content_source(site: Any) -> tuple[Path | None, bool]:
    """The content folder and whether drafts are built, as known to this build.

    Full and incremental builds carry them on `site.episodes_by_ticket` (the index that
    generator.episodes builds from the config); the slow lane's Site has neither, so the
    last full build leaves them in the state.
    """
    if getattr(site, "content_dir", None) is not None:
        return Path(site.content_dir), bool(getattr(site, "drafts", False))
    index = getattr(site, "episodes_by_ticket", None)
    if getattr(index, "content_dir", None) is not None:
        return index.content_dir, index.drafts
    raw = site.state.get_meta(SOURCE_META) if site.state is not None else None
    if raw:
        data = json.loads(raw)
        return Path(data["dir"]), bool(data["drafts"])
    return None, False


def remember_source(site: Any, content_dir: Path, drafts: bool) -> None:
    site.state.set_meta(SOURCE_META, json.dumps({"dir": str(Path(content_dir).resolve()), "drafts": drafts}))

"""Query arguments of the GET methods, checked as GeoReport v2 states them.

An empty argument counts as absent ("a null parameter should be treated as equivalent to
a non-declared parameter"); arguments the standard does not know are ignored; every
wrong value is a 400 naming the argument, all of them at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..catalog import Catalog
from ..model import ID_RE
from .errors import Open311Error, bad_request, not_found
from .finder import Window
from .mapping import FALLBACK_SERVICE

MAX_RANGE = timedelta(days=90)  # "may not span more than 90 days"
MAX_PAGE_SIZE = 1000  # "first 1000 requests returned"
MAX_IDS = 1000
UPDATES_SPAN = timedelta(days=1)
W3_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
# A '+' of an offset that was not percent-encoded arrives as a space.
PLUS_AS_SPACE = re.compile(r"(?<=\d) (?=\d{2}:\d{2}$)")
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass(frozen=True)
class RequestQuery:
    ids: list[str] | None  # overrides every other argument
    services: frozenset[str] | None
    window: Window
    closed: bool | None  # None: open and closed
    page: int
    page_size: int
    extensions: bool

    def service_filter(self, catalog: Catalog):
        """Match a ticket's category: the code itself, or (for a group) any code under it."""
        if self.services is None:
            return None
        codes = self.services

        def match(category: str | None) -> bool:
            category = category or FALLBACK_SERVICE
            return any(category == c or category.startswith(c + ".") for c in codes)

        return match


@dataclass(frozen=True)
class UpdatesQuery:
    window: Window
    page: int
    page_size: int


class _Errors:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_any(self) -> None:
        if self.messages:
            raise bad_request(*self.messages)


def _get(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def check_jurisdiction(params: Mapping[str, str], jurisdiction: str) -> None:
    """This endpoint serves one jurisdiction: jurisdiction_id is optional, but must be it."""
    value = _get(params, "jurisdiction_id")
    if value is not None and value.lower() != jurisdiction.lower():
        raise not_found(f"jurisdiction_id '{value[:64]}' 不存在；本接口只服务 {jurisdiction}")


def parse_datetime(name: str, value: str, errors: _Errors) -> datetime | None:
    value = PLUS_AS_SPACE.sub("+", value)
    if not W3_RE.fullmatch(value):
        errors.add(
            f"{name} 须为带时区的 W3C 日期时间，例如 2010-01-01T00:00:00Z 或 2026-11-20T09:00:00+08:00"
            f" (got '{value[:40]}')"
        )
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        errors.add(f"{name} 不是有效的日期时间 (got '{value[:40]}')")
        return None


def _window(
    params: Mapping[str, str], now: datetime, span: timedelta, errors: _Errors
) -> Window | None:
    raw_start, raw_end = _get(params, "start_date"), _get(params, "end_date")
    start = parse_datetime("start_date", raw_start, errors) if raw_start else None
    end = parse_datetime("end_date", raw_end, errors) if raw_end else None
    if (raw_start and start is None) or (raw_end and end is None):
        return None
    try:
        if start is None and end is None:
            end = now
            start = now - span
        elif start is None:
            start = end - span
        elif end is None:
            end = start + span
    except OverflowError:
        errors.add("start_date/end_date 超出可用范围")
        return None
    if end < start:
        errors.add("end_date 早于 start_date")
        return None
    if end - start > MAX_RANGE:
        errors.add("start_date 与 end_date 之间不得超过 90 天 (may not span more than 90 days)")
        return None
    return Window(start, end)


def _positive(params: Mapping[str, str], name: str, default: int, top: int, errors: _Errors) -> int:
    value = _get(params, name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9 and 1 <= int(value) <= top):
        errors.add(f"{name} 须为 1 到 {top} 之间的整数 (got '{value[:20]}')")
        return default
    return int(value)


def _flag(params: Mapping[str, str], name: str, errors: _Errors) -> bool:
    value = _get(params, name)
    if value is None or value.lower() in FALSE:
        return False
    if value.lower() in TRUE:
        return True
    errors.add(f"{name} 须为 true 或 false (got '{value[:20]}')")
    return False


def _list(params: Mapping[str, str], name: str) -> list[str] | None:
    value = _get(params, name)
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def request_query(params: Mapping[str, str], *, catalog: Catalog, now: datetime) -> RequestQuery:
    errors = _Errors()
    ids = _list(params, "service_request_id")
    if ids is not None:
        if len(ids) > MAX_IDS:
            errors.add(f"service_request_id 一次最多 {MAX_IDS} 个")
        for bad in [i for i in ids if not ID_RE.fullmatch(i)][:5]:
            errors.add(f"service_request_id '{bad[:40]}' 不是工单编号（例如 LY20261128000123）")
    services = _list(params, "service_code")
    if services is not None:
        for bad in [s for s in services if s not in catalog.categories][:5]:
            errors.add(f"service_code '{bad[:64]}' 不存在（见 services.json）")
    statuses = _list(params, "status")
    closed = None
    if statuses is not None:
        wrong = [s for s in statuses if s.lower() not in ("open", "closed")]
        if wrong:
            errors.add(f"status 只能是 open 或 closed (got '{wrong[0][:20]}')")
        wanted = {s.lower() for s in statuses}
        if wanted == {"open"}:
            closed = False
        elif wanted == {"closed"}:
            closed = True
    window = _window(params, now, MAX_RANGE, errors)
    page = _positive(params, "page", 1, 1_000_000, errors)
    page_size = _positive(params, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE, errors)
    extensions = _flag(params, "extensions", errors)
    errors.raise_any()
    assert window is not None
    return RequestQuery(
        ids=ids,
        services=frozenset(services) if services else None,
        window=window,
        closed=closed,
        page=page,
        page_size=page_size,
        extensions=extensions,
    )


def updates_query(params: Mapping[str, str], *, now: datetime) -> UpdatesQuery:
    errors = _Errors()
    window = _window(params, now, UPDATES_SPAN, errors)
    page = _positive(params, "page", 1, 1_000_000, errors)
    page_size = _positive(params, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE, errors)
    errors.raise_any()
    assert window is not None
    return UpdatesQuery(window=window, page=page, page_size=page_size)


def extensions_flag(params: Mapping[str, str]) -> bool:
    errors = _Errors()
    value = _flag(params, "extensions", errors)
    errors.raise_any()
    return value


__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_RANGE",
    "Open311Error",
    "RequestQuery",
    "UpdatesQuery",
    "check_jurisdiction",
    "extensions_flag",
    "request_query",
    "updates_query",
]

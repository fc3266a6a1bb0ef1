"""The GeoReport v2 endpoints, each in `.json` and `.xml` (mounted under /open311).

Thin routes: parse the arguments, call one function, answer in the requested format.
Every failure is answered as the standard's list of errors in that format (XML when the
format itself is wrong), never as a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Path, Request, Response

from ..errors import ApiError
from ..store import StoreError, is_enospc
from . import mapping
from .context import Open311, Open311Dep
from .errors import Open311Error, forbidden, not_found
from .intake import file_request, first, parse_form
from .keys import ApiKeyRecord
from .models import (
    Created,
    Discovery,
    Endpoint,
    ErrorItem,
    RequestUpdate,
    Service,
    ServiceDefinition,
    ServiceRequest,
    TokenAnswer,
)
from .params import check_jurisdiction, extensions_flag, request_query, updates_query
from .render import answer

log = logging.getLogger(__name__)

FORMATS = ("json", "xml")
Fmt = Annotated[str, Path(description="Response format", json_schema_extra={"enum": list(FORMATS)})]

router = APIRouter(tags=["open311"])


# -- documentation (the routes parse their arguments themselves, to answer in format) --


def _xml() -> dict[str, Any]:
    return {"text/xml": {"schema": {"type": "string", "description": "The same answer as XML"}}}


def _docs(ok: Any, *errors: int) -> dict[int | str, Any]:
    """OpenAPI responses: JSON schemas from the models, and the XML alternative."""
    out: dict[int | str, Any] = {200: {"model": ok, "content": _xml(), "description": "OK"}}
    for status in errors:
        out[status] = {
            "model": list[ErrorItem],
            "content": _xml(),
            "description": "GeoReport v2 errors: a list of code and description",
        }
    return out


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


JURISDICTION = _query("jurisdiction_id", "Optional: this endpoint serves one jurisdiction")
# Declared as plain strings: an empty argument counts as absent, as the standard says.
PAGING = [
    _query("page", "Page number, from 1 (extension)"),
    _query("page_size", "Results per page, 1 to 1000 (extension)"),
]
DATES = [
    _query("start_date", "W3C datetime with time zone, e.g. 2026-11-20T00:00:00+08:00"),
    _query("end_date", "W3C datetime with time zone, e.g. 2026-11-21T00:00:00Z"),
]
EXTENSIONS = _query("extensions", "true: add the public timeline (notes) and the channel")


# -- answering -------------------------------------------------------------------


def _error(fmt: str, exc: Open311Error) -> Response:
    return answer(fmt, "errors", exc.items(), status=exc.status, headers=exc.headers)


def _run(fmt: str, make: Callable[[str], Response]) -> Response:
    """Answer with `make(fmt)`, or with the standard's errors in the requested format."""
    if fmt not in FORMATS:
        return _error("xml", not_found(f"不支持的格式 '{fmt[:10]}'：请用 .xml 或 .json"))
    try:
        return make(fmt)
    except Open311Error as exc:
        return _error(fmt, exc)
    except (StoreError, OSError) as exc:
        log.error("open311: storage failure: %s", exc)
        status = 507 if is_enospc(exc) else 503
        return _error(
            fmt,
            Open311Error(
                status, "服务暂时无法保存或读取工单，请稍后重试", headers={"Retry-After": "30"}
            ),
        )


# -- discovery and services --------------------------------------------------------


def _discovery(ctx: Open311, request: Request) -> Discovery:
    city = ctx.catalog.city
    base = str(request.base_url).rstrip("/")
    contact = f"{city.hotline_name}（{city.name}12345政务服务便民热线）"
    if city.contact_email:
        contact += f" {city.contact_email}"
    return Discovery(
        changeset=ctx.changeset,
        contact=contact,
        key_service=(
            "提交诉求（POST requests）需要 api_key，放在表单正文中：客户端应用请向"
            f"12345热线受理中心申请（{city.contact_email or city.hotline_name}）。查询无需 api_key。"
        ),
        endpoints=[Endpoint(url=f"{base}/open311/v2", changeset=ctx.changeset)],
    )


@router.get(
    "/discovery.{fmt}",
    summary="Open311 service discovery",
    responses=_docs(Discovery, 404),
)
@router.get(
    "/v2/discovery.{fmt}",
    summary="Open311 service discovery (also under v2)",
    responses=_docs(Discovery, 404),
)
def discovery(fmt: Fmt, request: Request, ctx: Open311Dep) -> Response:
    return _run(fmt, lambda f: answer(f, "discovery", _discovery(ctx, request)))


@router.get(
    "/v2/services.{fmt}",
    summary="GET Service List: one service per category, in Chinese",
    responses=_docs(list[Service], 400, 404),
    openapi_extra={"parameters": [JURISDICTION]},
)
def services(fmt: Fmt, request: Request, ctx: Open311Dep) -> Response:
    def make(f: str) -> Response:
        check_jurisdiction(request.query_params, ctx.jurisdiction)
        cats = mapping.service_categories(ctx.catalog)
        return answer(f, "services", [mapping.service(ctx.catalog, c) for c in cats])

    return _run(fmt, make)


@router.get(
    "/v2/services/{service_code}.{fmt}",
    summary="GET Service Definition: the category's extra attributes",
    responses=_docs(ServiceDefinition, 400, 404),
    openapi_extra={"parameters": [JURISDICTION]},
)
def service_definition(service_code: str, fmt: Fmt, request: Request, ctx: Open311Dep) -> Response:
    def make(f: str) -> Response:
        check_jurisdiction(request.query_params, ctx.jurisdiction)
        category = ctx.catalog.categories.get(service_code)
        if category is None or not category.is_leaf:
            raise not_found(f"service_code '{service_code[:64]}' 不存在（见 services.{f}）")
        return answer(f, "service_definition", mapping.definition(category))

    return _run(fmt, make)


# -- service requests ------------------------------------------------------------------


def _client(ctx: Open311, request: Request, key: str | None) -> ApiKeyRecord:
    ip = request.client.host if request.client else "unknown"
    try:
        ctx.limiter.check(ip)
    except ApiError as exc:  # the limiter's 429, in Open311's shape
        raise Open311Error(
            429, "api_key 错误次数过多，请稍后再试", headers=dict(exc.headers or {})
        ) from None
    rec = ctx.keys.verify(key)
    if rec is None:
        ctx.limiter.fail(ip)
        raise forbidden(
            "缺少 api_key 或 api_key 无效，无法提交诉求 (missing or invalid api_key)"
            if key
            else "缺少 api_key，无法提交诉求 (api_key is required to create a request)"
        )
    return rec


FORM_SCHEMA = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {
        "api_key": {"type": "string", "description": "The client application's key"},
        "jurisdiction_id": {"type": "string"},
        "service_code": {"type": "string"},
        "lat": {"type": "number"},
        "long": {"type": "number"},
        "address_string": {"type": "string", "maxLength": 200},
        "address_id": {"type": "string", "description": "An area code of the catalog"},
        "description": {"type": "string", "maxLength": 4000},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "phone": {"type": "string"},
        "email": {"type": "string"},
        "device_id": {"type": "string"},
        "account_id": {"type": "string"},
        "media_url": {"type": "string", "format": "uri"},
    },
}


@router.post(
    "/v2/requests.{fmt}",
    summary="POST Service Request: file a ticket (api_key required)",
    responses=_docs(list[Created], 400, 403, 404, 429, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": FORM_SCHEMA}},
        }
    },
)
async def create_request(fmt: Fmt, request: Request, ctx: Open311Dep) -> Response:
    """Dispatched like any intake (channel `open311`, client = the api_key's application)."""
    body = await request.body()
    content_type = request.headers.get("content-type")

    def make(f: str) -> Response:
        form = parse_form(body, content_type) if body or content_type else {}
        check_jurisdiction(
            {"jurisdiction_id": first(form, "jurisdiction_id") or ""}, ctx.jurisdiction
        )
        if "api_key" in request.query_params:
            # A key in the URL ends up in access logs and proxies: refuse it.
            raise forbidden("api_key 须放在表单正文中，不能放在网址里 (send api_key in the body)")
        client = _client(ctx, request, first(form, "api_key"))
        created = file_request(ctx.service, form, client=client)
        return answer(f, "service_requests", [created])

    return await to_thread.run_sync(partial(_run, fmt, make), limiter=ctx.writers)


@router.get(
    "/v2/requests.{fmt}",
    summary="GET Service Requests (newest first; 90 days, 1000 per page at most)",
    responses=_docs(list[ServiceRequest], 400, 404, 503),
    openapi_extra={
        "parameters": [
            JURISDICTION,
            _query("service_request_id", "Comma-separated ids; overrides every other argument"),
            _query(
                "service_code", "Comma-separated service codes (a group code matches its services)"
            ),
            *DATES,
            _query("status", "open, closed or both, comma-separated"),
            *PAGING,
            EXTENSIONS,
        ]
    },
)
def list_requests(fmt: Fmt, request: Request, ctx: Open311Dep) -> Response:
    def make(f: str) -> Response:
        params = request.query_params
        check_jurisdiction(params, ctx.jurisdiction)
        q = request_query(params, catalog=ctx.catalog, now=ctx.service.clock.now())
        finder = ctx.finder
        if q.ids is not None:
            views = finder.lookup(q.ids)
        else:
            views = finder.search(
                q.window,
                services=q.service_filter(ctx.catalog),
                closed=q.closed,
                offset=(q.page - 1) * q.page_size,
                limit=q.page_size,
            )
        items = [mapping.service_request(ctx.catalog, v, extensions=q.extensions) for v in views]
        return answer(f, "service_requests", items)

    return _run(fmt, make)


@router.get(
    "/v2/requests/{service_request_id}.{fmt}",
    summary="GET Service Request",
    responses=_docs(list[ServiceRequest], 400, 404, 503),
    openapi_extra={"parameters": [JURISDICTION, EXTENSIONS]},
)
def get_request(service_request_id: str, fmt: Fmt, request: Request, ctx: Open311Dep) -> Response:
    def make(f: str) -> Response:
        params = request.query_params
        check_jurisdiction(params, ctx.jurisdiction)
        extensions = extensions_flag(params)
        ctx.finder.refresh()
        view = ctx.finder.view(service_request_id)
        if view is None:
            raise not_found(f"service_request_id '{service_request_id[:40]}' 不存在")
        item = mapping.service_request(ctx.catalog, view, extensions=extensions)
        return answer(f, "service_requests", [item])

    return _run(fmt, make)


@router.get(
    "/v2/tokens/{token}.{fmt}",
    summary="GET service_request_id from a token (never needed: intake is synchronous)",
    responses=_docs(list[TokenAnswer], 404),
    openapi_extra={"parameters": [JURISDICTION]},
)
def get_token(token: str, fmt: Fmt, request: Request, ctx: Open311Dep) -> Response:
    def make(f: str) -> Response:
        check_jurisdiction(request.query_params, ctx.jurisdiction)
        # Every service is realtime: POST requests answers the id at once, no token is
        # ever issued, so no token can be found.
        raise not_found(f"token '{token[:40]}' 不存在：本接口同步受理，直接返回 service_request_id")

    return _run(fmt, make)


@router.get(
    "/v2/servicerequestupdates.{fmt}",
    summary="GET Service Request Updates (FixMyStreet extension): public steps in a window",
    responses=_docs(list[RequestUpdate], 400, 404, 503),
    openapi_extra={"parameters": [JURISDICTION, *DATES, *PAGING]},
)
def list_updates(fmt: Fmt, request: Request, ctx: Open311Dep) -> Response:
    def make(f: str) -> Response:
        params = request.query_params
        check_jurisdiction(params, ctx.jurisdiction)
        q = updates_query(params, now=ctx.service.clock.now())
        found = mapping.updates_in(ctx.finder.updates_in(q.window), q.window)
        start = (q.page - 1) * q.page_size
        return answer(f, "service_requests_updates", found[start : start + q.page_size])

    return _run(fmt, make)


# Paths of the endpoints above (after /v2/) and their methods, for 405 answers.
KNOWN = [
    (re.compile(r"requests\.[^/]+"), "GET, POST"),
    (re.compile(r"(discovery|services|servicerequestupdates)\.[^/]+"), "GET"),
    (re.compile(r"(services|requests|tokens)/[^/]+\.[^/]+"), "GET"),
]


@router.api_route(
    "/v2/{rest:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
def unknown(rest: str) -> Response:
    """Anything else under /v2: the standard's 404, or a 405 naming the allowed methods."""
    fmt = "json" if rest.endswith(".json") else "xml"
    for pattern, allow in KNOWN:
        if pattern.fullmatch(rest):
            error = Open311Error(405, f"不支持该请求方法，可用：{allow}", headers={"Allow": allow})
            return _error(fmt, error)
    return _error(fmt, not_found(f"没有这个 Open311 资源：/open311/v2/{rest[:80]}"))

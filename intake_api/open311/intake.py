"""POST requests: an Open311 form becomes an intake like any other channel's.

The form is parsed strictly (UTF-8, percent-encoded, a bounded number of fields), checked
against the service's definition, turned into a `TicketCreate` with channel `open311` and
the client application as `client`, and filed through `Service.create`, which dispatches
it by the duty list and stores it durably before we answer.

Where Open311 fields go: description -> content; address_string -> the private exact
address (the public sees district and street); address_id -> an area code of the
catalog (our addressing system); lat/long -> private coordinates (published rounded to
~100 m); first_name/last_name -> the private citizen name; phone -> the private phone;
media_url -> an attachment. email, device_id and account_id are not kept: the ticket
model has no place for them and the hotline reaches citizens by phone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from pydantic import ValidationError

from ..catalog import Area, Catalog, Category, CategoryField
from ..clock import local
from ..model import Actor, Role, TicketCreate
from ..service import Service
from .errors import Open311Error, bad_request, not_found
from .keys import ApiKeyRecord
from .models import Created
from .params import PLUS_AS_SPACE, W3_RE

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 100
MAX_DESCRIPTION = 4000  # "free form text limited to 4,000 characters"
NEAREST_AREA_KM = 60.0
ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
# Field names of TicketCreate -> the Open311 argument a client sent them as.
OPEN311_NAMES = {
    "content": "description",
    "citizen_phone": "phone",
    "citizen_name": "first_name/last_name",
    "address": "address_string",
    "lon": "long",
    "attachments": "media_url",
    "attributes": "attribute",
}


Form = dict[str, list[str]]


def parse_form(body: bytes, content_type: str | None) -> Form:
    """Decode an application/x-www-form-urlencoded body strictly."""
    media, _, options = (content_type or "").partition(";")
    if media.strip().lower() != FORM_TYPE:
        raise bad_request(f"请以 {FORM_TYPE} 提交 (Content-Type: {FORM_TYPE}; charset=utf-8)")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", options, re.IGNORECASE)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise bad_request("只接受 UTF-8 编码 (charset=utf-8)")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise bad_request("请求内容不是有效的 UTF-8") from None
    except ValueError:
        raise bad_request(f"字段过多（最多 {MAX_FIELDS} 个）") from None
    form: Form = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def first(form: Form, name: str) -> str | None:
    values = form.get(name)
    if not values:
        return None
    value = values[0].strip()
    return value or None


@dataclass(frozen=True)
class Location:
    lat: float | None
    lon: float | None
    address: str | None
    area: Area | None


def _coordinate(name: str, value: str, low: float, high: float, errors: list[str]) -> float | None:
    try:
        number = float(value)
    except ValueError:
        errors.append(f"{name} 须为数字 (got '{value[:30]}')")
        return None
    if not math.isfinite(number) or not low <= number <= high:
        errors.append(f"{name} 须在 {low:g} 到 {high:g} 之间")
        return None
    return number


def location(form: Form, catalog: Catalog, errors: list[str]) -> Location | None:
    lat_raw, lon_raw = first(form, "lat"), first(form, "long")
    address, address_id = first(form, "address_string"), first(form, "address_id")
    if lat_raw is None and lon_raw is None and address is None and address_id is None:
        errors.append("须提供事发位置：lat 和 long、address_string 或 address_id 三者之一")
        return None
    lat = lon = None
    if (lat_raw is None) != (lon_raw is None):
        errors.append("lat 和 long 须同时提供")
    elif lat_raw is not None and lon_raw is not None:
        lat = _coordinate("lat", lat_raw, -90, 90, errors)
        lon = _coordinate("long", lon_raw, -180, 180, errors)
    area = None
    if address_id is not None:
        area = catalog.area_by_code.get(address_id)
        if area is None:
            errors.append(
                f"address_id '{address_id[:40]}' 不存在：address_id 是区县代码，例如 "
                f"{catalog.areas[0].code}（见 /api/v1/catalog/areas）"
            )
    return Location(lat=lat, lon=lon, address=address, area=area)


def nearest_area(catalog: Catalog, lat: float, lon: float) -> Area | None:
    """The area whose centroid is nearest (approximate; used only if no place is named)."""

    def km(area: Area) -> float:
        dy = (area.centroid.lat - lat) * 110.57
        dx = (area.centroid.lon - lon) * 111.32 * math.cos(math.radians(lat))
        return math.hypot(dx, dy)

    best = min(catalog.areas, key=km, default=None)
    return best if best is not None and km(best) <= NEAREST_AREA_KM else None


def _attribute_value(field: CategoryField, values: list[str], errors: list[str]) -> str | None:
    name = f"attribute[{field.code}]"
    values = [v.strip() for v in values if v.strip()]
    if not values:
        return None
    keys = {v.key for v in field.values}
    if field.datatype == "multivaluelist":
        wrong = [v for v in values if v not in keys]
        if wrong:
            errors.append(f"{name} 的取值 '{wrong[0][:30]}' 不在 values 中")
        return ",".join(dict.fromkeys(values))
    if len(values) > 1:
        errors.append(f"{name} 只能有一个值")
    value = values[0]
    if field.datatype == "singlevaluelist" and value not in keys:
        errors.append(f"{name} 的取值 '{value[:30]}' 不在 values 中")
    elif field.datatype == "number":
        try:
            ok = math.isfinite(float(value))
        except ValueError:
            ok = False
        if not ok:
            errors.append(f"{name} 须为数字")
    elif field.datatype == "datetime" and not W3_RE.fullmatch(PLUS_AS_SPACE.sub("+", value)):
        errors.append(f"{name} 须为带时区的日期时间，例如 2026-11-20T09:00:00+08:00")
    elif field.datatype == "string" and ("\n" in value or "\r" in value):
        errors.append(f"{name} 不能换行（string 类型）")
    return value


def attributes(form: Form, category: Category, errors: list[str]) -> dict[str, str]:
    fields = {f.code: f for f in category.fields}
    given: dict[str, list[str]] = {}
    for key, values in form.items():
        if not key.startswith("attribute"):
            continue
        m = ATTRIBUTE_KEY.fullmatch(key)
        if m is None or m.group(1) not in fields:
            errors.append(
                f"{key[:80]} 不是服务 {category.code} 的属性（见 services/{category.code}.json）"
            )
            continue
        given.setdefault(m.group(1), []).extend(values)
    out: dict[str, str] = {}
    for code, field in fields.items():
        value = _attribute_value(field, given.get(code, []), errors)
        if value is None:
            if field.required:
                errors.append(f"缺少必填属性 attribute[{code}]（{field.name}）")
        else:
            out[code] = value
    return out


def citizen_name(form: Form) -> str | None:
    given, family = first(form, "first_name"), first(form, "last_name")
    if not (given or family):
        return None
    if (given or "").isascii() and (family or "").isascii():
        return " ".join(x for x in (given, family) if x)
    return f"{family or ''}{given or ''}"


def build_create(
    form: Form, *, service: Service, category: Category, client: ApiKeyRecord
) -> TicketCreate:
    catalog = service.catalog
    errors: list[str] = []
    where = location(form, catalog, errors)
    attrs = attributes(form, category, errors)
    description = first(form, "description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        errors.append(f"description 最多 {MAX_DESCRIPTION} 字")
    if errors:
        raise bad_request(*errors)
    assert where is not None
    content = description or f"【{category.name}】通过 {client.name} 提交，未填写描述。"
    area = where.area
    if area is None and where.lat is not None and where.lon is not None:
        named, _street = service.dispatcher.locate(f"{content} {where.address or ''}", None)
        if named is None:
            area = nearest_area(catalog, where.lat, where.lon)
    media = first(form, "media_url")
    try:
        return TicketCreate(
            channel="open311",
            client=client.name,
            content=content,
            category=category.code,
            area=area.code if area else None,
            address=where.address,
            lat=where.lat,
            lon=where.lon,
            citizen_name=citizen_name(form),
            citizen_phone=first(form, "phone"),
            attachments=[media] if media else [],
            attributes=attrs,
        )
    except ValidationError as exc:
        raise bad_request(*_describe(exc)) from None


def _describe(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors()[:5]:
        loc = [str(p) for p in err.get("loc") or ()]
        field = OPEN311_NAMES.get(loc[0], loc[0]) if loc else "form"
        msg = str(err.get("msg") or "invalid value").removeprefix("Value error, ")
        out.append(f"{field}: {msg}")
    return out


def service_notice(
    catalog: Catalog, *, department: str | None, close: datetime | None, reason: str
) -> str:
    """已受理, why this department (the dispatcher's words) and the close deadline."""
    dept = catalog.department_by_code.get(department or "")
    text = f"已受理。{reason}" if reason else f"已受理，派至{dept.name}。" if dept else "已受理。"
    if close is not None:
        text += f"办结时限：{local(close):%Y-%m-%d %H:%M}（北京时间）。"
    return text


def file_request(service: Service, form: Form, *, client: ApiKeyRecord) -> Created:
    """Validate an Open311 POST, dispatch and store it; answer with id and notice."""
    code = first(form, "service_code")
    if code is None:
        raise bad_request("缺少 service_code（见 services.json）")
    category = service.catalog.categories.get(code)
    if category is None or not category.is_leaf:
        raise not_found(f"service_code '{code[:64]}' 不存在（见 services.json）")
    create = build_create(form, service=service, category=category, client=client)
    actor = Actor(role=Role.OPERATOR, name=f"open311:{client.id}")
    intake = service.create(create, actor=actor)
    st = intake.ticket.state
    return Created(
        service_request_id=intake.ticket.id,
        service_notice=service_notice(
            service.catalog,
            department=st.department,
            close=st.deadlines.close if st.deadlines else None,
            reason=st.dispatch_reason,
        ),
    )


__all__ = ["Open311Error", "file_request", "parse_form"]

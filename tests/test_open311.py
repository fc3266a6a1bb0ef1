"""Open311 GeoReport v2, in process: every answer checked against the standard's field
lists and types, in JSON and in XML parsed back; intake dispatched like any channel;
only public, redacted data out; the standard's errors for bad input, never a 500.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from intake_api.app import create_app
from intake_api.catalog import load_catalog
from intake_api.model import Status, Ticket
from intake_api.open311.finder import summarize
from intake_api.open311.keys import ApiKeyError, ApiKeyStore, create_api_key
from intake_api.server import ApiSettings
from intake_api.store import Store
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, VENDING, act, all_files, file_ticket

from .conftest import CATALOG_DIR, T0

V2 = "/open311/v2"
W3 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ID = re.compile(r"^LY\d{14}$")

# -- the standard's field lists and types ------------------------------------------------
# kind: "str", "bool", "int", "float", "w3" (datetime), or a tuple of allowed values;
# a trailing "?" allows null / an empty element. (field, kind, required)

SERVICE = [
    ("service_code", "str", True),
    ("service_name", "str", True),
    ("description", "str?", True),
    ("metadata", "bool", True),
    ("type", ("realtime", "batch", "blackbox"), True),
    ("keywords", "str?", True),
    ("group", "str?", True),
]
ATTRIBUTE = [
    ("variable", "bool", True),
    ("code", "str", True),
    (
        "datatype",
        ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"),
        True,
    ),
    ("required", "bool", True),
    ("datatype_description", "str?", True),
    ("order", "int", True),
    ("description", "str", True),
    ("values", "list", False),
]
VALUE = [("key", "str", True), ("name", "str", True)]
REQUEST = [
    ("service_request_id", "str", True),
    ("status", ("open", "closed"), True),
    ("status_notes", "str?", True),
    ("service_name", "str", True),
    ("service_code", "str", True),
    ("description", "str?", True),
    ("agency_responsible", "str?", True),
    ("service_notice", "str?", True),
    ("requested_datetime", "w3", True),
    ("updated_datetime", "w3", True),
    ("expected_datetime", "w3?", True),
    ("address", "str?", True),
    ("address_id", "str?", True),
    ("zipcode", "str?", True),
    ("lat", "float?", True),
    ("long", "float?", True),
    ("media_url", "str?", True),
    # the extensions=true additions
    ("extended_attributes", "dict", False),
    ("notes", "list", False),
]
NOTE = [("datetime", "w3", True), ("description", "str", True), ("type", "str", True)]
CREATED = [
    ("service_request_id", "str", True),
    ("token", "str", False),
    ("service_notice", "str?", False),
    ("account_id", "str?", False),
]
UPDATE = [
    ("update_id", "str", True),
    ("service_request_id", "str", True),
    ("status", ("open", "closed"), True),
    ("updated_datetime", "w3", True),
    ("description", "str?", True),
    ("media_url", "str?", True),
]
ERROR = [("code", "int", True), ("description", "str", True)]
DISCOVERY = [
    ("changeset", "str", True),
    ("contact", "str", True),
    ("key_service", "str", True),
    ("endpoints", "list", True),
]
ENDPOINT = [
    ("specification", "str", True),
    ("url", "str", True),
    ("changeset", "str", True),
    ("type", ("production", "test"), True),
    ("formats", "list", True),
]


def _check_json_value(kind: Any, value: Any, where: str) -> None:
    if isinstance(kind, tuple):
        assert value in kind, f"{where}: {value!r} not in {kind}"
        return
    if kind.endswith("?"):
        if value is None:
            return
        kind = kind[:-1]
    expected = (
        {"str": str, "bool": bool, "int": int, "list": list, "dict": dict, "w3": str}[kind]
        if kind != "float"
        else (int, float)
    )
    assert isinstance(value, expected) and not (kind == "int" and isinstance(value, bool)), (
        f"{where}: {value!r} is not {kind}"
    )
    if kind == "w3":
        assert W3.fullmatch(value), f"{where}: {value!r} is not a W3C datetime"


def check_json(obj: dict[str, Any], fields: list, where: str) -> None:
    known = {f for f, _, _ in fields}
    assert set(obj) <= known, f"{where}: unknown fields {set(obj) - known}"
    for name, kind, required in fields:
        if name not in obj:
            assert not required, f"{where}: missing {name}"
            continue
        _check_json_value(kind, obj[name], f"{where}.{name}")


def _check_xml_text(kind: Any, text: str | None, where: str) -> None:
    text = text or ""
    if isinstance(kind, tuple):
        assert text in kind, f"{where}: {text!r} not in {kind}"
        return
    if kind.endswith("?"):
        if text == "":
            return
        kind = kind[:-1]
    if kind == "bool":
        assert text in ("true", "false"), f"{where}: {text!r}"
    elif kind == "int":
        assert re.fullmatch(r"-?\d+", text), f"{where}: {text!r}"
    elif kind == "float":
        float(text)
    elif kind == "w3":
        assert W3.fullmatch(text), f"{where}: {text!r}"
    else:
        assert text != "" or kind == "str?", f"{where}: empty"


def check_xml(elem: ET.Element, fields: list, where: str) -> None:
    known = {f for f, _, _ in fields}
    names = [c.tag for c in elem]
    assert len(names) == len(set(names)), f"{where}: repeated fields {names}"
    assert set(names) <= known, f"{where}: unknown fields {set(names) - known}"
    for name, kind, required in fields:
        child = elem.find(name)
        if child is None:
            assert not required, f"{where}: missing {name}"
        elif kind not in ("list", "dict"):
            _check_xml_text(kind, child.text, f"{where}.{name}")


def parse_xml(r) -> ET.Element:
    assert r.headers["content-type"].startswith("text/xml"), r.headers["content-type"]
    assert "charset=utf-8" in r.headers["content-type"]
    assert r.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(r.content)


def parse_json(r) -> Any:
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    return r.json()


def check_requests(r, fmt: str) -> list[dict[str, Any]]:
    """Validate a service_requests answer; return it as JSON-like dicts (XML: texts)."""
    assert r.status_code == 200, r.text
    if fmt == "json":
        items = parse_json(r)
        assert isinstance(items, list)
        for i, item in enumerate(items):
            check_json(item, REQUEST, f"request[{i}]")
            for j, note in enumerate(item.get("notes", [])):
                check_json(note, NOTE, f"request[{i}].notes[{j}]")
        return items
    root = parse_xml(r)
    assert root.tag == "service_requests"
    out = []
    for i, elem in enumerate(root):
        assert elem.tag == "request"
        check_xml(elem, REQUEST, f"request[{i}]")
        notes = elem.find("notes")
        for j, note in enumerate(notes if notes is not None else []):
            assert note.tag == "note"
            check_xml(note, NOTE, f"request[{i}].notes[{j}]")
        out.append({c.tag: c.text for c in elem})
    return out


def check_errors(r, status: int, fmt: str = "json") -> list[str]:
    """The standard's error answer: the status, a list of code + description."""
    assert r.status_code == status, (r.status_code, r.text)
    if fmt == "json":
        items = parse_json(r)
        assert isinstance(items, list) and items
        for item in items:
            check_json(item, ERROR, "error")
        return [i["description"] for i in items]
    root = parse_xml(r)
    assert root.tag == "errors" and len(root)
    for elem in root:
        assert elem.tag == "error"
        check_xml(elem, ERROR, "error")
    return [e.findtext("description") for e in root]


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def api_key(app) -> str:
    return create_api_key(app.state.runtime.settings.secrets_path, name="随手拍", contact="a@b.cn")[
        1
    ]


def post(client: TestClient, key: str | None, fmt: str = "json", **fields: Any):
    body = dict(fields)
    if key is not None:
        body["api_key"] = key
    return client.post(f"{V2}/requests.{fmt}", data=body)


def file_311(client: TestClient, key: str, **fields: Any) -> str:
    fields = {
        "service_code": "urban.fishing",
        "description": FISHING,
        "lat": "35.0612",
        "long": "118.3419",
    } | fields
    r = post(client, key, **fields)
    assert r.status_code == 200, r.text
    created = parse_json(r)
    assert len(created) == 1
    check_json(created[0], CREATED, "created")
    return created[0]["service_request_id"]


# -- discovery and services ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/open311/discovery", f"{V2}/discovery"])
def test_discovery(client, path):
    j = parse_json(client.get(f"{path}.json"))
    check_json(j, DISCOVERY, "discovery")
    (ep,) = j["endpoints"]
    check_json(ep, ENDPOINT, "endpoint")
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert ep["url"].endswith("/open311/v2") and set(ep["formats"]) == {
        "text/xml",
        "application/json",
    }
    root = parse_xml(client.get(f"{path}.xml"))
    assert root.tag == "discovery"
    check_xml(root, DISCOVERY, "discovery")
    formats = [f.text for f in root.find("endpoints/endpoint/formats")]
    assert root.find("endpoints/endpoint/formats/format") is not None and "text/xml" in formats
    check_xml(root.find("endpoints/endpoint"), ENDPOINT, "endpoint")


def test_services_one_per_category_in_chinese(client, catalog):
    leaves = [c for c in catalog.categories.values() if c.is_leaf]
    services = parse_json(client.get(f"{V2}/services.json"))
    assert [s["service_code"] for s in services] == [c.code for c in leaves]
    for s in services:
        check_json(s, SERVICE, s["service_code"])
    fishing = next(s for s in services if s["service_code"] == "urban.fishing")
    assert fishing["service_name"] == "桥上钓鱼" and fishing["group"] == "城市管理"
    assert fishing["metadata"] is True and "钓鱼" in fishing["keywords"].split(",")
    vending = next(s for s in services if s["service_code"] == "urban.street_vending")
    assert vending["metadata"] is False
    root = parse_xml(client.get(f"{V2}/services.xml"))
    assert root.tag == "services" and len(root) == len(leaves)
    for elem in root:
        assert elem.tag == "service"
        check_xml(elem, SERVICE, elem.findtext("service_code"))
    assert root[0].findtext("service_name") == leaves[0].name


def test_service_definitions(client, catalog):
    for c in (c for c in catalog.categories.values() if c.is_leaf):
        j = parse_json(client.get(f"{V2}/services/{c.code}.json"))
        assert set(j) == {"service_code", "attributes"} and j["service_code"] == c.code
        assert [a["code"] for a in j["attributes"]] == [f.code for f in c.fields]
        for a in j["attributes"]:
            check_json(a, ATTRIBUTE, f"{c.code}.{a['code']}")
            if a["datatype"].endswith("valuelist"):
                assert a["values"]
                for v in a["values"]:
                    check_json(v, VALUE, "value")
            else:
                assert "values" not in a
        assert [a["order"] for a in j["attributes"]] == list(range(1, len(c.fields) + 1))
    root = parse_xml(client.get(f"{V2}/services/housing.property.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "housing.property"
    attrs = root.find("attributes")
    assert [a.tag for a in attrs] == ["attribute"] * len(attrs)
    for a in attrs:
        check_xml(a, ATTRIBUTE, a.findtext("code"))
    issue = next(a for a in attrs if a.findtext("code") == "issue")
    assert issue.findtext("datatype") == "multivaluelist"
    assert [v.tag for v in issue.find("values")] == ["value"] * len(issue.find("values"))
    assert issue.find("values/value/name").text == "卫生保洁"
    check_errors(client.get(f"{V2}/services/nope.json"), 404)
    check_errors(client.get(f"{V2}/services/urban.xml"), 404, "xml")  # a group, not a service


# -- filing a request -------------------------------------------------------------------------


def test_post_request_is_dispatched_like_any_intake(client, app, api_key, catalog):
    r = post(
        client,
        api_key,
        "xml",
        service_code="urban.fishing",
        description=FISHING,
        address_string="兰山区通达路大桥北侧100米",
        first_name="三",
        last_name="张",
        phone="13912345678",
        email="z@example.com",
        media_url="https://img.example.com/a.jpg",
        **{"attribute[bridge]": "通达路大桥"},
    )
    root = parse_xml(r)
    assert r.status_code == 200 and root.tag == "service_requests"
    (req,) = root
    assert req.tag == "request"
    check_xml(req, CREATED, "created")
    ticket_id = req.findtext("service_request_id")
    assert ID.fullmatch(ticket_id) and req.find("token") is None
    ticket = app.state.runtime.service.store.get(ticket_id)
    st = ticket.state
    assert st.channel == "open311" and st.client == "随手拍"
    assert st.category == "urban.fishing" and st.department == "lanshan-gov"
    assert st.area == "lanshan" and st.attributes == {"bridge": "通达路大桥"}
    assert st.private.citizen_name == "张三" and st.private.citizen_phone == "13912345678"
    assert st.private.address == "兰山区通达路大桥北侧100米"
    assert st.attachments == ["https://img.example.com/a.jpg"]
    notice = req.findtext("service_notice")
    assert catalog.department_by_code["lanshan-gov"].name in notice and "办结时限" in notice
    assert ticket.events[0].actor.role == "operator"


def test_lat_long_only_finds_the_area(client, app, api_key):
    ticket_id = file_311(
        client,
        api_key,
        description="这里有人占道经营，堵塞交通。",
        service_code="urban.street_vending",
    )
    st = app.state.runtime.service.store.get(ticket_id).state
    assert st.area == "lanshan" and st.lat == 35.061 and st.private.lat == 35.0612
    got = check_requests(client.get(f"{V2}/requests/{ticket_id}.json"), "json")[0]
    assert got["lat"] == 35.061 and got["long"] == 118.342  # ~100 m, never the exact point


def test_address_id_is_an_area_code(client, app, api_key):
    ticket_id = post(
        client,
        api_key,
        service_code="urban.street_vending",
        description=VENDING,
        address_id="luozhuang",
    ).json()[0]["service_request_id"]
    assert app.state.runtime.service.store.get(ticket_id).state.area == "luozhuang"
    got = check_requests(client.get(f"{V2}/requests/{ticket_id}.json"), "json")[0]
    assert got["address_id"] == "luozhuang" and got["address"].startswith("临沂市罗庄区")


def test_multivalue_attributes(client, app, api_key):
    r = client.post(
        f"{V2}/requests.json",
        content="api_key=" + api_key + "&service_code=housing.property&address_id=lanshan"
        "&description=%E7%89%A9%E4%B8%9A%E4%B8%8D%E7%AE%A1%E4%BA%8B%EF%BC%8C%E5%9E%83%E5%9C%BE%E6%B2%A1%E4%BA%BA%E6%B8%85%E3%80%82"
        "&attribute[issue][]=cleaning&attribute[issue][]=repair&attribute[estate]=%E5%BB%BA%E5%AE%89%E5%B0%8F%E5%8C%BA",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    ticket_id = r.json()[0]["service_request_id"]
    st = app.state.runtime.service.store.get(ticket_id).state
    assert st.attributes == {"issue": "cleaning,repair", "estate": "建安小区"}
    assert st.content == "物业不管事，垃圾没人清。"


# -- reading requests ----------------------------------------------------------------------------


def _lifecycle(client, tokens, api_key) -> str:
    """A request filed through Open311, accepted, replied to, resolved, rated (which closes it)."""
    ticket_id = file_311(client, api_key, description=FISHING + "我的电话13912345678。")
    for token, action in (
        (tokens.lanshan, {"action": "accept"}),
        (tokens.lanshan, {"action": "reply", "text": "已安排城管队员巡查。"}),
        (tokens.lanshan, {"action": "resolve", "text": "已劝离钓鱼人员并设置警示牌。"}),
        (tokens.operator, {"action": "rate", "satisfaction": "satisfied", "solved": True}),
    ):
        assert act(client, ticket_id, token, **action).status_code == 200
    return ticket_id


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_request_read_back_with_status_and_timeline(client, tokens, api_key, catalog, fmt):
    ticket_id = file_311(
        client, api_key, address_string="兰山区通达路大桥", first_name="三", last_name="张"
    )
    got = check_requests(client.get(f"{V2}/requests/{ticket_id}.{fmt}"), fmt)
    (req,) = got
    assert req["service_request_id"] == ticket_id and req["status"] == "open"
    assert req["service_code"] == "urban.fishing" and req["service_name"] == "桥上钓鱼"
    assert req["agency_responsible"] == catalog.department_by_code["lanshan-gov"].name
    assert req["status_notes"] == "待签收"  # no reply yet: the public status
    assert req["address"] == "临沂市兰山区"  # district (and street when known), never the address
    assert "通达路大桥" not in (req["address"] or "")
    assert req["expected_datetime"]

    closed_id = _lifecycle(client, tokens, api_key)
    (req,) = check_requests(client.get(f"{V2}/requests/{closed_id}.{fmt}?extensions=true"), fmt)
    assert req["status"] == "closed"
    assert req["status_notes"] == "已劝离钓鱼人员并设置警示牌。"  # the latest public reply
    assert "13912345678" not in r_text(client, closed_id, fmt)
    if fmt == "json":
        assert [n["type"] for n in req["notes"]] == [
            "received",
            "dispatched",
            "accepted",
            "replied",
            "resolved",
            "rated",
            "closed",
        ]
        assert req["notes"][0]["description"].startswith("受理（Open311 接口）")
        assert "派至" in req["notes"][1]["description"]
        assert req["extended_attributes"]["channel"] == "open311"
        assert req["extended_attributes"]["client"] == "随手拍"
        assert req["updated_datetime"] == req["notes"][-1]["datetime"]


def r_text(client, ticket_id: str, fmt: str) -> str:
    return client.get(f"{V2}/requests/{ticket_id}.{fmt}?extensions=true").text


def test_without_extensions_no_notes(client, api_key):
    ticket_id = file_311(client, api_key)
    (req,) = client.get(f"{V2}/requests/{ticket_id}.json").json()
    assert "notes" not in req and "extended_attributes" not in req
    root = parse_xml(client.get(f"{V2}/requests/{ticket_id}.xml?extensions=true"))
    notes = root.find("request/notes")
    assert [n.tag for n in notes] == ["note", "note"]
    assert root.findtext("request/extended_attributes/channel") == "open311"


def test_list_requests_filters_and_paging(client, tokens, api_key, clock):
    a = file_311(client, api_key)
    b = file_ticket(client, tokens, channel="wechat", content=VENDING, area="lanshan")["id"]
    closed = _lifecycle(client, tokens, api_key)
    everything = check_requests(client.get(f"{V2}/requests.json"), "json")
    assert [r["service_request_id"] for r in everything] == sorted([a, b, closed], reverse=True)

    def ids(**params):
        r = client.get(f"{V2}/requests.json", params=params)
        return [x["service_request_id"] for x in check_requests(r, "json")]

    assert ids(status="closed") == [closed]
    assert ids(status="open") == sorted([a, b], reverse=True)
    assert ids(status="open,closed") == ids()
    assert ids(service_code="urban.street_vending") == [b]
    assert ids(service_code="urban") == ids()  # a group matches its services
    assert ids(service_code="urban.fishing,urban.street_vending", status="open") == sorted(
        [a, b], reverse=True
    )
    assert ids(page_size=2) == ids()[:2] and ids(page_size=2, page=2) == ids()[2:]
    assert ids(page=3, page_size=2) == []
    assert ids(service_request_id=f"{a},{closed},LY20990101000001") == [a, closed]
    # service_request_id overrides every other argument
    assert ids(service_request_id=a, status="closed", start_date="2020-01-01T00:00:00Z") == [a]
    start = (T0 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(ids(start_date=start)) == 3
    assert ids(end_date=start) == []
    assert ids(start_date="2026-11-20T09:30:00 08:00") == []  # '+' sent unencoded
    xml = check_requests(client.get(f"{V2}/requests.xml", params={"status": "closed"}), "xml")
    assert [x["service_request_id"] for x in xml] == [closed]


def test_confidential_and_hidden_do_not_exist(client, tokens, api_key):
    public = file_311(client, api_key)
    secret = file_ticket(client, tokens, content=VENDING, area="lanshan", confidential=True)["id"]
    hidden = file_311(client, api_key, description="小区门口天天有人摆摊卖菜，请管一管。")
    r = act(
        client, hidden, tokens.editor, action="moderate", decision="hide", reason="涉及他人隐私"
    )
    assert r.status_code == 200
    for ticket_id in (secret, hidden):
        check_errors(client.get(f"{V2}/requests/{ticket_id}.json"), 404)
        check_errors(client.get(f"{V2}/requests/{ticket_id}.xml"), 404, "xml")
    listed = [r["service_request_id"] for r in client.get(f"{V2}/requests.json").json()]
    assert listed == [public]
    assert (
        client.get(
            f"{V2}/requests.json", params={"service_request_id": f"{secret},{hidden}"}
        ).json()
        == []
    )
    updates = client.get(f"{V2}/servicerequestupdates.json").json()
    assert {u["service_request_id"] for u in updates} == {public}


def test_redacted_text_only(client, tokens, api_key):
    ticket_id = file_311(
        client,
        api_key,
        description="我叫张三，电话13912345678，身份证110101199003074514，桥上有人钓鱼。",
        first_name="三",
        last_name="张",
        phone="13912345678",
    )
    reason = "张三来电13912345678，要求改派城管"
    r = act(
        client, ticket_id, tokens.operator, action="redispatch", department="urban", reason=reason
    )
    assert r.status_code == 200
    text = client.get(f"{V2}/requests/{ticket_id}.json?extensions=true").text
    text += client.get(f"{V2}/requests/{ticket_id}.xml?extensions=true").text
    text += client.get(f"{V2}/servicerequestupdates.json").text
    for private in ("13912345678", "110101199003074514", "张三"):
        assert private not in text
    assert "桥上有人钓鱼" in text and "要求改派城管" in text


# -- updates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_request_updates(client, tokens, api_key, clock, fmt):
    early = file_311(client, api_key)
    clock.advance(days=2)
    later = file_311(client, api_key, description="桥上又有人钓鱼了，请再来看看。")
    clock.advance(minutes=5)
    act(client, early, tokens.lanshan, action="accept")
    clock.advance(minutes=5)
    act(client, early, tokens.lanshan, action="reply", text="已安排巡查。")
    since = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = client.get(f"{V2}/servicerequestupdates.{fmt}", params={"start_date": since})
    if fmt == "json":
        items = parse_json(r)
        for u in items:
            check_json(u, UPDATE, "update")
    else:
        root = parse_xml(r)
        assert root.tag == "service_requests_updates"
        for elem in root:
            assert elem.tag == "request_update"
            check_xml(elem, UPDATE, "update")
        items = [{c.tag: c.text for c in elem} for elem in root]
    assert [u["update_id"] for u in items] == [
        f"{later}-1",
        f"{later}-2",
        f"{early}-3",
        f"{early}-4",
    ]
    assert items[-1]["description"].endswith("已安排巡查。") and items[-1]["status"] == "open"
    assert [u["updated_datetime"] for u in items] == sorted(u["updated_datetime"] for u in items)


def test_updates_read_only_the_window(client, app, api_key, clock):
    """Tickets written on other days are not read: the journal names the window's tickets."""
    for _day in range(3):
        for _ in range(4):
            file_311(client, api_key)
        clock.advance(days=1)
    finder = app.state.open311.finder
    reads = finder.reads
    day1 = (T0 + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (T0 + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = client.get(
        f"{V2}/servicerequestupdates.json", params={"start_date": day1, "end_date": end}
    ).json()
    assert len(items) == 8  # four tickets received and dispatched that day
    assert finder.reads - reads == 8  # four summaries and four views: nothing else was opened
    again = client.get(
        f"{V2}/servicerequestupdates.json", params={"start_date": day1, "end_date": end}
    )
    assert again.json() == items and finder.reads - reads == 8  # cached


def test_cache_follows_changes_from_other_processes(
    client, api_settings, clock, catalog, tokens, api_key
):
    ticket_id = file_311(client, api_key)
    assert client.get(f"{V2}/requests/{ticket_id}.json").json()[0]["status_notes"] == "待签收"
    with TestClient(create_app(api_settings, clock=clock, catalog=catalog)) as other:
        assert act(other, ticket_id, tokens.lanshan, action="accept").status_code == 200
    assert client.get(f"{V2}/requests/{ticket_id}.json").json()[0]["status_notes"] == "办理中"


# -- bad input: the standard's errors, never a 500 ----------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_errors(client, api_key, fmt, data_dir):
    before = all_files(data_dir)

    def bad(status, key=api_key, **fields):
        return check_errors(post(client, key, fmt, **fields), status, fmt)

    where = {"lat": "35.06", "long": "118.34"}
    assert any("service_code" in d for d in bad(400, description=FISHING, **where))
    assert any("nope" in d for d in bad(404, service_code="nope", description=FISHING, **where))
    assert any("lat" in d for d in bad(400, service_code="urban.fishing", description=FISHING))
    assert any("api_key" in d for d in bad(403, key="wrong", service_code="urban.fishing", **where))
    assert any("api_key" in d for d in bad(403, key=None, service_code="urban.fishing", **where))
    bad(400, service_code="urban.fishing", description=FISHING, lat="35.06")
    bad(400, service_code="urban.fishing", description=FISHING, lat="north", long="118.34")
    bad(400, service_code="urban.fishing", description=FISHING, lat="135", long="118.34")
    bad(400, service_code="urban.fishing", description=FISHING, address_id="atlantis")
    bad(400, service_code="urban.fishing", description="桥" * 4001, **where)
    bad(400, service_code="urban.fishing", description="钓鱼\x00危险请处理", **where)
    bad(400, service_code="urban.fishing", description="钓鱼\u202e危险请处理", **where)
    bad(400, service_code="urban.fishing", description=FISHING, phone="call me", **where)
    bad(
        400,
        service_code="urban.fishing",
        description=FISHING,
        media_url="javascript:alert(1)",
        **where,
    )
    bad(
        400,
        service_code="urban.fishing",
        description=FISHING,
        **where,
        **{"attribute[colour]": "red"},
    )
    bad(
        400,
        service_code="housing.property",
        description=FISHING,
        **where,
        **{"attribute[issue]": "x"},
    )
    bad(
        400,
        service_code="housing.certificate",
        description=FISHING,
        **where,
        **{"attribute[purchase_year]": "去年"},
    )
    many = {f"f{i}": "x" for i in range(150)}
    bad(400, service_code="urban.fishing", description=FISHING, **where, **many)
    bad(
        404,
        service_code="urban.fishing",
        description=FISHING,
        jurisdiction_id="elsewhere.gov",
        **where,
    )
    assert all_files(data_dir) == before  # nothing written


def test_post_wrong_body(client, api_key, data_dir):
    before = all_files(data_dir)
    url = f"{V2}/requests.json"
    body = f"api_key={api_key}&service_code=urban.fishing&lat=35&long=118&description=".encode()
    check_errors(client.post(url, json={"api_key": api_key, "service_code": "urban.fishing"}), 400)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    check_errors(client.post(url, content=body + b"\xff\xfe", headers=form), 400)
    check_errors(client.post(url, content=body + b"%FF%FE%E9", headers=form), 400)
    latin = {"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"}
    check_errors(client.post(url, content=body + b"abcdefg", headers=latin), 400)
    r = client.post(url, content=b"a=" + b"x" * 100_000, headers=form)
    assert r.status_code == 413
    assert all_files(data_dir) == before


def test_required_attributes(tmp_path, data_dir, clock):
    text = (data_dir / "catalog" / "categories.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "          name: 桥梁名称\n          datatype: string\n          required: false",
        "          name: 桥梁名称\n          datatype: string\n          required: true",
    )
    (data_dir / "catalog" / "categories.yaml").write_text(text, encoding="utf-8")
    settings = ApiSettings(
        data_dir=data_dir,
        secrets_dir=tmp_path / "s",
        site_dir=tmp_path / "site",
        durable=False,
        tick_seconds=0,
    )
    app = create_app(settings, clock=clock, catalog=load_catalog(data_dir / "catalog"))
    key = create_api_key(settings.secrets_path, name="app")[1]
    with TestClient(app) as c:
        definition = c.get(f"{V2}/services/urban.fishing.json").json()
        assert definition["attributes"][0]["required"] is True
        errors = check_errors(
            post(c, key, service_code="urban.fishing", description=FISHING, address_id="lanshan"),
            400,
        )
        assert any("attribute[bridge]" in e for e in errors)
        assert (
            post(
                c,
                key,
                service_code="urban.fishing",
                description=FISHING,
                address_id="lanshan",
                **{"attribute[bridge]": "通达路大桥"},
            ).status_code
            == 200
        )


def test_bad_api_keys_are_rate_limited(client):
    for _ in range(10):
        check_errors(post(client, "guess", service_code="urban.fishing", address_id="lanshan"), 403)
    r = post(client, "guess", service_code="urban.fishing", address_id="lanshan")
    check_errors(r, 429)
    assert int(r.headers["Retry-After"]) > 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_errors(client, fmt, data_dir):
    before = all_files(data_dir)

    def bad(expected, path="requests", **params):
        return check_errors(client.get(f"{V2}/{path}.{fmt}", params=params), expected, fmt)

    assert any("start_date" in d for d in bad(400, start_date="yesterday"))
    bad(400, start_date="2026-11-20")  # no time, no time zone
    bad(400, end_date="2026-11-20T09:00:00")  # no time zone
    bad(400, start_date="2026-13-40T09:00:00Z")
    bad(400, start_date="9999-12-31T23:59:59Z")  # the default end would overflow
    assert any(
        "end_date" in d
        for d in bad(400, start_date="2026-11-20T00:00:00Z", end_date="2026-11-19T00:00:00Z")
    )
    assert any(
        "90" in d
        for d in bad(400, start_date="2026-01-01T00:00:00Z", end_date="2026-11-01T00:00:00Z")
    )
    bad(400, status="pending")
    bad(400, page="0")
    bad(400, page="x")
    bad(400, page_size="1001")
    bad(400, page_size="9" * 5000)
    bad(400, extensions="maybe")
    bad(400, service_code="nope")
    bad(400, service_request_id="../../etc/passwd")
    bad(404, jurisdiction_id="elsewhere.gov")
    bad(400, "servicerequestupdates", start_date="2026-11-20")
    bad(
        400,
        "servicerequestupdates",
        start_date="2026-01-01T00:00:00Z",
        end_date="2026-11-01T00:00:00Z",
    )
    for path in (
        "requests/LY20261120999999",
        "requests/..%2F..%2Fetc%2Fpasswd",
        "requests/%00",
        "tokens/abc",
        "services/..%2Fcatalog",
        "nothing",
        "requests/LY1/extra",
    ):
        check_errors(client.get(f"{V2}/{path}.{fmt}"), 404, fmt)
    assert all_files(data_dir) == before


def test_unknown_format_and_method(client):
    check_errors(client.get(f"{V2}/services.html"), 404, "xml")
    check_errors(client.get(f"{V2}/requests.csv"), 404, "xml")
    r = client.delete(f"{V2}/requests.json")
    check_errors(r, 405)
    assert r.headers["Allow"] == "GET, POST"
    r = client.put(f"{V2}/services.xml")
    check_errors(r, 405, "xml")
    assert r.headers["Allow"] == "GET"
    check_errors(client.post(f"{V2}/nothing.json"), 404)


def test_api_key_in_the_url_is_refused(client, api_key, data_dir):
    before = all_files(data_dir)
    r = client.post(
        f"{V2}/requests.json?api_key={api_key}",
        data={"service_code": "urban.fishing", "description": FISHING, "address_id": "lanshan"},
    )
    assert any("api_key" in d for d in check_errors(r, 403))
    assert all_files(data_dir) == before


def test_read_budget_refuses_too_wide_a_window(client, app, api_key):
    for n in range(5):
        file_311(client, api_key, description=f"桥上有人钓鱼，第{n}次反映，请处理。")
    app.state.open311.finder.read_budget = 12  # five summaries, then a view is too many
    errors = check_errors(client.get(f"{V2}/requests.json"), 400)
    assert "start_date/end_date" in errors[0]
    app.state.open311.finder.read_budget = 100
    assert len(check_requests(client.get(f"{V2}/requests.json"), "json")) == 5


def test_token_endpoint_is_honest(client, api_key):
    ticket_id = file_311(client, api_key)
    # Intake is synchronous: POST answered the id, there is no token, not even the id.
    check_errors(client.get(f"{V2}/tokens/{ticket_id}.json"), 404)


# -- api keys -------------------------------------------------------------------------------------


def test_api_key_store(tmp_path, clock):
    store = ApiKeyStore(tmp_path / "secrets", clock=clock)
    rec, key = store.create(name="随手拍", contact="ops@example.com")
    assert key.startswith("o311_") and store.verify(key) == rec and rec.active
    raw = (tmp_path / "secrets" / "open311_keys.json").read_text()
    assert key not in raw and rec.sha256 in raw
    assert (tmp_path / "secrets" / "open311_keys.json").stat().st_mode & 0o077 == 0
    with pytest.raises(ApiKeyError):
        store.create(name="随手拍")
    with pytest.raises(ApiKeyError):
        store.create(name="bad\u202ename")
    assert store.verify("o311_" + "x" * 43) is None and store.verify("") is None
    store.revoke("随手拍")
    assert store.verify(key) is None
    assert ApiKeyStore(tmp_path / "secrets").verify(key) is None  # another process sees it
    rec2, key2 = store.create(name="随手拍")
    assert store.verify(key2) == rec2


def test_revoked_key_is_refused_at_once(client, app, api_key):
    file_311(client, api_key)
    ApiKeyStore(app.state.runtime.settings.secrets_path).revoke("随手拍")
    check_errors(post(client, api_key, service_code="urban.fishing", address_id="lanshan"), 403)


# -- the cheap summary agrees with the model ---------------------------------------------------------


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Store:
    from intake_api.cli import main

    data = tmp_path_factory.mktemp("o311demo") / "data"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    args = ["--data-dir", str(data), "demo", "--tickets", "400", "--days", "20", "--seed", "3"]
    assert main([*args, "--end", "2026-11-28T04:00:00+00:00", "--workers", "1"]) == 0
    return Store(data, durable=False)


def test_summary_matches_derived_state(demo_store):
    seen = set()
    for path in demo_store.paths():
        raw = path.read_bytes()
        st = Ticket.from_json(raw).state
        s = summarize(orjson.loads(raw))
        assert (s.public, s.category, s.closed, s.received, s.updated) == (
            st.is_public,
            st.category,
            st.status == Status.CLOSED,
            st.received_at,
            st.updated_at,
        ), path.name
        seen.add((s.public, s.closed))
    assert seen == {(True, True), (True, False), (False, True), (False, False)}


def test_demo_data_through_open311(demo_store, tmp_path, catalog):
    from intake_api.clock import FixedClock, parse_ts

    settings = ApiSettings(
        data_dir=demo_store.data_dir,
        secrets_dir=tmp_path / "s",
        site_dir=tmp_path / "site",
        durable=False,
        tick_seconds=0,
    )
    app = create_app(settings, clock=FixedClock(parse_ts("2026-11-28T04:00:00Z")), catalog=catalog)
    with TestClient(app) as c:
        listed = check_requests(c.get(f"{V2}/requests.json", params={"page_size": 1000}), "json")
        public = [p for p in demo_store.paths() if summarize(orjson.loads(p.read_bytes())).public]
        assert len(listed) == len(public)
        xml = check_requests(
            c.get(f"{V2}/requests.xml", params={"extensions": "true", "page_size": 50}), "xml"
        )
        assert len(xml) == 50
        closed = check_requests(c.get(f"{V2}/requests.json", params={"status": "closed"}), "json")
        assert closed and all(r["status"] == "closed" and r["status_notes"] for r in closed)
        updates = c.get(f"{V2}/servicerequestupdates.json").json()
        assert updates and all(u["updated_datetime"] >= "2026-11-27T04:00:00Z" for u in updates)
        for u in updates:
            check_json(u, UPDATE, "update")


def test_xml_survives_any_text():
    from intake_api.open311.render import to_json, to_xml

    items = [{"code": 400, "description": "a\x01b\x0bc <&> 钓鱼 \ufffe"}]
    root = ET.fromstring(to_xml("errors", items))
    assert root[0].findtext("description") == "a\ufffdb\ufffdc <&> 钓鱼 \ufffd"
    assert orjson.loads(to_json(items)) == items

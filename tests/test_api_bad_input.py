"""Bad input: a clear 4xx JSON error naming the field, never a 500, never a write."""

from __future__ import annotations

import pytest

from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, Tokens, all_files, file_ticket


@pytest.fixture
def post(client, tokens, data_dir):
    """POST raw bytes to intake; assert nothing was written; return the response."""

    def send(
        content: bytes | str,
        *,
        ctype: str | None = "application/json",
        path: str = "/api/v1/tickets",
        headers: dict | None = None,
    ):
        before = all_files(data_dir)
        h = Tokens.auth(tokens.operator) | (headers or {})
        if ctype:
            h["Content-Type"] = ctype
        r = client.post(path, content=content, headers=h)
        assert r.status_code < 500, r.text
        assert all_files(data_dir) == before, "a refused request must not write"
        assert set(r.json()) == {"error"} and {"code", "message"} <= set(r.json()["error"])
        return r

    return send


def _json(**fields) -> str:
    import json

    return json.dumps({"channel": "web", "content": FISHING} | fields, ensure_ascii=False)


CASES = [
    # (name, body, status, error code, field)
    ("too long", _json(content="长" * 5001), 422, "validation_error", "content"),
    ("unknown field", _json(nickname="x"), 422, "validation_error", "nickname"),
    ("NUL", _json(content=FISHING + "\u0000"), 422, "validation_error", "content"),
    ("control", _json(address="通达路\u001b[31m"), 422, "validation_error", "address"),
    ("bidi override", _json(citizen_name="王\u202e建国"), 422, "validation_error", "citizen_name"),
    (
        "lone surrogate",
        '{"channel": "web", "content": "\\ud800 桥上钓鱼危险"}',
        400,
        "malformed_json",
        "body",
    ),
    ("malformed", '{"channel": "web", "content": ', 400, "malformed_json", "body"),
    (
        "NaN",
        '{"channel": "web", "content": "桥上钓鱼危险", "lat": NaN}',
        400,
        "malformed_json",
        "body",
    ),
    (
        "huge number",
        '{"channel": "web", "content": "桥上钓鱼危险", "lat": 1e400}',
        400,
        "malformed_json",
        "body",
    ),
    (
        "big integer",
        '{"channel": "web", "content": "桥上钓鱼危险", "lat": 123456789012345678901234567890}',
        422,
        "validation_error",
        "lat",
    ),
    (
        "deep",
        '{"channel": "web", "content": "桥上钓鱼危险", "attributes": '
        + "[" * 100
        + "]" * 100
        + "}",
        422,
        "too_deep",
        "body",
    ),
    ("very deep", "[" * 100_00 + "]" * 100_00, 400, "malformed_json", "body"),
    ("array", "[]", 422, "validation_error", "body"),
    ("string", '"hello"', 422, "validation_error", "body"),
    ("empty", "", 422, "validation_error", "body"),
    ("wrong type", _json(confidential="maybe"), 422, "validation_error", "confidential"),
    (
        "bad url",
        _json(attachments=["javascript:alert(1)"]),
        422,
        "validation_error",
        "attachments.0",
    ),
    ("bad phone", _json(citizen_phone="call me maybe"), 422, "validation_error", "citizen_phone"),
    (
        "too many attachments",
        _json(attachments=["https://x.example/a.jpg"] * 11),
        422,
        "validation_error",
        "attachments",
    ),
]


@pytest.mark.parametrize("name,body,status,code,field", CASES, ids=[c[0] for c in CASES])
def test_bad_intake_bodies(post, name, body, status, code, field):
    r = post(body.encode("utf-8") if isinstance(body, str) else body)
    err = r.json()["error"]
    assert (r.status_code, err["code"]) == (status, code), r.text
    assert err.get("field") == field, err


def test_invalid_utf8(post):
    r = post(b'{"channel": "web", "content": "\xff\xfe \xe6\xa1\xa5"}')
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "ctype",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        None,
        "application/json; charset=latin-1",
        "multipart/form-data; boundary=x",
    ],
)
def test_wrong_content_type_is_415(post, ctype):
    r = post(_json(), ctype=ctype)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"


def test_json_subtypes_are_accepted(client, tokens):
    r = client.post(
        "/api/v1/tickets",
        content=_json(),
        headers=Tokens.auth(tokens.operator) | {"Content-Type": "application/json; charset=UTF-8"},
    )
    assert r.status_code == 201


def test_oversized_body_by_content_length_is_413(post):
    r = post(_json(content="x" * 70_000))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_oversized_streamed_body_is_413(post):
    def chunks():
        yield b'{"channel": "web", "content": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    r = post(chunks())
    assert r.status_code == 413


def test_bad_content_length_is_400(client, tokens, data_dir):
    before = all_files(data_dir)
    r = client.post(
        "/api/v1/tickets",
        content=_json(),
        headers=Tokens.auth(tokens.operator)
        | {"Content-Type": "application/json", "Content-Length": "-5"},
    )
    assert 400 <= r.status_code < 500
    assert all_files(data_dir) == before


def test_bad_action_bodies(client, tokens, data_dir):
    tid = file_ticket(client, tokens)["id"]
    before = all_files(data_dir)
    h = Tokens.auth(tokens.lanshan)
    for body, field in (
        ({"action": "return", "reason": "不属于\u202e本单位"}, "reason"),
        ({"action": "return", "reason": "x" * 2001}, "reason"),
        ({"action": "return", "reason": "不属于本单位", "extra": 1}, "extra"),
        ({"reason": "不属于本单位"}, "action"),
        ({"action": "ask_extension", "hours": 1e300, "reason": "需要协调"}, "hours"),
    ):
        r = client.post(f"/api/v1/tickets/{tid}/actions", json=body, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field
    r = client.post(
        f"/api/v1/tickets/{tid}/actions",
        content=b"accept",
        headers=h | {"Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    r = client.post(
        f"/api/v1/tickets/{tid}/actions",
        json={"action": "accept"},
        headers=h | {"X-Tracking-Code": "x" * 65},
    )
    assert r.status_code == 422
    assert all_files(data_dir) == before


PATH_TRICKS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fcatalog%2fcity.yaml",
    "LY20261120000001%00",
    "%00",
    "%2Fetc%2Fpasswd",
    "LY20261120000001.json",
    "..%5c..%5cwindows",
    "LY2026112000000１",  # full-width digit
    "ly20261120000001",
]


@pytest.mark.parametrize("trick", PATH_TRICKS)
def test_path_tricks_in_ids_touch_no_file(client, tokens, data_dir, monkeypatch, trick):
    file_ticket(client, tokens)
    store = client.app.state.runtime.service.store
    touched = []
    real = store.path_for
    monkeypatch.setattr(store, "path_for", lambda tid: touched.append(tid) or real(tid))
    before = all_files(data_dir)
    for method, suffix, kw in (
        ("GET", "", {}),
        ("POST", "/actions", {"json": {"action": "accept"}}),
    ):
        r = client.request(
            method, f"/api/v1/tickets/{trick}{suffix}", headers=Tokens.auth(tokens.admin), **kw
        )
        assert r.status_code in (404, 405, 422), (trick, r.status_code, r.text)
        assert "error" in r.json()
    assert touched == []
    assert all_files(data_dir) == before


def test_unknown_api_paths_and_methods_are_json(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.delete("/api/v1/tickets")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_bad_query_parameters(client, tokens):
    h = Tokens.auth(tokens.operator)
    for params in (
        {"limit": 0},
        {"limit": "many"},
        {"status": "exploded"},
        {"department": "nowhere"},
        {"offset": -1},
    ):
        r = client.get("/api/v1/queues", params=params, headers=h)
        assert r.status_code == 422, params

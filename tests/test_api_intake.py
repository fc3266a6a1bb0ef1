"""Intake: dispatch with a reason, deadlines, and the three views of a ticket."""

from __future__ import annotations

from datetime import timedelta

from intake_api.store import Store
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, Tokens, file_ticket, ticket_files


def test_intake_dispatches_with_reason_and_deadlines(client, tokens, data_dir, clock):
    r = client.post(
        "/api/v1/tickets",
        json={
            "channel": "hotline",
            "content": FISHING,
            "citizen_name": "王建国",
            "citizen_phone": "13912345678",
            "address": "兰山区通达路88号",
        },
        headers=Tokens.auth(tokens.operator),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("LY20261120")
    assert r.headers["location"] == f"/api/v1/tickets/{body['id']}"
    assert len(body["tracking_code"]) == 16
    assert body["department"] == {"code": "lanshan-gov", "name": "兰山区人民政府"}
    assert body["dispatch"]["rule"]["kind"] == "duty"
    assert body["dispatch"]["rule"]["entry"]
    assert "派至兰山区人民政府" in body["dispatch"]["reason"]
    dl = body["deadlines"]
    assert dl["sign_for"].startswith("2026-11-20T03:00")  # 2 h to sign for
    assert dl["close"].startswith("2026-11-23T01:00")  # 72 h for an ordinary matter
    [path] = ticket_files(data_dir)
    stored = Store(data_dir).read_path(path)
    assert stored.state.private.citizen_phone == "13912345678"
    assert stored.state.private.tracking_code_sha256 != body["tracking_code"]
    assert body["tracking_code"] not in path.read_text(encoding="utf-8")


def test_nearest_responsibility_and_hotline_fallback(client, tokens):
    body = file_ticket(client, tokens, content="奇怪的情况说不清楚是什么", area="hedong")
    assert body["dispatch"]["rule"]["kind"] == "nearest"
    assert body["department"]["code"] == "hedong-gov"
    assert "就近定责" in body["dispatch"]["reason"]
    unknown = file_ticket(client, tokens, content="说不清楚的一件事情")
    assert unknown["dispatch"]["rule"]["kind"] == "hotline"
    assert unknown["department"]["code"] == "hotline"


def test_public_view_is_redacted(client, tokens):
    body = file_ticket(
        client,
        tokens,
        content="我叫王建国，电话13912345678，桥上钓鱼太危险了",
        citizen_name="王建国",
        citizen_phone="13912345678",
        address="兰山区通达路88号",
    )
    r = client.get(f"/api/v1/tickets/{body['id']}")
    assert r.status_code == 200
    view = r.json()
    assert view["view"] == "public"
    text = r.text
    assert "13912345678" not in text and "王建国" not in text and "通达路88号" not in text
    assert body["tracking_code"] not in text
    timeline = view["ticket"]["timeline"]
    assert [e["type"] for e in timeline] == ["received", "dispatched"]
    assert timeline[1]["details"]["why"] == body["dispatch"]["reason"]


def test_staff_view_has_private_fields_and_allowed_actions(client, tokens):
    body = file_ticket(client, tokens, citizen_phone="13912345678")
    r = client.get(f"/api/v1/tickets/{body['id']}", headers=Tokens.auth(tokens.operator))
    view = r.json()
    assert view["view"] == "staff"
    assert view["state"]["private"]["citizen_phone"] == "13912345678"
    assert view["state"]["private"]["tracking_code_sha256"] is None
    assert [e["type"] for e in view["events"]] == ["received", "dispatched"]
    assert "redispatch" in view["allowed_actions"]
    own = client.get(f"/api/v1/tickets/{body['id']}", headers=Tokens.auth(tokens.lanshan)).json()
    assert own["view"] == "staff" and own["allowed_actions"] == ["accept", "return"]
    other = client.get(f"/api/v1/tickets/{body['id']}", headers=Tokens.auth(tokens.urban)).json()
    assert other["view"] == "public"


def test_citizen_view_with_tracking_code(client, tokens):
    body = file_ticket(client, tokens)
    r = client.get(
        f"/api/v1/tickets/{body['id']}", headers={"X-Tracking-Code": body["tracking_code"]}
    )
    assert r.status_code == 200
    view = r.json()
    assert view["view"] == "citizen" and view["allowed_actions"] == [] and view["published"] is True
    # The code is case-insensitive (read out over the phone).
    r = client.get(
        f"/api/v1/tickets/{body['id']}", headers={"X-Tracking-Code": body["tracking_code"].lower()}
    )
    assert r.status_code == 200


def test_confidential_ticket_is_hidden_from_the_public_not_the_citizen(client, tokens):
    body = file_ticket(client, tokens, confidential=True)
    r = client.get(f"/api/v1/tickets/{body['id']}")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "no such ticket"}}
    mine = client.get(
        f"/api/v1/tickets/{body['id']}", headers={"X-Tracking-Code": body["tracking_code"]}
    )
    assert (
        mine.status_code == 200
        and mine.json()["published"] is False
        and mine.json()["ticket"] is None
    )
    staff = client.get(f"/api/v1/tickets/{body['id']}", headers=Tokens.auth(tokens.editor))
    assert staff.json()["published"] is False


def test_unknown_and_malformed_ids(client, tokens):
    assert client.get("/api/v1/tickets/LY20261120999999").status_code == 404
    r = client.get("/api/v1/tickets/nope")
    assert r.status_code == 422 and r.json()["error"]["field"] == "ticket_id"


def test_intake_needs_an_operator_token(client, tokens):
    body = {"channel": "web", "content": FISHING}
    r = client.post("/api/v1/tickets", json=body)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.post("/api/v1/tickets", json=body, headers=Tokens.auth("not-a-token"))
    assert r.status_code == 401
    r = client.post("/api/v1/tickets", json=body, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    r = client.post("/api/v1/tickets", json=body, headers=Tokens.auth(tokens.urban))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert (
        client.post("/api/v1/tickets", json=body, headers=Tokens.auth(tokens.admin)).status_code
        == 201
    )


def test_unknown_channel_category_area_are_422(client, tokens, data_dir):
    for field, value in (("channel", "fax"), ("category", "nope.nothing"), ("area", "火星区")):
        r = client.post(
            "/api/v1/tickets",
            json={"channel": "web", "content": FISHING, field: value},
            headers=Tokens.auth(tokens.operator),
        )
        assert r.status_code == 422, (field, r.text)
        assert field in r.json()["error"]["message"]
    assert ticket_files(data_dir) == []


def test_deadlines_follow_priority(client, tokens, catalog):
    urgent = [c for c in catalog.categories.values() if c.priority == "urgent" and c.is_leaf][0]
    body = file_ticket(client, tokens, content="情况紧急请尽快处理这个问题", category=urgent.code)
    dl = body["deadlines"]
    from intake_api.clock import parse_ts

    received = parse_ts(body["received_at"])
    assert parse_ts(dl["close"]) - received == timedelta(hours=24)
    assert parse_ts(dl["on_site"]) - received == timedelta(hours=2)


def test_intakes_are_filed_on_at_most_write_threads_threads(
    api_settings, clock, catalog, data_dir, monkeypatch
):
    """Concurrent intakes queue for the few intake threads, and every one is filed."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from intake_api.app import create_app
    from intake_api.routes import tickets as routes

    running = 0
    most = 0
    guard = threading.Lock()
    real = routes.file_ticket

    def counting(*args, **kwargs):
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.03)  # long enough for the other requests to arrive meanwhile
            return real(*args, **kwargs)
        finally:
            with guard:
                running -= 1

    monkeypatch.setattr(routes, "file_ticket", counting)
    app = create_app(api_settings.model_copy(update={"write_threads": 2}), clock=clock, catalog=catalog)
    token = app.state.runtime.tokens.create(name="话务员", role="operator")[1]
    with TestClient(app) as client:

        def one(i: int):
            body = {"channel": "hotline", "content": FISHING, "citizen_phone": f"1380000{i:04d}"}
            return client.post("/api/v1/tickets", json=body, headers=Tokens.auth(token))

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(one, range(12)))
    assert [r.status_code for r in answers] == [201] * 12
    assert len({r.json()["id"] for r in answers}) == 12
    assert len(ticket_files(data_dir)) == 12
    assert most == 2  # two at once, never more


def test_write_threads_must_be_positive(monkeypatch):
    import pytest
    from pydantic import ValidationError

    from intake_api.server import ApiSettings

    monkeypatch.setenv("SHOUFA_WRITE_THREADS", "0")
    with pytest.raises(ValidationError, match="write_threads"):
        ApiSettings()

"""Reference data, queues from the open-ticket index, rulings and health."""

from __future__ import annotations

from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import VENDING, Tokens, act, file_ticket


def test_departments_and_catalog(client, catalog):
    deps = client.get("/api/v1/departments").json()
    assert len(deps) == len(catalog.departments)
    assert {"code", "name", "group"} <= set(deps[0])
    assert len(client.get("/api/v1/catalog/areas").json()) == len(catalog.areas)
    cats = client.get("/api/v1/catalog/categories").json()
    assert {c["code"] for c in cats} == set(catalog.categories)
    channels = {c["code"] for c in client.get("/api/v1/catalog/channels").json()}
    assert {"hotline", "web", "app", "wechat", "open311"} <= channels
    duty = client.get("/api/v1/catalog/duty-list").json()
    assert len(duty) == len(catalog.duty_list) and not any(e["precedent"] for e in duty)
    assert client.get("/api/v1/catalog/nothing").status_code == 404


def test_queues_follow_the_workflow(client, tokens):
    a = file_ticket(client, tokens)
    b = file_ticket(client, tokens, content=VENDING, area="lanshan")
    h = Tokens.auth(tokens.operator)
    q = client.get("/api/v1/queues", params={"department": "lanshan-gov"}, headers=h).json()
    assert q["total"] == 2 and {i["id"] for i in q["items"]} == {a["id"], b["id"]}
    assert all(i["status"] == "dispatched" for i in q["items"])
    act(client, a["id"], tokens.lanshan, action="accept")
    q = client.get("/api/v1/queues", params={"status": "in_progress"}, headers=h).json()
    assert [i["id"] for i in q["items"]] == [a["id"]]
    act(
        client, a["id"], tokens.operator, action="redispatch", department="urban", reason="城管职责"
    )
    mine = client.get("/api/v1/queues", headers=Tokens.auth(tokens.urban)).json()
    assert [i["id"] for i in mine["items"]] == [a["id"]]
    q = client.get("/api/v1/queues", params={"limit": 1, "offset": 1}, headers=h).json()
    assert q["total"] == 2 and len(q["items"]) == 1
    assert client.get("/api/v1/queues").status_code == 401


def test_queues_see_other_processes_writes(api_settings, clock, tokens, client):
    from fastapi.testclient import TestClient

    from intake_api.app import create_app

    with TestClient(create_app(api_settings, clock=clock)) as other:
        t = file_ticket(other, tokens)
    q = client.get("/api/v1/queues", headers=Tokens.auth(tokens.lanshan)).json()
    assert [i["id"] for i in q["items"]] == [t["id"]]


def test_healthz(client, tokens):
    file_ticket(client, tokens)
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["open_tickets"] == 1 and h["site"] is False


def test_docs_and_schema(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/v1/tickets" in schema["paths"]
    assert schema["paths"]["/api/v1/tickets/{ticket_id}"]["get"]["security"][0] == {}


def test_rulings_need_a_token(client, tokens):
    assert client.get("/api/v1/rulings").status_code == 401
    assert client.get("/api/v1/rulings", headers=Tokens.auth(tokens.urban)).json() == []
    t = file_ticket(client, tokens)
    act(client, t["id"], tokens.lanshan, action="return", reason="不归我们管")
    assert (
        act(
            client,
            t["id"],
            tokens.operator,
            action="arbitrate",
            decision="upheld",
            department="urban",
            reason="城管职责",
            precedent={"matter": "桥上钓鱼劝离", "keywords": ["钓鱼"], "category": "nope"},
        ).status_code
        == 422
    )

"""Duplicate detection: a repeat of an open ticket is linked in both timelines."""

from __future__ import annotations

from intake_api.app import create_app
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, VENDING, Tokens, act, file_ticket


def _links(client, ticket_id, token):
    view = client.get(f"/api/v1/tickets/{ticket_id}", headers=Tokens.auth(token)).json()
    return view["state"]["links"], [e for e in view["events"] if e["type"] == "linked"]


def test_same_phone_same_matter_is_linked_both_ways(client, tokens):
    first = file_ticket(client, tokens, citizen_phone="139-1234-5678")
    second = file_ticket(client, tokens, citizen_phone="+86 13912345678", channel="wechat")
    assert second["duplicate_of"] == first["id"]
    links, events = _links(client, second["id"], tokens.operator)
    assert links == [{"ticket": first["id"], "relation": "duplicate_of"}]
    assert events[0]["data"]["basis"] == "same_citizen"
    links, _ = _links(client, first["id"], tokens.operator)
    assert links == [{"ticket": second["id"], "relation": "duplicate"}]
    # Both public timelines show the link.
    for tid, other in ((first["id"], second["id"]), (second["id"], first["id"])):
        public = client.get(f"/api/v1/tickets/{tid}").json()["ticket"]
        linked = [e for e in public["timeline"] if e["type"] == "linked"]
        assert linked and linked[0]["details"]["ticket"] == other


def test_same_address_is_linked(client, tokens):
    first = file_ticket(client, tokens, address="兰山区 通达路 88号")
    second = file_ticket(client, tokens, address="兰山区通达路88号", citizen_phone="13700000000")
    assert second["duplicate_of"] == first["id"]


def test_other_matter_or_closed_or_old_is_not_linked(client, tokens, clock):
    first = file_ticket(client, tokens, citizen_phone="13912345678")
    other = file_ticket(
        client, tokens, citizen_phone="13912345678", content=VENDING, area="lanshan"
    )
    assert other["duplicate_of"] is None
    clock.advance(hours=24 * 31)  # past the 720 h window
    late = file_ticket(client, tokens, citizen_phone="13912345678")
    assert late["duplicate_of"] is None
    assert first["id"] != late["id"]


def test_closed_ticket_is_not_a_duplicate_target(client, tokens):
    first = file_ticket(client, tokens, citizen_phone="13800000001")
    tid = first["id"]
    assert act(client, tid, tokens.lanshan, action="accept").status_code == 200
    assert (
        act(
            client, tid, tokens.lanshan, action="resolve", text="已劝离钓鱼人员并设置警示牌。"
        ).status_code
        == 200
    )
    assert (
        act(
            client,
            tid,
            code=first["tracking_code"],
            action="rate",
            satisfaction="satisfied",
            solved=True,
        ).status_code
        == 200
    )
    again = file_ticket(client, tokens, citizen_phone="13800000001")
    assert again["duplicate_of"] is None


def test_duplicates_seen_across_processes(api_settings, clock, tokens):
    """A second app instance (another worker) sees the first one's ticket via the journal."""
    from fastapi.testclient import TestClient

    with (
        TestClient(create_app(api_settings, clock=clock)) as a,
        TestClient(create_app(api_settings, clock=clock)) as b,
    ):
        first = file_ticket(a, tokens, citizen_phone="13600000000")
        second = file_ticket(b, tokens, citizen_phone="13600000000", content=FISHING + "！")
        assert second["duplicate_of"] == first["id"]
        # b writes the link back after answering; a read through b waits for it, and
        # the other worker sees it once it is written.
        links, _ = _links(b, first["id"], tokens.operator)
        assert links[0]["ticket"] == second["id"]
        b.app.state.runtime.service.links.wait()
        links, _ = _links(a, first["id"], tokens.operator)
        assert links[0]["ticket"] == second["id"]

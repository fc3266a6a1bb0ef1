"""The ticket model: hash chain, derived state, intake validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from intake_api.model import ChainError, EventType, Status, Ticket, TicketCreate, genesis_hash

from .conftest import CITIZEN, OPERATOR, T0, dept


def _ticket(service, text="沂河大桥上天天有人钓鱼，很危险，兰山区"):
    r = service.create(TicketCreate(channel="hotline", content=text, citizen_phone="13812345678"), actor=OPERATOR)
    return r


def test_chain_links_every_event_and_starts_at_the_ticket(service):
    r = _ticket(service)
    t = service.act(r.ticket.id, {"action": "accept"}, actor=dept(r.decision.department))
    t.verify_chain()
    assert t.events[0].prev_hash == genesis_hash(t.id)
    for a, b in zip(t.events, t.events[1:], strict=False):
        assert b.prev_hash == a.hash


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["events"][0]["data"].__setitem__("content", "改写后的内容"),
        lambda d: d["events"][1]["data"].__setitem__("department", "urban"),
        lambda d: d["events"][1].__setitem__("at", "2026-11-20T02:00:00.000Z"),
        lambda d: d["events"].pop(1),
        lambda d: d["events"].reverse(),
        lambda d: d["events"][2]["actor"].__setitem__("role", "admin"),
    ],
    ids=["content", "department", "time", "deleted", "reordered", "actor"],
)
def test_tampering_with_any_event_is_detected(service, tamper):
    r = _ticket(service)
    t = service.act(r.ticket.id, {"action": "accept"}, actor=dept(r.decision.department))
    data = t.model_dump(mode="json")
    tamper(data)
    with pytest.raises((ChainError, ValidationError)):
        Ticket.model_validate(data).verify_chain()


def test_events_cannot_be_moved_to_another_ticket(service):
    a = _ticket(service).ticket
    b = _ticket(service, "小区楼下烧烤摊油烟很大，河东区").ticket
    data = b.model_dump(mode="json")
    data["events"] = a.model_dump(mode="json")["events"]
    with pytest.raises(ChainError):
        Ticket.model_validate(data).verify_chain()


def test_state_is_derived_from_events(service, clock):
    r = _ticket(service)
    d = dept(r.decision.department)
    tid = r.ticket.id
    assert r.ticket.state.status == Status.DISPATCHED
    clock.advance(minutes=30)
    service.act(tid, {"action": "accept"}, actor=d)
    clock.advance(hours=5)
    service.act(tid, {"action": "reply", "text": "已安排执法人员劝离"}, actor=d)
    service.act(tid, {"action": "resolve", "text": "已劝离并设置警示牌"}, actor=d)
    clock.advance(hours=2)
    t = service.act(tid, {"action": "rate", "satisfaction": "satisfied", "solved": True}, actor=CITIZEN)
    st = t.state
    assert st.status == Status.CLOSED
    assert st.accepted_at == T0.replace(minute=30)
    assert st.on_time is True and st.signed_in_time is True
    assert st.first_time_resolved is True
    assert st.last_reply == "已劝离并设置警示牌"
    assert [e.type for e in t.events][-2:] == [EventType.RATED, EventType.CLOSED]
    # The file holds only the id and the events: no second copy of the state.
    assert set(t.model_dump()) == {"v", "id", "events"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("content", "短", "at least 5"),
        ("content", "正常文字\u202e反转", "bidirectional"),
        ("content", "正常文字\x00空字符", "control character"),
        ("citizen_phone", "call me maybe", "phone number"),
        ("lat", 123.0, "less than or equal"),
        ("unknown", "x", "Extra inputs"),
    ],
)
def test_intake_refuses_bad_input_with_the_field_named(field, value, message):
    body = {"channel": "hotline", "content": "小区门口垃圾好几天没人清运了"}
    body[field] = value
    with pytest.raises(ValidationError) as exc:
        TicketCreate.model_validate(body)
    err = exc.value.errors()[0]
    assert err["loc"][0] == field
    assert message in err["msg"]


def test_the_state_after_link_backs_is_the_state_of_the_whole_log(monkeypatch):
    """A storm's link-backs append links to an earlier ticket in batches: its state then
    is the state before with the links added, as derived from the whole log."""
    from datetime import timedelta

    from intake_api import model
    from intake_api.model import SYSTEM, derive_state, make_event

    first = make_event(ticket_id="LY20261120000001", prev=None, type=EventType.RECEIVED, at=T0, actor=SYSTEM,
                       data={"channel": "hotline", "content": "小区停水两天了。"})
    base = Ticket(id="LY20261120000001", events=[first])
    base.state  # noqa: B018 - derived, as a read of the store does

    def link(i: int, ticket: object = None) -> tuple:
        return (EventType.LINKED, T0 + timedelta(minutes=i), SYSTEM,
                {"ticket": ticket or f"LY20261120{i:06d}", "relation": "duplicate", "basis": "same_address"})

    derived = []
    real = model.derive_state
    monkeypatch.setattr(model, "derive_state", lambda *a: (derived.append(1), real(*a))[1])
    mid = base.with_events([link(2), link(3)])
    mid.state  # noqa: B018 - as the index does with every ticket written
    after = mid.with_events([link(4)])
    assert after.state == derive_state(after.id, after.events)  # (the real one)
    assert [x["ticket"] for x in after.state.links] == ["LY20261120000002", "LY20261120000003", "LY20261120000004"]
    assert after.state.updated_at == T0 + timedelta(minutes=4)
    assert derived == []  # from the state before, not the whole log
    assert after == Ticket(id=after.id, events=after.events)  # the remembered state is no field
    # Any other event, or a link the whole log would not derive, goes through the whole log.
    closed = after.with_events([link(5), (EventType.CLOSED, T0 + timedelta(minutes=6), SYSTEM, {"reason": "重复诉求"})])
    assert closed.state.status == Status.CLOSED and len(closed.state.links) == 4
    bad = after.with_events([link(7, ticket=12345)])
    with pytest.raises(ValidationError):
        bad.state  # noqa: B018
    assert derived == [1, 1]

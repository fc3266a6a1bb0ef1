"""Workflow over HTTP: roles, departments, states, the citizen and precedents."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from intake_api.app import create_app
from intake_api.workflow import RULES
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, Tokens, act, file_ticket

BODIES = {
    "accept": {},
    "contact": {"method": "phone", "note": "已电话联系诉求人王先生"},
    "on_site": {"summary": "工作人员到达现场"},
    "reply": {"text": "已安排城管队员巡查。"},
    "ask_extension": {"hours": 48, "reason": "需协调桥梁管理单位"},
    "decide_extension": {"granted": True, "reason": "同意"},
    "resolve": {"text": "已劝离钓鱼人员并设置警示牌。"},
    "return": {"reason": "不属于本单位职责范围"},
    "arbitrate": {"decision": "rejected", "reason": "属于该单位职责"},
    "redispatch": {"department": "urban", "reason": "改派城管"},
    "rate": {"satisfaction": "satisfied", "solved": True, "comment": "很好"},
    "reopen": {"reason": "问题没有解决"},
    "moderate": {"decision": "publish", "reason": "原文公开"},
    "close": {"reason": "回访确认已解决"},
    "supervise": {"level": 1, "reason": "群众反映强烈"},
}
ROLE_TOKENS = {
    "operator": "operator",
    "department": "lanshan",
    "supervisor": "supervisor",
    "editor": "editor",
    "admin": "admin",
}


@pytest.mark.parametrize("action", sorted(RULES))
def test_roles_outside_the_rule_get_403(client, tokens, action):
    ticket = file_ticket(client, tokens)
    allowed = {str(r) for r in RULES[action][0]}
    for role, attr in ROLE_TOKENS.items():
        r = act(client, ticket["id"], getattr(tokens, attr), action=action, **BODIES[action])
        if role in allowed:
            assert r.status_code in (200, 409), (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)
            assert r.json()["error"]["code"] == "forbidden"
        if r.status_code == 200:  # start over from a fresh ticket
            ticket = file_ticket(client, tokens, content=FISHING + f"（{role}）")
    if "citizen" not in allowed:
        r = act(client, ticket["id"], code=ticket["tracking_code"], action=action, **BODIES[action])
        assert r.status_code == 403, r.text


def test_whole_life_of_a_ticket(client, tokens):
    t = file_ticket(client, tokens, citizen_phone="13912345678")
    tid, dept = t["id"], tokens.lanshan
    steps = ["accept", "contact", "on_site", "reply", "ask_extension"]
    for step in steps:
        r = act(client, tid, dept, action=step, **BODIES[step])
        assert r.status_code == 200, (step, r.text)
    r = act(
        client, tid, tokens.supervisor, action="decide_extension", granted=True, reason="同意延期"
    )
    assert r.status_code == 200 and r.json()["events"][0]["type"] == "extension_decided"
    r = act(client, tid, dept, action="resolve", **BODIES["resolve"])
    assert r.json()["status"] == "resolved"
    assert (
        act(
            client,
            tid,
            code=t["tracking_code"],
            action="rate",
            satisfaction="unsatisfied",
            solved=False,
            comment="还有人钓鱼",
        ).status_code
        == 200
    )
    r = act(client, tid, code=t["tracking_code"], action="reopen", reason="问题没有解决")
    assert r.status_code == 200 and r.json()["status"] == "dispatched"
    for step in ("accept", "resolve"):
        assert act(client, tid, dept, action=step, **BODIES[step]).status_code == 200
    r = act(
        client, tid, code=t["tracking_code"], action="rate", satisfaction="satisfied", solved=True
    )
    assert r.json()["status"] == "closed"
    assert [e["type"] for e in r.json()["events"]] == ["rated", "closed"]
    public = client.get(f"/api/v1/tickets/{tid}").json()["ticket"]
    types = [e["type"] for e in public["timeline"]]
    assert types[:2] == ["received", "dispatched"] and types[-2:] == ["rated", "closed"]
    assert "reopened" in types and "extension_decided" in types
    assert public["rating"]["label"] == "满意"
    assert "已电话联系诉求人王先生" not in client.get(f"/api/v1/tickets/{tid}").text  # private note


def test_illegal_transition_is_409_naming_state_and_allowed(client, tokens):
    tid = file_ticket(client, tokens)["id"]
    r = act(client, tid, tokens.lanshan, action="resolve", text="已处理完毕。")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "illegal_transition"
    assert "dispatched" in err["message"] and "accept, return" in err["message"]


def test_department_acts_only_on_its_own_tickets(client, tokens):
    tid = file_ticket(client, tokens)["id"]  # dispatched to lanshan-gov
    r = act(client, tid, tokens.urban, action="accept")
    assert r.status_code == 403
    assert "department" in r.json()["error"]["message"]
    r = act(
        client, tid, tokens.operator, action="redispatch", department="urban", reason="属于城管职责"
    )
    assert r.status_code == 200 and r.json()["department"] == "urban"
    assert act(client, tid, tokens.lanshan, action="accept").status_code == 403
    assert act(client, tid, tokens.urban, action="accept").status_code == 200


def test_citizen_may_only_rate_and_reopen(client, tokens):
    t = file_ticket(client, tokens)
    r = act(client, t["id"], code=t["tracking_code"], action="accept")
    assert r.status_code == 403
    r = act(
        client,
        t["id"],
        code=t["tracking_code"],
        action="rate",
        satisfaction="satisfied",
        solved=True,
    )
    assert r.status_code == 409  # not resolved yet
    r = act(client, t["id"], action="accept")
    assert r.status_code == 401


def test_tracking_code_of_another_ticket_does_not_work(client, tokens):
    a = file_ticket(client, tokens)
    b = file_ticket(client, tokens, content=FISHING + "又来了")
    r = act(client, b["id"], code=a["tracking_code"], action="reopen", reason="没解决")
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_tracking_code"


def test_guessing_codes_is_rate_limited(client, tokens, clock):
    t = file_ticket(client, tokens)
    for i in range(10):
        r = act(
            client,
            t["id"],
            code=f"WRONGCODE{i:07d}",
            action="rate",
            satisfaction="satisfied",
            solved=True,
        )
        assert r.status_code == 401
    r = act(
        client,
        t["id"],
        code="WRONGCODE9999999",
        action="rate",
        satisfaction="satisfied",
        solved=True,
    )
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 900
    # Even the right code waits, and reads are limited too.
    assert (
        client.get(
            f"/api/v1/tickets/{t['id']}", headers={"X-Tracking-Code": t["tracking_code"]}
        ).status_code
        == 429
    )
    clock.advance(seconds=901)
    r = client.get(f"/api/v1/tickets/{t['id']}", headers={"X-Tracking-Code": t["tracking_code"]})
    assert r.status_code == 200


def test_unknown_action_is_422_naming_the_field(client, tokens):
    tid = file_ticket(client, tokens)["id"]
    r = act(client, tid, tokens.operator, action="explode")
    assert r.status_code == 422 and r.json()["error"]["field"] == "action"
    r = act(client, tid, tokens.operator, action="redispatch", department="urban")
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = act(client, tid, tokens.operator, action="redispatch", department="nowhere", reason="试试")
    assert r.status_code == 422 and "nowhere" in r.json()["error"]["message"]


def test_moderation_hides_and_redacts(client, tokens):
    t = file_ticket(client, tokens, content="桥上钓鱼的人叫张大山，太危险了，请管一管")
    tid = t["id"]
    r = act(
        client,
        tid,
        tokens.editor,
        action="moderate",
        decision="redact",
        text="张大山",
        field="content",
        reason="第三人姓名",
    )
    assert r.status_code == 200
    assert "张大山" not in client.get(f"/api/v1/tickets/{tid}").text
    r = act(client, tid, tokens.editor, action="moderate", decision="hide", reason="涉及隐私")
    assert client.get(f"/api/v1/tickets/{tid}").status_code == 404
    assert (
        client.get(f"/api/v1/tickets/{tid}", headers=Tokens.auth(tokens.editor)).status_code == 200
    )


def test_rejected_return_counts_as_shirking(client, tokens):
    tid = file_ticket(client, tokens)["id"]
    assert (
        act(client, tid, tokens.lanshan, action="return", reason="不属于本单位职责").status_code
        == 200
    )
    r = act(
        client, tid, tokens.operator, action="arbitrate", decision="rejected", reason="桥梁属地管理"
    )
    assert r.status_code == 200 and r.json()["department"] == "lanshan-gov"
    public = client.get(f"/api/v1/tickets/{tid}").json()["ticket"]
    assert public["returns"] == 1 and public["shirking"] == 1


def test_precedent_applies_to_the_next_ticket_in_another_process(api_settings, clock, tokens):
    text = "沂河边上有人用电鱼器电鱼，破坏渔业资源"
    with (
        TestClient(create_app(api_settings, clock=clock)) as a,
        TestClient(create_app(api_settings, clock=clock)) as b,
    ):
        t = file_ticket(a, tokens, content=text, area="lanshan")
        first_dept = t["department"]["code"]
        dept_token = {"lanshan-gov": tokens.lanshan, "urban": tokens.urban}.get(first_dept)
        if dept_token is None:  # make sure a department we hold a token for has it
            act(
                a,
                t["id"],
                tokens.operator,
                action="redispatch",
                department="lanshan-gov",
                reason="属地",
            )
            dept_token, first_dept = tokens.lanshan, "lanshan-gov"
        assert (
            act(a, t["id"], dept_token, action="return", reason="电鱼属于渔政执法").status_code
            == 200
        )
        r = act(
            a,
            t["id"],
            tokens.operator,
            action="arbitrate",
            decision="upheld",
            department="agriculture",
            reason="电鱼由农业农村局渔政执法",
            precedent={"matter": "电鱼", "keywords": ["电鱼"]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["department"] == "agriculture"
        nxt = file_ticket(b, tokens, content="河里又有人电鱼了，请渔政来查")
        assert nxt["department"]["code"] == "agriculture"
        assert nxt["dispatch"]["rule"]["kind"] == "precedent"
        rulings = b.get("/api/v1/rulings", headers=Tokens.auth(tokens.operator)).json()
        assert rulings[0]["by"] == "话务员" and rulings[0]["ticket"] == t["id"]
        assert rulings[0]["reason"] == "电鱼由农业农村局渔政执法"
        duty = b.get("/api/v1/catalog/duty-list").json()
        mine = [e for e in duty if e["precedent"]]
        assert mine and "by" not in (mine[0]["ruling"] or {})
        assert b.get("/api/v1/rulings").status_code == 401


def test_concurrent_actions_on_one_ticket_are_all_recorded(api_settings, clock, tokens, client):
    """Two workers update one ticket at once: every step is recorded, in order, chain intact."""
    import threading

    from intake_api.store import Store

    tid = file_ticket(client, tokens)["id"]
    assert act(client, tid, tokens.lanshan, action="accept").status_code == 200
    apps = [create_app(api_settings, clock=clock) for _ in range(2)]
    barrier = threading.Barrier(10)
    codes: list[int] = []

    def worker(i: int) -> None:
        with TestClient(apps[i % 2]) as c:
            barrier.wait()
            r = act(c, tid, tokens.lanshan, action="contact", method="phone", note=f"第{i}次联系")
            codes.append(r.status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 10
    ticket = Store(api_settings.data_dir).get(tid)
    ticket.verify_chain()
    assert [e.type for e in ticket.events].count("contacted") == 10
    assert len(ticket.state.private.contact_notes) == 10

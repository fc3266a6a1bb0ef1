"""Access (issue 9, items 10 and 11): constant-time checks, no secret in any log, codes
that cannot be guessed, and 401/403/429 where they belong."""

from __future__ import annotations

import logging
import math

import pytest
from fastapi.testclient import TestClient

import intake_api.access
import intake_api.auth
from intake_api.auth import TokenStore
from intake_api.model import Role
from intake_api.workflow import RULES, TRACKING_ALPHABET, TRACKING_LENGTH, hash_tracking_code
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, Tokens, act, file_ticket, ticket_files

BODIES = {
    "accept": {},
    "contact": {"method": "phone", "note": "已电话联系"},
    "on_site": {"summary": "到达现场"},
    "reply": {"text": "已安排巡查。"},
    "ask_extension": {"hours": 48, "reason": "需协调"},
    "decide_extension": {"granted": True, "reason": "同意"},
    "resolve": {"text": "已处理。"},
    "return": {"reason": "不属于本单位职责"},
    "arbitrate": {"decision": "rejected", "reason": "属于该单位职责"},
    "redispatch": {"department": "urban", "reason": "改派城管"},
    "rate": {"satisfaction": "satisfied", "solved": True},
    "reopen": {"reason": "问题没有解决"},
    "moderate": {"decision": "hide", "reason": "不予公开"},
    "close": {"reason": "已解决"},
    "supervise": {"level": 1, "reason": "群众反映强烈"},
}


class _Spy:
    """Wrap hmac.compare_digest to count calls (and prove it is what compares)."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, a, b) -> bool:
        self.calls += 1
        return self.real(a, b)


def test_tokens_are_compared_in_constant_time_against_every_record(tmp_path, monkeypatch):
    store = TokenStore(tmp_path / "secrets")
    tokens = [store.create(name=f"话务员{i}", role="operator")[1] for i in range(5)]
    spy = _Spy(intake_api.auth.hmac.compare_digest)
    monkeypatch.setattr(intake_api.auth.hmac, "compare_digest", spy)
    for candidate, ok in ((tokens[0], True), (tokens[4], True), (tokens[0][:-1] + "x", False), ("x" * 43, False)):
        spy.calls = 0
        assert (store.verify(candidate) is not None) is ok
        # No early exit: the time does not tell which record (or how much of one) matched.
        assert spy.calls == 5
    spy.calls = 0
    assert store.verify("x" * 5000) is None and spy.calls == 0  # refused by length, before hashing


def test_tracking_codes_are_compared_in_constant_time(client, tokens, monkeypatch):
    t = file_ticket(client, tokens)
    spy = _Spy(intake_api.access.hmac.compare_digest)
    monkeypatch.setattr(intake_api.access.hmac, "compare_digest", spy)
    assert client.get(f"/api/v1/tickets/{t['id']}", headers={"X-Tracking-Code": t["tracking_code"]}).status_code == 200
    assert client.get(f"/api/v1/tickets/{t['id']}", headers={"X-Tracking-Code": "A" * 16}).status_code == 401
    assert spy.calls == 2
    # Only the code's hash is stored.
    raw = ticket_files(client.app.state.runtime.settings.data_dir)[0].read_text(encoding="utf-8")
    assert t["tracking_code"] not in raw and hash_tracking_code(t["tracking_code"]) in raw


def test_no_token_or_tracking_code_is_ever_logged(client, tokens, caplog):
    caplog.set_level(logging.DEBUG)
    t = file_ticket(client, tokens)  # a successful authentication
    code = t["tracking_code"]
    wrong = tokens.operator[:-2] + "zz"
    answers = [
        client.get("/api/v1/queues", headers=Tokens.auth(wrong)),
        client.post("/api/v1/tickets", json={"channel": "web", "content": FISHING}, headers=Tokens.auth(tokens.lanshan)),
        act(client, t["id"], tokens.urban, action="accept"),
        act(client, t["id"], tokens.lanshan, action="accept"),
        client.get(f"/api/v1/tickets/{t['id']}", headers={"X-Tracking-Code": code}),
        client.get(f"/api/v1/tickets/{t['id']}", headers={"X-Tracking-Code": code[::-1]}),
        act(client, t["id"], code=code[::-1], action="reopen", reason="没有解决"),
    ]
    assert [r.status_code for r in answers] == [401, 403, 403, 200, 200, 401, 401]
    secrets = [tokens.operator, tokens.lanshan, tokens.urban, wrong, code, code[::-1]]
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in secrets:
        assert secret not in logged
        assert secret[:12] not in logged  # not even a prefix
    for r in answers:  # and no answer echoes a secret back
        assert not any(s in r.text for s in secrets)


def test_tracking_codes_cannot_be_guessed(client, tokens):
    assert set(TRACKING_ALPHABET) == set(TRACKING_ALPHABET.upper()) and len(set(TRACKING_ALPHABET)) == len(TRACKING_ALPHABET)
    bits = TRACKING_LENGTH * math.log2(len(TRACKING_ALPHABET))
    assert bits >= 80
    codes = [file_ticket(client, tokens, content=FISHING + f"（第{i}次）")["tracking_code"] for i in range(30)]
    assert len(set(codes)) == 30
    for code in codes:
        assert len(code) == TRACKING_LENGTH and set(code) <= set(TRACKING_ALPHABET)
    # Each position varies (the codes come from a random source, not a counter).
    assert all(len({c[i] for c in codes}) > 5 for i in range(TRACKING_LENGTH))


def test_guessing_across_tickets_and_unknown_ids_shares_one_limit(client, tokens, clock):
    a = file_ticket(client, tokens)
    b = file_ticket(client, tokens, content=FISHING + "又来了")
    targets = [a["id"], b["id"], a["id"][:-6] + "999999"]  # the last one does not exist
    for i in range(10):
        tid = targets[i % 3]
        r = client.get(f"/api/v1/tickets/{tid}", headers={"X-Tracking-Code": f"GUESS{i:011d}"})
        assert r.status_code in (401, 404)
    for tid in targets:
        r = act(client, tid, code=a["tracking_code"], action="reopen", reason="没有解决")
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["Retry-After"]) <= 900
    # The limit is per client: another address is not locked out.
    with TestClient(client.app, client=("203.0.113.9", 4000)) as other:
        r = other.get(f"/api/v1/tickets/{b['id']}", headers={"X-Tracking-Code": b["tracking_code"]})
        assert r.status_code == 200 and r.json()["view"] == "citizen"
    retry = int(client.get(f"/api/v1/tickets/{a['id']}", headers={"X-Tracking-Code": a["tracking_code"]}).headers["Retry-After"])
    clock.advance(seconds=retry + 1)
    r = client.get(f"/api/v1/tickets/{a['id']}", headers={"X-Tracking-Code": a["tracking_code"]})
    assert r.status_code == 200


def test_a_tracking_code_opens_only_its_own_tickets_citizen_actions(client, tokens):
    a = file_ticket(client, tokens)
    b = file_ticket(client, tokens, content=FISHING + "（另一位市民）")
    r = client.get(f"/api/v1/tickets/{b['id']}", headers={"X-Tracking-Code": a["tracking_code"]})
    assert r.status_code == 401
    for name in sorted(RULES):
        if Role.CITIZEN not in RULES[name][0]:
            r = act(client, a["id"], code=a["tracking_code"], action=name, **BODIES[name])
            assert r.status_code == 403, (name, r.text)


STAFF_ONLY = ["moderate", "supervise", "decide_extension", "arbitrate", "redispatch", "close"]


@pytest.mark.parametrize("action", STAFF_ONLY)
def test_a_department_token_cannot_take_editor_or_hotline_actions(client, tokens, data_dir, action):
    t = file_ticket(client, tokens)  # dispatched to lanshan-gov, the token's own department
    path = ticket_files(data_dir)[0]
    before = path.read_bytes()
    r = act(client, t["id"], tokens.lanshan, action=action, **BODIES[action])
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert path.read_bytes() == before
    r = client.post("/api/v1/tickets", json={"channel": "web", "content": FISHING}, headers=Tokens.auth(tokens.lanshan))
    assert r.status_code == 403


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-token"])
def test_missing_or_bad_token_is_401_on_every_staff_route(client, tokens, header):
    t = file_ticket(client, tokens)
    headers = {} if header is None else {"Authorization": header}
    for method, path, body in (
        ("POST", "/api/v1/tickets", {"channel": "web", "content": FISHING}),
        ("POST", f"/api/v1/tickets/{t['id']}/actions", {"action": "accept"}),
        ("GET", "/api/v1/queues", None),
        ("GET", "/api/v1/rulings", None),
    ):
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (header, path, r.text)
        assert r.json()["error"]["code"] == "unauthorized"

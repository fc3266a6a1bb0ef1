"""Property tests of the ticket workflow and of the public view (issue 9, item 20).

A hypothesis state machine drives one ticket through random workflow actions by random
roles and departments while the clock moves and deadlines fire; after every step the
event chain verifies, the state derives, and no impossible state is reached. A second
property files tickets whose private fields hide, disguised, in every public text and
checks that nothing of them comes out of `make_public`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from generator.public import make_public
from generator.redact import Redactor
from intake_api.catalog import load_catalog
from intake_api.clock import FixedClock
from intake_api.dispatch import Dispatcher
from intake_api.model import Actor, EventType, Role, Status, Ticket, TicketCreate, derive_state
from intake_api.workflow import (
    ACTION_ADAPTER,
    RULES,
    Context,
    Forbidden,
    IllegalTransition,
    WorkflowError,
    allowed_actions,
    open_ticket,
    perform,
    tick,
)

from .conftest import CATALOG_DIR, T0

CATALOG = load_catalog(CATALOG_DIR)
DEPARTMENTS = sorted(CATALOG.department_by_code)
ROLES = [Role.CITIZEN, Role.OPERATOR, Role.DEPARTMENT, Role.SUPERVISOR, Role.EDITOR, Role.ADMIN, Role.SYSTEM]
CONTENTS = [
    "兰山区通达路大桥上每天都有人桥上钓鱼，甩竿很危险，请管一管。",
    "小区门口有人占道经营，早上堵塞交通，请处理。",
    "楼上装修噪音太大，晚上十点还在施工，罗庄区。",
    "<script>alert(1)</script> {{ 7*7 }} 路灯坏了一个月没人修，河东区",
]
TEXT = st.text(alphabet="已处理完毕请核实情况现场协调物业整改<>&\"'{}%abc", min_size=1, max_size=30)
REASON = st.text(alphabet="不属于本单位职责范围需要协调群众反映强烈", min_size=4, max_size=20)


def _action(name: str, data: Any, content: str) -> dict[str, Any]:
    """A valid body for action `name` (valid for the schema, not necessarily for the state)."""
    d = data.draw
    bodies: dict[str, Any] = {
        "accept": lambda: {},
        "contact": lambda: {"method": d(st.sampled_from(["phone", "visit", "sms", "other"])), "note": d(st.none() | TEXT)},
        "on_site": lambda: {"summary": d(TEXT)},
        "reply": lambda: {"text": d(TEXT)},
        "ask_extension": lambda: {"hours": d(st.floats(0.5, 24 * 90)), "reason": d(REASON)},
        "decide_extension": lambda: {"granted": d(st.booleans()), "hours": d(st.none() | st.floats(1, 240)), "reason": d(TEXT)},
        "resolve": lambda: {"text": d(TEXT)},
        "return": lambda: {"reason": d(REASON)},
        "arbitrate": lambda: {
            "decision": d(st.sampled_from(["upheld", "rejected"])),
            "reason": d(REASON),
            "department": d(st.none() | st.sampled_from(DEPARTMENTS) | st.just("nobody")),
        },
        "redispatch": lambda: {"department": d(st.sampled_from(DEPARTMENTS) | st.just("nobody")), "reason": d(REASON)},
        "rate": lambda: {
            "satisfaction": d(st.sampled_from(["satisfied", "basic", "unsatisfied"])),
            "solved": d(st.booleans()),
            "comment": d(TEXT),
        },
        "reopen": lambda: {"reason": d(REASON)},
        "moderate": lambda: {
            "decision": d(st.sampled_from(["publish", "redact", "hide", "unhide", "confidential"])),
            "reason": d(REASON),
            "text": d(st.none() | st.sampled_from([content[:4], content[5:9], "不存在的文字"])),
            "field": d(st.sampled_from(["content", "reply", "comment", "all"])),
        },
        "close": lambda: {"reason": d(REASON)},
        "supervise": lambda: {"level": d(st.integers(1, 5)), "reason": d(REASON)},
    }
    return {"action": name, **bodies[name]()}


class TicketWorkflow(RuleBasedStateMachine):
    """One ticket, any sequence of actions by anyone, and time passing."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(T0)
        self.rulings = Path(tempfile.mkdtemp(prefix="shoufa-sm-"))
        self.ctx = Context(catalog=CATALOG, dispatcher=Dispatcher(CATALOG, self.rulings), clock=self.clock)
        self.ticket: Ticket | None = None
        self.max_supervision = 0
        self.steps: list[str] = []

    def teardown(self) -> None:
        shutil.rmtree(self.rulings, ignore_errors=True)

    @initialize(content=st.sampled_from(CONTENTS), confidential=st.booleans(), phone=st.none() | st.just("13912345678"))
    def file(self, content: str, confidential: bool, phone: str | None) -> None:
        create = TicketCreate(channel="hotline", content=content, confidential=confidential, citizen_phone=phone)
        self.ticket, _ = open_ticket(
            "LY20261120000001", create, ctx=self.ctx, actor=Actor(role=Role.OPERATOR), tracking_code="ABCDEFGHJKLMNPQR",
            at=self.clock.now(),
        )

    def _actor(self, role: Role, data: Any) -> Actor:
        if role != Role.DEPARTMENT:
            return Actor(role=role)
        own = self.ticket.state.department
        return Actor(role=role, department=data.draw(st.sampled_from([own, own, *DEPARTMENTS[:3]])))

    def _commit(self, new: Ticket, what: str) -> None:
        old = self.ticket
        assert new.events[: len(old.events)] == old.events, "an action may only append events"
        if old.state.status == Status.CLOSED and len(new.events) > len(old.events):
            assert what in ("reopen", "moderate"), f"closed ticket changed by {what}"
        self.ticket = new
        self.steps.append(what)

    @rule(name=st.sampled_from(sorted(RULES)), role=st.sampled_from(ROLES), data=st.data())
    def act(self, name: str, role: Role, data: Any) -> None:
        actor = self._actor(role, data)
        action = ACTION_ADAPTER.validate_python(_action(name, data, self.ticket.state.content))
        before = self.ticket.to_json()
        own = role != Role.DEPARTMENT or actor.department == self.ticket.state.department
        expected = name in allowed_actions(self.ticket.state, role) and own
        try:
            new = perform(self.ticket, action, actor=actor, ctx=self.ctx)
        except WorkflowError as exc:
            # A refused action changes nothing, and refusals agree with allowed_actions().
            assert self.ticket.to_json() == before
            if isinstance(exc, (Forbidden, IllegalTransition)) and expected:
                # Allowed in principle; refused for a policy reason stated in the message.
                assert isinstance(exc, IllegalTransition) and ("extension" in str(exc) or "supervision" in str(exc)), exc
            if not expected:
                assert isinstance(exc, (Forbidden, IllegalTransition)), (name, role, exc)
            return
        assert expected, f"{role} could '{name}' in state {self.ticket.state.status}"
        self._commit(new, name)

    @rule(data=st.data())
    def progress(self, data: Any) -> None:
        """Take a step that allowed_actions() offers, so that runs reach every state."""
        state = self.ticket.state
        offers = [(role, name) for role in ROLES for name in allowed_actions(state, role)]
        if not offers:
            return
        name = data.draw(st.sampled_from(sorted({n for _, n in offers})))
        role = data.draw(st.sampled_from([r for r, n in offers if n == name]))
        actor = Actor(role=role, department=state.department if role == Role.DEPARTMENT else None)
        action = ACTION_ADAPTER.validate_python(_action(name, data, state.content))
        before = self.ticket.to_json()
        try:
            new = perform(self.ticket, action, actor=actor, ctx=self.ctx)
        except WorkflowError as exc:
            assert self.ticket.to_json() == before
            assert not isinstance(exc, Forbidden), exc
            return
        self._commit(new, name)

    @rule(hours=st.one_of(st.floats(0, 12), st.floats(0, 24 * 20)))
    def time_passes(self, hours: float) -> None:
        self.clock.advance(hours=hours)
        self._commit(tick(self.ticket, ctx=self.ctx), "tick")

    @precondition(lambda self: self.ticket is not None and self.ticket.state.status == Status.RESOLVED)
    @rule(satisfaction=st.sampled_from(["satisfied", "basic", "unsatisfied"]), solved=st.booleans())
    def citizen_rates(self, satisfaction: str, solved: bool) -> None:
        action = ACTION_ADAPTER.validate_python({"action": "rate", "satisfaction": satisfaction, "solved": solved})
        self._commit(perform(self.ticket, action, actor=Actor(role=Role.CITIZEN), ctx=self.ctx), "rate")

    @invariant()
    def chain_verifies_and_state_derives(self) -> None:
        t = self.ticket
        if t is None:
            return
        t.verify_chain()
        # The stored form reads back to the same ticket and the same state.
        again = Ticket.from_json(t.to_json())
        again.verify_chain()
        state = derive_state(again.id, again.events)
        assert state == t.state
        assert state.status in set(Status)
        assert [e.seq for e in t.events] == list(range(1, len(t.events) + 1))
        assert all(a.at <= b.at for a, b in zip(t.events, t.events[1:], strict=False))
        assert t.events[0].type == EventType.RECEIVED

    @invariant()
    def nothing_impossible(self) -> None:
        if self.ticket is None:
            return
        s = self.ticket.state
        assert s.supervision_level >= self.max_supervision, "supervision went down"
        self.max_supervision = s.supervision_level
        assert 0 <= s.supervision_level <= 5
        assert s.department in CATALOG.department_by_code
        assert s.deadlines is not None
        if s.status == Status.CLOSED:
            assert s.closed_at is not None
        if s.status == Status.RESOLVED:
            assert s.resolved_at is not None
        if s.status == Status.IN_PROGRESS:
            assert s.accepted_at is not None
        assert s.extensions <= CATALOG.sla.extension.max_times
        assert s.reopen_count == sum(1 for e in self.ticket.events if e.type == EventType.REOPENED)


TicketWorkflow.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_ticket_workflow = TicketWorkflow.TestCase


# -- no private field comes out of make_public -----------------------------------------

SURNAMES = ["王", "李", "张", "刘", "陈", "欧阳", "司马"]
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
FILLER = st.text(alphabet="市民反映小区噪音问题请尽快处理谢谢投诉路灯不亮垃圾清运，。、<>{}&", max_size=12)
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
INVISIBLE = ["\u200b", "\u200c", "\u2060", "\ufeff"]
STREETS = ["幸福小区", "阳光花园", "金雀山路", "沂蒙路", "通达路"]


@st.composite
def names(draw) -> str:
    return draw(st.sampled_from(SURNAMES)) + draw(st.text(alphabet=GIVEN, min_size=2, max_size=2))


@st.composite
def phones(draw) -> str:
    return "1" + draw(st.sampled_from("3578")) + draw(st.text(alphabet="0123456789", min_size=9, max_size=9))


@st.composite
def addresses(draw) -> str:
    return (
        draw(st.sampled_from(["兰山区", "罗庄区", "河东区"]))
        + draw(st.sampled_from(STREETS))
        + f"{draw(st.integers(1, 40))}号楼{draw(st.integers(1, 6))}单元{draw(st.integers(101, 2602))}"
    )


@st.composite
def disguised_phone(draw, phone: str) -> str:
    style = draw(st.sampled_from(["plain", "+86", "0086", "full", "spaced", "dashed", "dotted", "invisible"]))
    if style == "+86":
        return "+86 " + phone
    if style == "0086":
        return "0086-" + phone
    if style == "full":
        return phone.translate(FULL_WIDTH)
    if style == "spaced":
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    if style == "dashed":
        return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
    if style == "dotted":
        return ".".join(phone[i : i + 4] for i in range(0, 11, 4))
    return draw(st.sampled_from(INVISIBLE)).join(phone)


@st.composite
def disguised_name(draw, name: str) -> str:
    return draw(st.sampled_from(["", " "])).join(name)


def _fold(text: str) -> str:
    """What a reader would see: NFKC, no invisible characters, no separators between digits."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub("[\u200b-\u200f\u2060\ufeff]", "", text)
    return re.sub(r"(?<=\d)[\s\-.]+(?=\d)", "", text)


def _published_texts(public) -> list[str]:
    """Every string of the public view that carries words (ids, hashes and codes excluded)."""
    out: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key not in ("hash", "last_hash", "id", "ticket"):
            out.append(value)

    walk(public.model_dump(mode="json"))
    return out


REDACTOR = Redactor(time_budget=5.0)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names(), phone=phones(), address=addresses(), before=FILLER, after=FILLER, data=st.data())
def test_no_private_field_reaches_the_public_view(name, phone, address, before, after, data):
    ctx = Context(catalog=CATALOG, dispatcher=Dispatcher(CATALOG, Path(tempfile.gettempdir()) / "shoufa-sm-none"),
                  clock=FixedClock(datetime(2026, 11, 20, 1, tzinfo=UTC)))
    say = lambda: before + data.draw(disguised_name(name)) + "，电话" + data.draw(disguised_phone(phone)) + "，住" + address + after  # noqa: E731
    content = "我叫" + say() + "，楼下饭店油烟太大。"
    create = TicketCreate(channel="hotline", content=content[:5000], citizen_name=name, citizen_phone=phone, address=address)
    ticket, _ = open_ticket("LY20261120000002", create, ctx=ctx, actor=Actor(role=Role.OPERATOR),
                            tracking_code="ABCDEFGHJKLMNPQR", at=ctx.clock.now())
    dept = Actor(role=Role.DEPARTMENT, department=ticket.state.department)
    steps = [
        (dept, {"action": "accept"}),
        (dept, {"action": "contact", "note": "已联系" + name + phone}),
        (dept, {"action": "on_site", "summary": "到" + address + "查看"}),
        (dept, {"action": "reply", "text": "已联系诉求人" + say()}),
        (dept, {"action": "resolve", "text": "已处理，" + say()}),
        (Actor(role=Role.CITIZEN), {"action": "rate", "satisfaction": "unsatisfied", "solved": False, "comment": "我是" + say()}),
        (Actor(role=Role.CITIZEN), {"action": "reopen", "reason": "没解决，" + say()}),
    ]
    for actor, body in steps:
        ctx.clock.advance(hours=1)
        ticket = perform(ticket, ACTION_ADAPTER.validate_python(body), actor=actor, ctx=ctx)
    public = make_public(ticket, catalog=CATALOG, redactor=REDACTOR)
    assert public is not None
    texts = [_fold(t) for t in _published_texts(public)]
    joined = "\n".join(texts)
    assert phone not in joined
    assert phone[-8:] not in joined  # not even the number without its prefix
    assert name not in re.sub(r"\s", "", joined)
    assert address not in joined and address[3:] not in joined
    assert "诉求人" in joined and "楼下饭店油烟太大" in public.content  # the matter itself is published
    # Private notes are never part of the public view at all.
    assert not any("已联系" + name in t for t in texts)


def test_make_public_publishes_nothing_of_a_withheld_ticket():
    ctx = Context(catalog=CATALOG, dispatcher=Dispatcher(CATALOG, Path(tempfile.gettempdir()) / "shoufa-sm-none"),
                  clock=FixedClock(datetime(2026, 11, 20, 1, tzinfo=UTC)))
    create = TicketCreate(channel="hotline", content="我要举报，请为我保密。", citizen_name="郑保密", confidential=True)
    ticket, _ = open_ticket("LY20261120000003", create, ctx=ctx, actor=Actor(role=Role.OPERATOR),
                            tracking_code="ABCDEFGHJKLMNPQR", at=ctx.clock.now())
    assert make_public(ticket, catalog=CATALOG, redactor=REDACTOR) is None
    open_one, _ = open_ticket("LY20261120000004", create.model_copy(update={"confidential": False}), ctx=ctx,
                              actor=Actor(role=Role.OPERATOR), tracking_code="ABCDEFGHJKLMNPQR", at=ctx.clock.now())
    hidden = perform(open_one, ACTION_ADAPTER.validate_python({"action": "moderate", "decision": "hide", "reason": "涉及隐私"}),
                     actor=Actor(role=Role.EDITOR), ctx=ctx)
    assert make_public(hidden, catalog=CATALOG, redactor=REDACTOR) is None
    assert make_public(open_one, catalog=CATALOG, redactor=REDACTOR) is not None

"""The ticket page's timeline, written in Python, renders what the jinja2 loop it replaced did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import lxml.html
import pytest
from jinja2 import UndefinedError

from generator.pages.ticket import _timeline
from generator.public import PublicEvent
from generator.render import environment, iso_utc

# The loop as ticket.html had it before it moved to `pages.ticket._timeline`.
JINJA_LOOP = """{% for e in t.timeline %}
<li class="shoufa-event shoufa-event--{{ e.type|replace('_', '-') }}{% if e.type == 'supervised' %} shoufa-event--level-{{ e.details.level }}{% endif %}">
<time class="shoufa-event__time" datetime="{{ e.at|iso }}">{{ e.at|time }}</time>
<span class="shoufa-event__title">{{ e.title }}{% if e.type == 'supervised' %}：{{ e.details.name }}{% endif %}</span>
<span class="shoufa-event__actor">{{ e.actor }}</span>
{% set has_body = e.text or e.type in ('received', 'dispatched', 'redispatched', 'reopened', 'contacted', 'arbitrated', 'extension_requested', 'extension_decided', 'rated', 'overdue', 'moderated', 'linked', 'closed') %}
{% if has_body %}
<div class="shoufa-event__body">
{% if e.type == 'received' %}<p>通过{{ e.details.channel }}受理。</p>
{% elif e.type in ('dispatched', 'redispatched') %}<p>{{ e.details.why }}</p>{% if e.details.deadlines %}<p>办结时限：{{ e.details.deadlines.close|time }}</p>{% endif %}
{% elif e.type == 'reopened' %}<p>{{ e.text }}</p>{% if e.details.deadlines %}<p>新的办结时限：{{ e.details.deadlines.close|time }}</p>{% endif %}
{% elif e.type == 'contacted' %}<p>{{ e.details.method }}诉求人。</p>
{% elif e.type == 'arbitrated' %}<p>{{ "退单理由成立，予以改派。" if e.details.decision == 'upheld' else "退单理由不成立，原单位继续办理（计为推诿）。" }}</p>{% if e.text %}<p>{{ e.text }}</p>{% endif %}
{% elif e.type == 'extension_requested' %}<p>申请延期{{ e.details.hours|int }}小时：{{ e.text }}</p>
{% elif e.type == 'extension_decided' %}<p>{{ "同意延期" if e.details.granted else "不同意延期" }}{% if e.details.granted %}{{ e.details.hours|int }}小时{% endif %}。{% if e.text %}{{ e.text }}{% endif %}</p>
{% elif e.type == 'rated' %}<p>{{ e.details.via }}：{{ e.details.satisfaction }}，问题{{ "已解决" if e.details.solved else "未解决" }}。</p>{% if e.text %}<blockquote>{{ e.text }}</blockquote>{% endif %}
{% elif e.type == 'overdue' %}<p>超过{{ e.details.deadline }}（{{ e.details.due|time }}）。</p>
{% elif e.type == 'moderated' %}<p>{{ e.details.decision }}{% if e.text %}：{{ e.text }}{% endif %}</p>
{% elif e.type == 'linked' %}<p>{{ "与在办工单重复，已关联" if e.details.relation == 'duplicate_of' else "收到重复诉求" }} <a href="{{ base }}tickets/{{ e.details.ticket }}/">{{ e.details.ticket }}</a></p>
{% elif e.type == 'closed' %}<p>{{ e.details.reason }}{% if e.text %}：{{ e.text }}{% endif %}</p>
{% elif e.text %}<p>{{ e.text }}</p>
{% endif %}
</div>
{% endif %}
<code class="shoufa-hash" title="事件哈希">#{{ e.seq }} {{ e.hash }}</code>
</li>
{% endfor %}
"""

T0 = datetime(2026, 11, 27, 16, 5, 9, 123000, tzinfo=UTC)
MARKUP = '<b>"A&B"</b> \'x\''
DEADLINES = {"sign_for": T0 + timedelta(hours=2), "close": T0 + timedelta(days=15)}

# (type, details, text) of every kind of event, with and without its optional parts.
EVENTS = [
    ("received", {"channel": "微信<公众号>"}, None),
    ("dispatched", {"deadlines": DEADLINES, "why": MARKUP, "rule": {}}, None),
    ("dispatched", {"deadlines": {}, "why": ""}, None),
    ("redispatched", {"deadlines": DEADLINES, "why": "改派"}, "原单位退单"),
    ("reopened", {"deadlines": DEADLINES}, "群众不满意"),
    ("reopened", {"deadlines": {}}, None),
    ("contacted", {"method": "电话联系"}, None),
    ("arbitrated", {"decision": "upheld", "shirking": False}, MARKUP),
    ("arbitrated", {"decision": "rejected", "shirking": True}, None),
    ("extension_requested", {"hours": 48}, "需要协调"),
    ("extension_requested", {"hours": None}, None),
    ("extension_requested", {"hours": "12.5"}, MARKUP),
    ("extension_decided", {"granted": True, "hours": 24.0}, "同意"),
    ("extension_decided", {"granted": False, "hours": 24}, None),
    ("rated", {"satisfaction": "满意", "solved": True, "via": "回访电话"}, MARKUP),
    ("rated", {"satisfaction": "", "solved": False, "via": "诉求人评价"}, None),
    ("overdue", {"deadline": "办结时限", "due": "2026-11-28T01:00:00Z"}, None),
    ("overdue", {"deadline": None, "due": None}, None),
    ("moderated", {"decision": "编辑部依据公开规则隐去部分内容"}, MARKUP),
    ("moderated", {"decision": ""}, None),
    ("linked", {"ticket": "LY20261128000123", "relation": "duplicate_of"}, None),
    ("linked", {"ticket": "LY20261128000124", "relation": "duplicate"}, None),
    ("closed", {"reason": "回访评价后结案"}, "备注<i>"),
    ("closed", {"reason": "结案"}, None),
    ("supervised", {"level": 2, "name": "红牌督办"}, MARKUP),
    ("supervised", {"level": 1, "name": None}, None),
    ("replied", {}, MARKUP),
    ("replied", {}, ""),
    ("accepted", {}, None),
    ("on_site", {}, "到场"),
]


def _events(specs) -> list[PublicEvent]:
    return [
        PublicEvent(seq=i + 1, type=typ, title=f"标题{i}<&>", at=T0 + timedelta(minutes=37 * i), actor='单位"A"',
                    text=text, details=details, hash=f"{i:064x}")
        for i, (typ, details, text) in enumerate(specs)
    ]


class _T:
    def __init__(self, timeline):
        self.timeline = timeline


@pytest.mark.parametrize("base", ["/", "/sub&dir/"])
def test_timeline_renders_as_the_jinja_loop_did(base):
    events = _events(EVENTS)
    expected = environment().from_string(JINJA_LOOP).render(t=_T(events), base=base)
    assert str(_timeline(events, base)) == expected


@pytest.mark.parametrize("spec", EVENTS, ids=[f"{i}-{s[0]}" for i, s in enumerate(EVENTS)])
def test_each_event_alone(spec):
    events = _events([spec])
    assert str(_timeline(events, "/")) == environment().from_string(JINJA_LOOP).render(t=_T(events), base="/")


def test_a_missing_detail_fails_as_it_did_in_the_template():
    events = _events([("dispatched", {"why": "x"}, None)])  # no "deadlines"
    with pytest.raises(UndefinedError):
        environment().from_string(JINJA_LOOP).render(t=_T(events), base="/")
    with pytest.raises(KeyError):
        _timeline(events, "/")


# -- a storm of repeats: consecutive repeats linked to the ticket are one item -----------------

def _repeat(n: int) -> tuple:
    return ("linked", {"ticket": f"LY2026112800{n:04d}", "relation": "duplicate"}, None)


def _items(html: str) -> list[lxml.html.HtmlElement]:
    return lxml.html.fragment_fromstring(f"<ol>{html}</ol>").xpath("li")


def test_a_run_of_repeats_is_one_item_with_every_link_and_hash():
    events = _events([EVENTS[0], EVENTS[1], *(_repeat(n) for n in range(40)), EVENTS[14]])
    html = str(_timeline(events, "/sub&dir/"))
    items = _items(html)
    assert len(items) == 4, "received, dispatched, the repeats, rated"
    group = items[2]
    assert "shoufa-event--repeats" in group.get("class")
    body = group.xpath(".//div[@class='shoufa-event__body']/p")[0].text_content()
    assert body.startswith("收到重复诉求40件（至")
    assert group.xpath(".//summary")[0].text_content() == "逐件查看（第3至42号事件）"
    rows = group.xpath(".//ol[@class='shoufa-repeats__list']/li")
    assert [r.xpath("a")[0].get("href") for r in rows] == [f"/sub&dir/tickets/LY2026112800{n:04d}/" for n in range(40)]
    # Every event of the run keeps its number and hash on the page (how to verify the chain).
    assert [r.xpath("code")[0].text for r in rows] == [f"#{e.seq} {e.hash}" for e in events[2:42]]
    assert [r.xpath("time")[0].get("datetime") for r in rows] == [iso_utc(e.at) for e in events[2:42]]
    # What is around the run renders as before.
    assert str(_timeline(events[:2], "/sub&dir/")) in html
    assert html.endswith(str(_timeline(events[-1:], "/sub&dir/")))


def test_short_runs_and_other_links_are_not_folded():
    two = [_repeat(1), _repeat(2)]
    other = ("linked", {"ticket": "LY20261128000009", "relation": "duplicate_of"}, None)
    specs = [*two, EVENTS[6], *two, other, other, other]
    events = _events(specs)
    expected = environment().from_string(JINJA_LOOP).render(t=_T(events), base="/")
    assert str(_timeline(events, "/")) == expected


def test_runs_split_by_other_events_are_separate_items():
    events = _events([*(_repeat(n) for n in range(3)), EVENTS[6], *(_repeat(n) for n in range(3, 8))])
    items = _items(str(_timeline(events, "/")))
    assert [len(i.xpath(".//ol/li")) for i in items] == [3, 0, 5]
    assert items[1].get("class") == "shoufa-event shoufa-event--contacted"

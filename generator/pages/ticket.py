"""/tickets/<id>/: one ticket's whole process."""

from __future__ import annotations

from jinja2.filters import do_int
from markupsafe import Markup, escape

from ..feedlist import ticket_feed_links
from ..public import PublicEvent, TicketPublic, fold_repeats, repeats_summary
from ..render import Output, fmt_duration, fmt_time, iso_utc
from ..rows import listing_status
from .context import Site

REDACTION_LABELS = {
    "phone": "电话号码",
    "id_number": "身份证号",
    "bank_card": "银行卡号",
    "plate": "车牌号",
    "email": "电子邮箱",
    "qq": "QQ号",
    "wechat": "微信号",
    "name": "姓名",
    "address": "详细地址",
    "editor": "编辑部隐去的内容",
}


def path_for(ticket_id: str) -> str:
    return f"tickets/{ticket_id}/index.html"


def _elapsed(t: TicketPublic) -> list[tuple[str, str]]:
    out = []
    if t.accepted_at:
        h = (t.accepted_at - t.received_at).total_seconds() / 3600
        late = t.signed_in_time is False
        out.append(("签收用时", fmt_duration(h) + ("（超过签收时限）" if late else "")))
    end = t.resolved_at or t.closed_at
    if end and t.deadlines.get("close"):
        h = (end - t.received_at).total_seconds() / 3600
        verdict = "按时办结" if t.on_time else "超期办结"
        out.append(("办理用时", f"{fmt_duration(h)}（{verdict}）"))
    if t.returns:
        out.append(("退单", f"{t.returns}次" + (f"，其中{t.shirking}次经研判为推诿" if t.shirking else "")))
    if t.reopen_count:
        out.append(("重办", f"{t.reopen_count}次"))
    if t.extensions:
        out.append(("延期", f"{t.extensions}次"))
    return out


def render(site: Site, t: TicketPublic) -> Output:
    names = site.names
    feeds = ticket_feed_links(site, t.id)
    html = site.page(
        "ticket.html",
        title=f"{t.title} {t.id}",
        active="/tickets/",
        t=t,
        status=listing_status(t),
        category_top_name=names.category(t.category_top) if t.category_top else "",
        elapsed=_elapsed(t),
        redaction_labels=REDACTION_LABELS,
        episodes=site.episodes_by_ticket.get(t.id, []),
        description=f"{t.title}：{t.content[:60]}",
        feeds=feeds,
        ticket_feeds=feeds,
        timeline=_timeline(t.timeline, site.base),
        **_links(t),
    )
    # The page is the template applied to `t` (and editors' episode titles), so the leak
    # scan reads those values rather than 20 KB of markup and event hashes.
    html.dynamic = "\n".join([*_strings(t.model_dump(exclude={"timeline": {"__all__": {"hash"}}, "last_hash": True})),
                               *(ep.title for ep in site.episodes_by_ticket.get(t.id, []))])
    return Output(path_for(t.id), html, ids=(t.id,), key=f"ticket/{t.id}")


# Event types whose item has a body even without text.
_BODY_TYPES = (
    "received", "dispatched", "redispatched", "reopened", "contacted", "arbitrated", "extension_requested",
    "extension_decided", "rated", "overdue", "moderated", "linked", "closed",
)


def _timeline(events: list[PublicEvent], base: str) -> Markup:
    """The <li> of every event, as ticket.html's loop rendered them, byte for byte
    (except that a run of repeats linked to this ticket is one item, see `_repeats_item`).

    Plain Python rather than a jinja2 loop (like `render.ticket_rows`): the loop was half
    of a ticket page's rendering time. Every value goes through `escape`, and a detail
    the template would find undefined raises (KeyError) as it did.
    """
    out: list[str] = []
    for e in fold_repeats(events):
        if isinstance(e, list):
            out.append(_repeats_item(e, base))
            continue
        typ, d, text = e.type, e.details, e.text
        level = f" shoufa-event--level-{escape(d['level'])}" if typ == "supervised" else ""
        title = f"{escape(e.title)}：{escape(d['name'])}" if typ == "supervised" else escape(e.title)
        out.append(  # (dates and numbers are digits and punctuation: nothing to escape)
            f'<li class="shoufa-event shoufa-event--{escape(typ.replace("_", "-"))}{level}">\n'
            f'<time class="shoufa-event__time" datetime="{iso_utc(e.at)}">{fmt_time(e.at)}</time>\n'
            f'<span class="shoufa-event__title">{title}</span>\n'
            f'<span class="shoufa-event__actor">{escape(e.actor)}</span>\n'
        )
        if text or typ in _BODY_TYPES:
            out.append(f'<div class="shoufa-event__body">\n{_event_body(typ, d, text, base)}</div>\n')
        out.append(f'<code class="shoufa-hash" title="事件哈希">#{e.seq} {escape(e.hash)}</code>\n</li>\n')
    return Markup("".join(out))


# Up to this many repeats are listed by id in the ticket's facts; more are counted, and
# listed inside a <details>.
REPEATS_INLINE = 5


def _links(t: TicketPublic) -> dict[str, list]:
    """The ticket's links for its facts: (id, label) to list, and the repeats to fold away."""
    repeats = sorted(ln["ticket"] for ln in t.links if ln["relation"] == "duplicate")
    listed = [(ln["ticket"], "重复诉求，原工单" if ln["relation"] == "duplicate_of" else "关联")
              for ln in t.links if ln["relation"] != "duplicate"]
    if len(repeats) <= REPEATS_INLINE:
        return {"links": listed + [(tid, "重复诉求") for tid in repeats], "repeats": []}
    return {"links": listed, "repeats": repeats}


def _repeats_item(run: list[PublicEvent], base: str) -> str:
    """One timeline item for consecutive repeats linked to this ticket."""
    first, last = run[0], run[-1]  # (link-backs are all written by the system: one actor)
    rows = "".join(
        f'<li><time datetime="{iso_utc(e.at)}">{fmt_time(e.at)}</time> '
        f'<a href="{escape(base)}tickets/{escape(e.details["ticket"])}/">{escape(e.details["ticket"])}</a> '
        f'<code class="shoufa-hash" title="事件哈希">#{e.seq} {escape(e.hash)}</code></li>\n'
        for e in run
    )
    return (
        '<li class="shoufa-event shoufa-event--linked shoufa-event--repeats">\n'
        f'<time class="shoufa-event__time" datetime="{iso_utc(first.at)}">{fmt_time(first.at)}</time>\n'
        f'<span class="shoufa-event__title">{escape(first.title)}</span>\n'
        f'<span class="shoufa-event__actor">{escape(first.actor)}</span>\n'
        '<div class="shoufa-event__body">\n'
        f'<p>{repeats_summary(run)}</p>\n'
        f'<details class="shoufa-repeats"><summary>逐件查看（第{first.seq}至{last.seq}号事件）</summary>\n'
        f'<ol class="shoufa-repeats__list">\n{rows}</ol>\n</details>\n'
        '</div>\n</li>\n'
    )


def _event_body(typ: str, d: dict, text: str | None, base: str) -> str:
    """The inside of an event's body <div> (the template's if/elif chain)."""
    if typ == "received":
        return f"<p>通过{escape(d['channel'])}受理。</p>\n"
    if typ in ("dispatched", "redispatched"):
        close = f"<p>办结时限：{escape(fmt_time(d['deadlines']['close']))}</p>" if d["deadlines"] else ""
        return f"<p>{escape(d['why'])}</p>{close}"
    if typ == "reopened":
        close = f"<p>新的办结时限：{escape(fmt_time(d['deadlines']['close']))}</p>" if d["deadlines"] else ""
        return f"<p>{escape(text)}</p>{close}"
    if typ == "contacted":
        return f"<p>{escape(d['method'])}诉求人。</p>\n"
    if typ == "arbitrated":
        verdict = "退单理由成立，予以改派。" if d["decision"] == "upheld" else "退单理由不成立，原单位继续办理（计为推诿）。"
        return f"<p>{verdict}</p>" + (f"<p>{escape(text)}</p>" if text else "")
    if typ == "extension_requested":
        return f"<p>申请延期{escape(do_int(d['hours']))}小时：{escape(text)}</p>\n"
    if typ == "extension_decided":
        granted = d["granted"]
        hours = f"{escape(do_int(d['hours']))}小时" if granted else ""
        return f"<p>{'同意延期' if granted else '不同意延期'}{hours}。{escape(text) if text else ''}</p>\n"
    if typ == "rated":
        solved = "已解决" if d["solved"] else "未解决"
        comment = f"<blockquote>{escape(text)}</blockquote>" if text else ""
        return f"<p>{escape(d['via'])}：{escape(d['satisfaction'])}，问题{solved}。</p>{comment}"
    if typ == "overdue":
        return f"<p>超过{escape(d['deadline'])}（{escape(fmt_time(d['due']))}）。</p>\n"
    if typ == "moderated":
        return f"<p>{escape(d['decision'])}{'：' + escape(text) if text else ''}</p>\n"
    if typ == "linked":
        what = "与在办工单重复，已关联" if d["relation"] == "duplicate_of" else "收到重复诉求"
        ticket = escape(d["ticket"])
        return f'<p>{what} <a href="{escape(base)}tickets/{ticket}/">{ticket}</a></p>\n'
    if typ == "closed":
        return f"<p>{escape(d['reason'])}{'：' + escape(text) if text else ''}</p>\n"
    if text:
        return f"<p>{escape(text)}</p>\n"
    return ""


def _strings(value: object) -> list[str]:
    """Every string inside a dumped model, keys included."""
    out: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            if set(map(type, v)) <= {str}:  # the usual case, without a check per key in Python
                out += v
            else:
                out.extend(k for k in v if isinstance(k, str))
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return out

"""/tickets/<id>/: one ticket's whole process."""

from __future__ import annotations

from ..feedlist import ticket_feed_links
from ..public import TicketPublic
from ..render import Output, fmt_duration
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
        feeds=ticket_feed_links(site, t.id),
        ticket_feeds=ticket_feed_links(site, t.id),
    )
    # The page is the template applied to `t` (and editors' episode titles), so the leak
    # scan reads those values rather than 20 KB of markup and event hashes.
    html.dynamic = "\n".join([*_strings(t.model_dump(exclude={"timeline": {"__all__": {"hash"}}, "last_hash": True})),
                               *(ep.title for ep in site.episodes_by_ticket.get(t.id, []))])
    return Output(path_for(t.id), html, ids=(t.id,), key=f"ticket/{t.id}")


def _strings(value: object) -> list[str]:
    """Every string inside a dumped model, keys included."""
    out: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            out.extend(k for k in v if isinstance(k, str))
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return out

"""Deadlines from the catalog's SLA policy, and the overdue/supervision steps they imply."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .catalog import SlaPolicy
from .clock import format_ts
from .model import Deadlines, EventType, Status, TicketState


def deadlines_for(policy: SlaPolicy, priority: str, start: datetime) -> Deadlines:
    """Deadlines of a (re)dispatch at `start` for a matter of `priority`."""
    prio = policy.priorities.get(priority) or policy.priorities["ordinary"]
    return Deadlines(
        sign_for=start + timedelta(hours=policy.sign_for_hours),
        on_site=start + timedelta(hours=prio.on_site_hours) if prio.on_site_hours else None,
        close=start + timedelta(hours=prio.close_hours),
    )


def extended(deadlines: Deadlines, hours: float) -> Deadlines:
    return deadlines.model_copy(update={"close": deadlines.close + timedelta(hours=hours)})


def due_steps(policy: SlaPolicy, state: TicketState, now: datetime) -> list[tuple[EventType, dict[str, Any]]]:
    """The overdue and supervision events that `now` calls for on this ticket, in order.

    Sign-for and close deadlines missed are recorded once each; once the close deadline
    is missed, supervision rises one level at a time as the overdue time passes each
    level's threshold (热线督办 -> 媒体督办 -> 政务督办 -> 人大政协督办 -> 纪委督办).
    Closed tickets and tickets already resolved (waiting for the visit) get nothing.
    """
    steps: list[tuple[EventType, dict[str, Any]]] = []
    dl = state.deadlines
    if dl is None or state.status in (Status.CLOSED, Status.RESOLVED):
        return steps
    if (
        state.status == Status.DISPATCHED
        and now > dl.sign_for
        and "sign_for" not in state.overdue
    ):
        steps.append((EventType.OVERDUE, {"deadline": "sign_for", "due": format_ts(dl.sign_for)}))
    if now <= dl.close:
        return steps
    if "close" not in state.overdue:
        steps.append((EventType.OVERDUE, {"deadline": "close", "due": format_ts(dl.close)}))
    overdue_hours = (now - dl.close).total_seconds() / 3600
    for lv in policy.supervision:
        if lv.level > state.supervision_level and overdue_hours >= lv.after_overdue_hours:
            steps.append(
                (
                    EventType.SUPERVISED,
                    {
                        "level": lv.level,
                        "name": lv.name,
                        "reason": f"超过办理时限{overdue_hours:.0f}小时，启动{lv.name}",
                        "overdue_hours": round(overdue_hours, 1),
                    },
                )
            )
    return steps


def rating_expired(policy: SlaPolicy, state: TicketState, now: datetime) -> bool:
    """A resolved ticket nobody rated within the window is closed by the system."""
    return (
        state.status == Status.RESOLVED
        and state.resolved_at is not None
        and now - state.resolved_at > timedelta(hours=policy.rating_window_hours)
    )


def next_due(policy: SlaPolicy, state: TicketState) -> datetime | None:
    """The earliest time at which `due_steps` or `rating_expired` may have work to do.

    Lets the scheduler tick only the tickets that are due instead of every open one.
    """
    if state.status == Status.CLOSED:
        return None
    if state.status == Status.RESOLVED:
        if state.resolved_at is None:
            return None
        return state.resolved_at + timedelta(hours=policy.rating_window_hours)
    dl = state.deadlines
    if dl is None:
        return None
    due: list[datetime] = []
    if state.status == Status.DISPATCHED and "sign_for" not in state.overdue:
        due.append(dl.sign_for)
    if "close" not in state.overdue:
        due.append(dl.close)
    else:
        nxt = next((lv for lv in policy.supervision if lv.level > state.supervision_level), None)
        if nxt is not None:
            due.append(dl.close + timedelta(hours=nxt.after_overdue_hours))
    return min(due, default=None)

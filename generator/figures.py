"""Headline figures as the reform defines them, computed over public rows by SQL.

- 按时办结率 (on-time rate): finished within the (extended) deadline / finished;
- 签收及时率 (response rate): signed for within the deadline / signed for;
- 群众满意率 (satisfaction): satisfied or basically satisfied / rated;
- 问题解决率 (resolution): rated as solved / rated;
- 一次办好率 (first-time resolution): closed, solved, satisfied, never reopened / closed and rated;
- 平均办理时长 (average handling time): receipt to resolution, in days.
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import State

SQL = """
SELECT count(*) AS n,
  sum(status = 'closed') AS closed,
  sum(status = 'overdue') AS overdue,
  sum(on_time = 1) AS on_time_n, sum(on_time IS NOT NULL) AS finished,
  sum(accepted_in_time = 1) AS signed_ok, sum(accepted_in_time IS NOT NULL) AS signed,
  sum(satisfaction IN ('satisfied', 'basic')) AS satisfied, sum(satisfaction IS NOT NULL) AS rated,
  sum(solved = 1) AS solved,
  sum(first_time = 1) AS first_ok, sum(first_time IS NOT NULL) AS first_n,
  avg(handling_days) AS avg_days,
  sum(returns) AS returns, sum(shirking) AS shirking, sum(reopens) AS reopens,
  sum(supervision >= 1) AS supervised
FROM rows WHERE {where}
"""


def _rate(num: int | None, den: int | None) -> float | None:
    return (num or 0) / den if den else None


@dataclass(frozen=True)
class Figures:
    n: int
    closed: int
    overdue: int
    finished: int
    on_time: float | None
    response: float | None
    satisfaction: float | None
    resolution: float | None
    first_time: float | None
    avg_days: float | None
    rated: int
    returns: int
    shirking: int
    reopens: int
    supervised: int

    @property
    def empty(self) -> bool:
        return self.n == 0


def figures(state: State, where: str = "1", params: tuple = ()) -> Figures:
    r = state.query(SQL.format(where=where), params)[0]
    return Figures(
        n=r["n"] or 0,
        closed=r["closed"] or 0,
        overdue=r["overdue"] or 0,
        finished=r["finished"] or 0,
        on_time=_rate(r["on_time_n"], r["finished"]),
        response=_rate(r["signed_ok"], r["signed"]),
        satisfaction=_rate(r["satisfied"], r["rated"]),
        resolution=_rate(r["solved"], r["rated"]),
        first_time=_rate(r["first_ok"], r["first_n"]),
        avg_days=r["avg_days"],
        rated=r["rated"] or 0,
        returns=r["returns"] or 0,
        shirking=r["shirking"] or 0,
        reopens=r["reopens"] or 0,
        supervised=r["supervised"] or 0,
    )


def closed_figures(state: State, start: str, end: str, where: str = "1", params: tuple = ()) -> Figures:
    """Figures of tickets closed in [start, end) (ISO UTC strings)."""
    return figures(state, f"closed_at >= ? AND closed_at < ? AND ({where})", (start, end, *params))


def counted(state: State, kind: str, period: str, dim: str = "", value: str = "") -> Figures:
    """The same figures from the counters the state keeps per day, month and closing day.

    kind "D": tickets received on day `period`; "M": received in month `period`
    (optionally where column `dim` = `value`); "C": closed on local day `period`.
    One indexed lookup, whatever the number of rows.
    """
    return from_counters(state.counters(kind, period, dim, value))


def from_counters(c: dict) -> Figures:
    return Figures(
        n=int(c["n"]),
        closed=int(c["closed"]),
        overdue=int(c["overdue"]),
        finished=int(c["finished"]),
        on_time=_rate(c["on_time_n"], c["finished"]),
        response=_rate(c["signed_ok"], c["signed"]),
        satisfaction=_rate(c["satisfied"], c["rated"]),
        resolution=_rate(c["solved"], c["rated"]),
        first_time=_rate(c["first_ok"], c["first_n"]),
        avg_days=c["days_sum"] / c["days_n"] if c["days_n"] else None,
        rated=int(c["rated"]),
        returns=int(c["returns"]),
        shirking=int(c["shirking"]),
        reopens=int(c["reopens"]),
        supervised=int(c["supervised"]),
    )

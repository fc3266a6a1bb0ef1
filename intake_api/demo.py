"""Realistic, deterministic demo data written through the real store and workflow.

Every ticket is opened by `workflow.open_ticket` (so the duty list dispatches it) and
moved on by `workflow.perform` and `workflow.tick` under a simulated clock, so demo
tickets are indistinguishable from real ones: most handled on time and rated
satisfied, some returned and arbitrated, extended, overdue and supervised, rated
unsatisfied and reopened, confidential or hidden, some with personal data in the text.
Days are generated in parallel worker processes; a day's tickets depend only on the
seed and the day, so the output is the same for the same arguments.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import yamlsafe
from .catalog import Catalog, load_catalog
from .clock import SHANGHAI, FixedClock
from .dispatch import Dispatcher
from .index import SNAPSHOT_NAME, OpenEntry, open_entry, sla_fingerprint, write_snapshot
from .model import Actor, Role, Ticket, TicketCreate
from .store import Store
from .workflow import ACTION_ADAPTER, Context, WorkflowError, open_ticket, perform, tick

log = logging.getLogger(__name__)

CORPUS_PATH = Path(__file__).with_name("demo_corpus.yaml")
CHANNEL_WEIGHTS = {
    "hotline": 52, "app": 18, "wechat": 10, "miniprogram": 7, "web": 5,
    "county_client": 6, "open311": 1, "email": 0.5, "letter": 0.5,
}
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 13, 11, 8, 9, 11, 12, 11, 10, 9, 8, 6, 4, 3, 2]


@dataclass(frozen=True)
class DemoPlan:
    tickets: int
    days: int
    seed: int
    end: datetime  # "now" for the demo; no event is later than this
    burst: bool = True


def _corpus() -> dict[str, Any]:
    return yamlsafe.load_file(CORPUS_PATH)


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _idno(rng: random.Random) -> str:
    area = rng.choice(["371302", "371311", "371312", "371321", "371322", "371323", "371327"])
    birth = f"{rng.randrange(1955, 2004)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    body = area + birth + f"{rng.randrange(1000):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


class _Writer:
    """Builds one day's tickets."""

    def __init__(self, catalog: Catalog, corpus: dict[str, Any], data_dir: Path, plan: DemoPlan) -> None:
        self.cat = catalog
        self.corpus = corpus
        self.plan = plan
        self.clock = FixedClock(plan.end)
        self.ctx = Context(catalog=catalog, dispatcher=Dispatcher(catalog, data_dir / "rulings"), clock=self.clock)
        self.store = Store(data_dir, prefix=catalog.city.id_prefix, clock=self.clock)
        self.templates = {k: v for k, v in corpus["templates"].items() if k in catalog.categories}
        self.template_keys = sorted(self.templates)
        self.estates_by_area: dict[str, list[dict[str, Any]]] = {}
        for e in corpus["estates"]:
            self.estates_by_area.setdefault(e["area"], []).append(e)

    # -- text ----------------------------------------------------------------

    def _fill(self, rng: random.Random, template: str, area_code: str | None, persona: dict[str, str]) -> str:
        corpus = self.corpus
        estates = self.estates_by_area.get(area_code or "", []) or corpus["estates"]
        estate = rng.choice(estates)
        area = self.cat.area_by_code.get(estate["area"])
        employers = [e for e in corpus["employers"] if e["area"] == (area.code if area else None)] or corpus["employers"]
        values = {
            "estate": estate["name"],
            "street": estate.get("street") or (rng.choice(area.streets) if area and area.streets else ""),
            "area": area.name if area else "",
            "road": rng.choice(corpus["roads"]),
            "employer": rng.choice(employers)["name"],
            "days": rng.randrange(2, 20),
            "months": rng.randrange(2, 11),
            "years": rng.randrange(2, 11),
            "amount": rng.choice([1800, 2600, 3500, 4200, 6800, 12000, 23000]),
            "name": persona["name"],
            "phone": persona["phone"],
            "idno": persona["idno"],
            "line": rng.randrange(1, 90),
        }
        return template.format(**values), estate, area

    def _persona(self, rng: random.Random) -> dict[str, str]:
        name = rng.choice(self.corpus["surnames"]) + rng.choice(self.corpus["given_names"])
        return {"name": name, "phone": _phone(rng), "idno": _idno(rng)}

    # -- lifecycle -----------------------------------------------------------

    def _act(self, ticket: Ticket, at: datetime, actor: Actor, **action: Any) -> Ticket:
        if at > self.plan.end:
            raise _Stop(ticket)
        self.clock.set(at)
        ticket = self._tick(ticket, at)
        return perform(ticket, ACTION_ADAPTER.validate_python(action), actor=actor, ctx=self.ctx)

    def _tick(self, ticket: Ticket, at: datetime) -> Ticket:
        self.clock.set(at)
        return tick(ticket, ctx=self.ctx)

    def build(self, day: datetime, count: int, first_seq: int) -> list[Ticket]:
        rng = random.Random(f"{self.plan.seed}:{day.date().isoformat()}")
        out = []
        starts = sorted(
            day + timedelta(hours=rng.choices(range(24), HOUR_WEIGHTS)[0], seconds=rng.randrange(3600))
            for _ in range(count)
        )
        starts += self._planted(rng, day)
        prefix = self.cat.city.id_prefix + day.strftime("%Y%m%d")
        for start in starts:
            if isinstance(start, tuple):
                start, forced = start
            else:
                forced = None
            if start > self.plan.end:
                continue
            out.append(self._one(rng, f"{prefix}{first_seq + len(out):06d}", start, forced))
        return out

    def _planted(self, rng: random.Random, day: datetime) -> list[tuple[datetime, dict[str, Any]]]:
        """Patterns editors and the early warning should find in the demo.

        - a recurring problem: one estate still on temporary electricity (临时电) files
          again every few days;
        - a burst (群体性讨薪): in the last two days, many workers of one employer in
          莒南县 ask for their wages.
        """
        if not self.plan.burst:
            return []
        out: list[tuple[datetime, dict[str, Any]]] = []
        drng = random.Random(f"{self.plan.seed}:planted:{day.date().isoformat()}")
        for text in self.corpus.get("planted_recurring", []):
            if drng.random() < 0.35:
                out.append((day + timedelta(hours=drng.uniform(8, 20)), {"content": text, "area": "lanshan"}))
        days_before_end = (self.plan.end.astimezone(SHANGHAI).date() - day.date()).days
        if days_before_end in (0, 1):
            for _ in range(14 if days_before_end == 1 else 10):
                text = drng.choice(self.corpus["planted_burst"])
                at = day + timedelta(hours=drng.uniform(7, 23))
                out.append((at, {"content": text, "area": "junan"}))
        return out

    def _one(self, rng: random.Random, ticket_id: str, start: datetime, forced: dict[str, Any] | None = None) -> Ticket:
        cat = self.cat
        key = rng.choice(self.template_keys)
        area = rng.choices(cat.areas, weights=[5 if a.kind == "district" else 2 if a.kind == "county" else 1 for a in cat.areas])[0]
        persona = self._persona(rng)
        if forced:
            key = None
            area = cat.area_by_code.get(forced["area"], area)
            content, estate, place = self._fill(rng, forced["content"], area.code, persona)
        else:
            content, estate, place = self._fill(rng, rng.choice(self.templates[key]), area.code, persona)
        channel = rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]
        if channel not in cat.channel_by_code:
            channel = "hotline"
        create = TicketCreate(
            channel=channel,
            content=content,
            # Operators classify most calls; app and web users often leave it to dispatch.
            category=key if key and rng.random() < 0.85 else None,
            area=(place or area).code,
            address=f"{estate['name']}{rng.randrange(1, 30)}号楼{rng.randrange(1, 6)}单元{rng.randrange(1, 30)}0{rng.randrange(1, 4)}",
            citizen_name=persona["name"] if rng.random() < 0.9 else None,
            citizen_phone=persona["phone"],
            confidential=rng.random() < 0.03,
            lat=(place or area).centroid.lat + rng.uniform(-0.03, 0.03),
            lon=(place or area).centroid.lon + rng.uniform(-0.03, 0.03),
        )
        operator = Actor(role=Role.OPERATOR, name=f"op{rng.randrange(1, 60):02d}")
        ticket, _ = open_ticket(ticket_id, create, ctx=self.ctx, actor=operator, tracking_code=ticket_id[::-1], at=start)
        try:
            ticket = self._lifecycle(rng, ticket, start)
        except _Stop as stop:
            ticket = stop.ticket
        except WorkflowError as exc:  # pragma: no cover - a demo bug, not a data problem
            raise RuntimeError(f"demo lifecycle of {ticket_id} failed: {exc}") from exc
        return self._tick(ticket, self.plan.end)

    def _lifecycle(self, rng: random.Random, t: Ticket, start: datetime) -> Ticket:
        corpus = self.corpus
        operator = Actor(role=Role.OPERATOR, name="op-followup")
        supervisor = Actor(role=Role.SUPERVISOR, name="sup01")
        editor = Actor(role=Role.EDITOR, name="ed01")
        citizen = Actor(role=Role.CITIZEN)
        at = start
        roll = rng.random()

        def dept() -> Actor:
            return Actor(role=Role.DEPARTMENT, department=t.state.department, name="dept-user")

        def later(lo_h: float, hi_h: float) -> datetime:
            nonlocal at
            at = at + timedelta(hours=rng.uniform(lo_h, hi_h))
            return at

        # Hotline centre tickets are triaged to the area government first.
        if t.state.department == self.cat.city.hotline_department:
            area = self.cat.area_by_code.get(t.state.area or "") or self.cat.areas[rng.randrange(len(self.cat.areas))]
            target = area.government
            t = self._act(t, later(0.05, 0.5), operator, action="redispatch", department=target, reason="经研判属地处置")
        if roll < 0.07:
            # Returned (退单): upheld and re-dispatched, or rejected as shirking (推诿).
            t = self._act(t, later(0.2, 3), dept(), action="return", reason=rng.choice(corpus["return_reasons"]))
            if rng.random() < 0.6:
                others = [d.code for d in self.cat.departments if d.group in ("city_dept", "enterprise") and d.code != t.state.department]
                t = self._act(t, later(0.3, 4), operator, action="arbitrate", decision="upheld",
                              department=rng.choice(others), reason="经研判，该事项属改派单位职责")
            else:
                t = self._act(t, later(0.3, 4), operator, action="arbitrate", decision="rejected",
                              reason="依据职责清单，该事项属原承办单位职责，退单不成立")
        late = roll > 0.90
        t = self._act(t, later(0.1, 1.8) if not late else later(1, 6), dept(), action="accept")
        t = self._act(t, later(0.1, 1.0), dept(), action="contact", method="phone",
                      note=rng.choice(corpus["contact_notes"]))
        if t.state.priority == "urgent" or rng.random() < 0.4:
            t = self._act(t, later(0.2, 1.5), dept(), action="on_site", summary="工作人员已到达现场核实情况")
        if 0.07 <= roll < 0.12:
            t = self._act(t, later(2, 24), dept(), action="ask_extension", hours=rng.choice([48, 72, 120]),
                          reason=rng.choice(corpus["extension_reasons"]))
            t = self._act(t, later(0.5, 6), supervisor, action="decide_extension", granted=rng.random() < 0.85,
                          reason="同意延期，请按期办结" if rng.random() < 0.85 else "")
        close_h = (t.state.deadlines.close - at).total_seconds() / 3600
        if late:
            # Overdue: resolved long after the deadline, supervision raised meanwhile.
            t = self._act(t, later(max(close_h, 1) + 2, max(close_h, 1) + rng.choice([20, 60, 150, 400])), dept(),
                          action="reply", text=self._reply(rng, t))
        else:
            t = self._act(t, later(max(close_h * 0.2, 0.5), max(close_h * 0.85, 1)), dept(),
                          action="reply", text=self._reply(rng, t))
        t = self._act(t, later(0.1, 2), dept(), action="resolve", text="已办理完毕，" + self._reply(rng, t))
        if rng.random() < 0.08:
            t = self._tick(t, min(self.plan.end, at + timedelta(hours=200)))
            return t
        unsatisfied = 0.12 <= roll < 0.19 or (late and rng.random() < 0.5)
        if unsatisfied:
            t = self._act(t, later(1, 30), citizen if rng.random() < 0.5 else operator, action="rate",
                          satisfaction="unsatisfied", solved=False, comment=rng.choice(corpus["comments_unsatisfied"]))
            t = self._act(t, later(0.5, 5), operator, action="reopen", reason="群众不满意，问题未解决，重新办理")
            t = self._act(t, later(0.2, 2), dept(), action="accept")
            t = self._act(t, later(6, 48), dept(), action="resolve", text="重办：" + self._reply(rng, t))
        sat = rng.choices(["satisfied", "basic", "unsatisfied"], weights=[80, 15, 5])[0]
        comments = corpus["comments_unsatisfied"] if sat == "unsatisfied" else corpus["comments_satisfied"]
        t = self._act(t, later(1, 30), citizen if rng.random() < 0.4 else operator, action="rate",
                      satisfaction=sat, solved=sat != "unsatisfied" or rng.random() < 0.3,
                      comment=rng.choice(comments) if rng.random() < 0.6 else "")
        if sat == "unsatisfied":
            t = self._act(t, later(1, 12), operator, action="close", reason="诉求已按政策答复，群众诉求超出政策范围")
        if rng.random() < 0.004:
            t = self._act(t, later(1, 48), editor, action="moderate", decision="hide", reason="内容涉及他人隐私，编辑部决定不予公开")
        return t

    def _reply(self, rng: random.Random, t: Ticket) -> str:
        top = (t.state.category or "other").split(".")[0]
        replies = self.corpus["replies"].get(top) or self.corpus["replies"]["default"]
        text = rng.choice(replies)
        try:
            return text.format(estate="该小区", street=t.state.street or "", area="", road="相关路段",
                               employer="涉事单位", days=rng.randrange(1, 5), months=1, years=1,
                               amount=rng.choice([2000, 3500, 5000]), name="", phone="", idno="", line=rng.randrange(1, 90))
        except (KeyError, IndexError):
            return text


class _Stop(Exception):
    """The simulated lifecycle reached the demo's end time."""

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket


def _plan_days(plan: DemoPlan) -> list[tuple[datetime, int]]:
    rng = random.Random(plan.seed)
    end_local = plan.end.astimezone(SHANGHAI)
    first = (end_local - timedelta(days=plan.days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [first + timedelta(days=i) for i in range(plan.days)]
    weights = [(0.8 if d.weekday() >= 5 else 1.0) * rng.uniform(0.85, 1.15) for d in days]
    # The last day is partial: weight it by the elapsed share of the day.
    weights[-1] *= max((end_local - days[-1]).total_seconds() / 86400, 0.05)
    total = sum(weights)
    counts = [int(plan.tickets * w / total) for w in weights]
    for i in range(plan.tickets - sum(counts)):
        counts[i % len(counts)] += 1
    return list(zip(days, counts, strict=True))


_WORKER: _Writer | None = None


def _init_worker(catalog_dir: str, data_dir: str, plan: DemoPlan) -> None:
    global _WORKER
    _WORKER = _Writer(load_catalog(Path(catalog_dir)), _corpus(), Path(data_dir), plan)


def _run_day(args: tuple[datetime, int]) -> tuple[int, list[OpenEntry]]:
    """Write one day's tickets; return how many, and the open-ticket index entries of those still open."""
    assert _WORKER is not None
    day, count = args
    day_dir = _WORKER.store._day_dir(day.strftime("%Y%m%d"))
    first = (_WORKER.store._max_seq(day_dir) + 1) if day_dir.exists() else 1
    tickets = _WORKER.build(day, count, first)
    written = _WORKER.store.bulk_write(tickets)
    cat = _WORKER.cat
    return written, [open_entry(t.state, t.last.seq, cat) for t in tickets if t.state.is_open]


def generate(
    *,
    data_dir: Path,
    catalog_dir: Path,
    plan: DemoPlan,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the demo tickets of `plan` into `data_dir`; return how many were written.

    Into an empty store it also saves the intake API's open-ticket index snapshot, so a
    server started on a million demo tickets does not read them all first.
    """
    days = _plan_days(plan)
    tickets_dir = Path(data_dir) / "tickets"
    fresh = not tickets_dir.exists() or not any(tickets_dir.iterdir())
    written = 0
    entries: list[OpenEntry] = []
    init_args = (str(catalog_dir), str(data_dir), plan)
    with contextlib.ExitStack() as stack:
        if workers <= 1:
            _init_worker(*init_args)
            results = map(_run_day, days)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(workers, initializer=_init_worker, initargs=init_args))
            results = pool.map(_run_day, days)
        for n, open_ in results:
            written += n
            entries += open_
            if progress:
                progress(n)
    if fresh:
        cat = load_catalog(Path(catalog_dir))
        store = Store(Path(data_dir), prefix=cat.city.id_prefix, durable=False)
        write_snapshot(
            store.data_dir / SNAPSHOT_NAME,
            cursor=store.journal.head(),
            entries=sorted(entries, key=lambda e: e.id),
            pending={},
            sla=sla_fingerprint(cat),
        )
    return written

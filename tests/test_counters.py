"""The counters the state keeps by triggers equal the figures aggregated from the rows."""

from __future__ import annotations

import dataclasses
import random

import pytest

from generator.figures import counted, figures
from generator.rows import Row
from generator.state import State

DEPTS = ["water", "power", "hrss", None]


def _row(i: int, rnd: random.Random) -> Row:
    day = f"2026-{rnd.choice(['10', '11'])}-{rnd.randint(1, 28):02d}"
    closed = rnd.random() < 0.5
    rated = closed and rnd.random() < 0.8
    return Row(
        id=f"LY{day.replace('-', '')}{i:06d}", day=day, month=day[:7], chunk=1,
        received_at=f"{day}T02:00:00+00:00", updated_at=f"{day}T03:00:00+00:00",
        closed_at=f"{day}T{rnd.randint(0, 23):02d}:30:00+00:00" if closed else None,
        channel="web", category="x", category_top=rnd.choice(["a", "b", None]), area=rnd.choice(["lanshan", None]),
        street=None, department=rnd.choice(DEPTS),
        status="closed" if closed else rnd.choice(["open", "overdue"]), workflow_status="x", title="t", snippet="s",
        accepted_in_time=rnd.choice([0, 1, None]), on_time=rnd.choice([0, 1]) if closed else None,
        satisfaction=rnd.choice(["satisfied", "basic", "unsatisfied"]) if rated else None,
        solved=rnd.choice([0, 1]) if rated else None, first_time=rnd.choice([0, 1, None]),
        handling_days=round(rnd.uniform(0, 9), 2) if closed else None,
        returns=rnd.randint(0, 2), shirking=rnd.randint(0, 1), reopens=rnd.randint(0, 1), supervision=rnd.randint(0, 3),
        events=3, last_hash="h",
    )


def _same(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) or isinstance(y, float):
            assert x == pytest.approx(y), f.name
        else:
            assert x == y, f.name


@pytest.mark.parametrize("bulk", [False, True])
def test_counters_follow_inserts_replacements_and_deletions(tmp_path, bulk):
    rnd = random.Random(7)
    state = State(tmp_path / "state.sqlite", bulk=bulk)
    rows = [_row(i, rnd) for i in range(400)]
    state.begin()
    state.put_rows(rows)
    if bulk:
        state.index_counters()  # a full build: counted once after the load, triggers from then on
    state.commit()
    # Changes as incremental builds make them: new versions replace rows, some rows go.
    state.begin()
    for i in rnd.sample(range(400), 150):
        state.put_rows([dataclasses.replace(_row(i, rnd), id=rows[i].id)])
    for i in rnd.sample(range(400), 40):
        state.delete_row(rows[i].id)
    state.commit()

    for month in ("2026-10", "2026-11"):
        _same(counted(state, "M", month), figures(state, "month=?", (month,)))
        for dept in DEPTS[:-1]:
            _same(counted(state, "M", month, "department", dept), figures(state, "month=? AND department=?", (month, dept)))
        for cat in ("a", "b"):
            _same(counted(state, "M", month, "category_top", cat), figures(state, "month=? AND category_top=?", (month, cat)))
    for day in ("2026-11-03", "2026-10-17", "2026-11-28"):
        _same(counted(state, "D", day), figures(state, "day=?", (day,)))
        # closed on the local (UTC+8) day: 16:00 UTC and later belongs to the next day
        _same(counted(state, "C", day),
              figures(state, "date(closed_at, '+8 hours') = ?", (day,)))
    assert counted(state, "M", "1999-01").n == 0

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


def test_day_lists_and_value_lists_come_from_the_counters(tmp_path):
    rnd = random.Random(11)
    state = State(tmp_path / "state.sqlite")
    rows = [_row(i, rnd) for i in range(300)]
    state.begin()
    state.put_rows(rows)
    for r in rows[:50]:
        state.delete_row(r.id)
    state.commit()
    live = rows[50:]
    assert state.days() == sorted({r.day for r in live})
    assert state.values("department") == sorted({r.department for r in live if r.department})
    for status in ("open", "overdue", "closed"):
        want = {}
        for r in live:
            if r.status == status and r.day >= "2026-11-10":
                want[r.day] = want.get(r.day, 0) + 1
        got = state.day_counts("status", status, since="2026-11-10")
        assert got == [{"day": d, "n": want[d]} for d in sorted(want, reverse=True)]
    assert len(state.day_counts(limit=3)) == 3


def test_counters_are_recomputed_when_their_definition_changes(tmp_path, monkeypatch):
    """A state kept by an older version is brought up to date when opened, not rebuilt."""
    import generator.state as state_mod

    rnd = random.Random(5)
    state = State(tmp_path / "state.sqlite")
    state.begin()
    state.put_rows([_row(i, rnd) for i in range(100)])
    state.commit()
    state.db.execute("DELETE FROM agg WHERE kind='D'")  # as if day counters had not existed
    state.set_meta("agg_version", "older")
    state.close()
    reopened = State(tmp_path / "state.sqlite")
    assert reopened.get_meta("agg_version") == state_mod.AGG_VERSION
    for day in {r["day"] for r in reopened.query("SELECT day FROM rows")}:
        _same(counted(reopened, "D", day), figures(reopened, "day=?", (day,)))

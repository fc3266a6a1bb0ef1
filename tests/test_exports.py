"""Monthly open-data exports: streamed in chunks, complete, valid, leak-scanned."""

from __future__ import annotations

import csv
import io
import json

import pytest

from generator import slowlane
from generator.build import build
from generator.leakscan import LeakError, LeakScanner
from generator.pages.context import live_site
from generator.state import State

from .site_fixtures import make_site


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("exports"), tickets=90, days=3, search=False)


def _month_files(site_root):
    files = sorted((site_root / "open-data").glob("tickets-*.json"))
    assert files, "no monthly export"
    return files


def test_chunked_exports_hold_every_public_row_once_in_valid_csv_and_json(small, monkeypatch):
    monkeypatch.setattr(slowlane, "EXPORT_CHUNK", 7)  # many chunks for a few rows
    state = State(small.config.state_dir / "state.sqlite")
    try:
        site = live_site(small.config, state, small.service.catalog)
        months = [r["month"] for r in state.query("SELECT DISTINCT month FROM rows")]
        out = small.config.site_dir.resolve()
        for month in months:
            assert slowlane.write_exports(site, month, out, LeakScanner(withheld=set())) != []
            want = [r["id"] for r in state.query("SELECT id FROM rows WHERE month=? ORDER BY id", (month,))]
            doc = json.loads((out / f"open-data/tickets-{month}.json").read_bytes())
            assert doc["count"] == len(want) == len(doc["tickets"])
            assert [t["id"] for t in doc["tickets"]] == want
            text = (out / f"open-data/tickets-{month}.csv").read_text(encoding="utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text)))
            assert [r["id"] for r in rows] == want
            assert all(r["content"] == t["content"] for r, t in zip(rows, doc["tickets"], strict=True))
        assert not list(out.glob("open-data/.*.tmp"))
    finally:
        state.close()


def test_an_export_that_would_leak_is_not_put_in_place(tmp_path, monkeypatch):
    b = make_site(tmp_path, tickets=30, days=2, search=False)
    month_file = _month_files(b.site)[0]
    before = month_file.read_bytes()
    # A private phone number that slipped into the public text of a row.
    state = State(b.config.state_dir / "state.sqlite")
    tid = state.query("SELECT id FROM rows WHERE month=? LIMIT 1", (month_file.stem[len("tickets-"):],))[0]["id"]
    state.db.execute("UPDATE texts SET content = content || ' 13912345678' WHERE id=?", (tid,))
    scanner = LeakScanner(withheld=set(), phones={"13912345678"})
    try:
        site = live_site(b.config, state, b.service.catalog)
        assert slowlane.write_exports(site, month_file.stem[len("tickets-"):], b.site, scanner) == []
    finally:
        state.close()
    with pytest.raises(LeakError):
        scanner.raise_if_found()
    assert month_file.read_bytes() == before
    assert not list(b.site.glob("open-data/.*.tmp"))
    build(b.config)  # the site still builds; nothing half-written is left behind


@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_build_whose_export_would_leak_fails_and_keeps_the_live_site(tmp_path, monkeypatch, workers):
    """The exports of a full build are written by its worker processes (with 2 workers)
    or by itself: either way a leak found in a chunk fails the build, and the live site
    (its exports too) stays as it was."""
    import dataclasses

    b = make_site(tmp_path, tickets=30, days=2, search=False)
    live = b.config.site_dir.resolve()
    before = {p: p.read_bytes() for p in _month_files(b.site)}
    real = slowlane._export_record

    def leaky(r, t, names):
        return real(r, t, names) | {"content": "请回电 " + b.private_phone}  # a citizen's number, in public

    monkeypatch.setattr(slowlane, "_export_record", leaky)  # the forked workers inherit it
    with pytest.raises(LeakError, match="open-data/tickets-"):
        build(dataclasses.replace(b.config, workers=workers), full=True)
    assert b.config.site_dir.resolve() == live
    assert {p: p.read_bytes() for p in _month_files(b.site)} == before


def test_a_hash_whose_digits_look_like_a_phone_is_not_a_leak_but_the_phone_is():
    """The citizens' phone check reads digit runs in shared files; the hash chain's
    SHA-256 values (in every export row) are not phone numbers, whatever digits they hold."""
    from generator.render import Output

    phone = "13912345678"
    digest = "ab" + phone + "c" * 51  # 64 hex digits with the number inside
    assert len(digest) == 64
    quiet = LeakScanner(withheld=set(), phones={phone})
    quiet.check(Output("open-data/tickets-2026-11.csv", f"LY20261128000001,...,{digest}\n", ids=("LY20261128000001",)))
    assert quiet.findings == []
    loud = LeakScanner(withheld=set(), phones={phone})
    loud.check(Output("open-data/tickets-2026-11.csv", f"LY20261128000001,电话{phone},{digest}\n", ids=("LY20261128000001",)))
    assert len(loud.findings) == 1

"""Idempotency-Key: one ticket per key, 422 for a reused key, safe under concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from intake_api.app import create_app
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, VENDING, Tokens, ticket_files


def _post(client, token, body, key):
    return client.post(
        "/api/v1/tickets", json=body, headers=Tokens.auth(token) | {"Idempotency-Key": key}
    )


def test_same_key_same_body_answers_the_same(client, tokens, data_dir):
    body = {"channel": "app", "content": FISHING, "citizen_phone": "13900001111"}
    first = _post(client, tokens.operator, body, "req-0001")
    assert first.status_code == 201
    again = _post(
        client, tokens.operator, {**body, "content": "  " + FISHING}, "req-0001"
    )  # same once stripped
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(ticket_files(data_dir)) == 1


def test_replay_shows_the_ticket_as_filed(client, tokens):
    body = {"channel": "app", "content": FISHING}
    first = _post(client, tokens.operator, body, "k-2").json()
    client.post(
        f"/api/v1/tickets/{first['id']}/actions",
        json={"action": "accept"},
        headers=Tokens.auth(tokens.lanshan),
    )
    assert _post(client, tokens.operator, body, "k-2").json() == first


def test_same_key_other_body_is_422(client, tokens, data_dir):
    assert (
        _post(client, tokens.operator, {"channel": "app", "content": FISHING}, "k-1").status_code
        == 201
    )
    r = _post(client, tokens.operator, {"channel": "app", "content": VENDING}, "k-1")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert r.json()["error"]["field"] == "Idempotency-Key"
    assert len(ticket_files(data_dir)) == 1


def test_keys_are_scoped_per_token(client, tokens, data_dir):
    body = {"channel": "app", "content": FISHING}
    a = _post(client, tokens.operator, body, "shared").json()
    b = _post(client, tokens.admin, body, "shared").json()
    assert a["id"] != b["id"]
    assert len(ticket_files(data_dir)) == 2


def test_bad_keys_are_refused(client, tokens, data_dir):
    for key in ("", "x" * 201, "with space"):
        r = _post(client, tokens.operator, {"channel": "app", "content": FISHING}, key)
        assert r.status_code == 422, key
    assert ticket_files(data_dir) == []


def test_records_stay_out_of_data(client, tokens, data_dir, api_settings):
    answer = _post(client, tokens.operator, {"channel": "app", "content": FISHING}, "k-3").json()
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert answer["tracking_code"].encode() not in path.read_bytes(), path
    logs = list((api_settings.secrets_path / "idempotency" / "log").glob("*.jsonl"))
    assert any(answer["tracking_code"].encode() in seg.read_bytes() for seg in logs)


def test_concurrent_same_key_two_apps_one_ticket(api_settings, clock, tokens, data_dir):
    """Two app instances (as two worker processes would) race on one key: one ticket."""
    apps = [create_app(api_settings, clock=clock) for _ in range(2)]
    body = {"channel": "wechat", "content": FISHING, "citizen_phone": "13900002222"}
    answers: list = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        with TestClient(apps[i % 2]) as c:
            barrier.wait()
            answers.append(_post(c, tokens.operator, body, "race-1"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(ticket_files(data_dir)) == 1


def test_crash_after_record_before_ticket_files_on_retry(
    client, tokens, data_dir, app, monkeypatch
):
    """The record is written before the ticket; a failed write leaves a record and no
    ticket, and the retry files the ticket."""
    store = app.state.runtime.service.store
    real = store._write_tmp
    calls = {"n": 0}

    def failing(path, payload):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(5, "Input/output error")
        return real(path, payload)

    monkeypatch.setattr(store, "_write_tmp", failing)
    body = {"channel": "app", "content": FISHING}
    r = _post(client, tokens.operator, body, "k-crash")
    assert r.status_code == 503
    assert ticket_files(data_dir) == []
    r = _post(client, tokens.operator, body, "k-crash")
    assert r.status_code == 201
    assert len(ticket_files(data_dir)) == 1


def test_concurrent_keyed_intakes_share_the_log_sync_made_before_their_tickets(app, monkeypatch):
    """The records log is synced by the store's group commit: keyed intakes at the same
    time share its syncs, and no ticket goes into place before a finished sync that
    covered its record's line."""
    import os
    import time

    import orjson

    from intake_api.idempotency import file_ticket
    from intake_api.model import Actor, TicketCreate

    rt = app.state.runtime
    rt.records.durable = True  # the test settings skip syncs
    log_dir = rt.records.log_dir
    real_fdatasync, real_link, lock = os.fdatasync, os.link, threading.Lock()
    synced: set[str] = set()  # ticket ids whose lines a finished log sync covered
    syncs: list[int] = []
    placed: dict[str, bool] = {}  # ticket id -> its record was synced when it was placed

    def logged() -> set[str]:
        return {
            orjson.loads(line)["record"]["ticket_id"]
            for seg in log_dir.glob("*.jsonl")
            for line in seg.read_bytes().split(b"\n") if line
        }

    def slow_fdatasync(fd):
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(str(log_dir)):
            return real_fdatasync(fd)
        held = logged()
        time.sleep(0.02)  # a slow disk: intakes pile up behind the sync in progress
        real_fdatasync(fd)
        with lock:
            synced.update(held)
            syncs.append(fd)

    def link(src, dst, **kw):
        with lock:
            placed[Path(dst).stem] = Path(dst).stem in synced
        return real_link(src, dst, **kw)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    monkeypatch.setattr(os, "link", link)
    actor = Actor(role="operator", name="test")

    errors: list[BaseException] = []

    def intake(i: int) -> None:
        create = TicketCreate(channel="app", content=f"{FISHING}（{i}）", citizen_phone=f"1390000{i:04d}")
        try:
            file_ticket(rt.service, rt.records, create, actor=actor, scope="t", key=f"k-{i}")
        except BaseException as exc:  # noqa: BLE001 - failed below
            errors.append(exc)

    threads = [threading.Thread(target=intake, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(placed) == 24
    assert 1 <= len(syncs) < 24  # shared, not one per record
    assert all(placed.values()), [t for t, ok in placed.items() if not ok]


def test_a_restarted_server_answers_from_the_records_log(api_settings, clock, tokens, data_dir):
    """The log is the records' only copy: a server started later answers a retry from it,
    past a line that a crash cut short."""
    body = {"channel": "app", "content": FISHING, "citizen_phone": "13900003333"}
    with TestClient(create_app(api_settings, clock=clock)) as c:
        first = _post(c, tokens.operator, body, "k-first")
    (seg,) = (api_settings.secrets_path / "idempotency" / "log").glob("*.jsonl")
    with seg.open("ab") as fh:
        fh.write(b'\n{"name": "' + b"a" * 40)  # a crash midway through a line
    with TestClient(create_app(api_settings, clock=clock)) as c:
        again = _post(c, tokens.operator, body, "k-first")
        other = _post(c, tokens.operator, {**body, "content": VENDING}, "k-second")
    with TestClient(create_app(api_settings, clock=clock)) as c:
        other_again = _post(c, tokens.operator, {**body, "content": VENDING}, "k-second")
        reused = _post(c, tokens.operator, body, "k-second")
    assert again.headers["idempotent-replayed"] == other_again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and other_again.json() == other.json()
    assert reused.status_code == 422
    assert len(ticket_files(data_dir)) == 2


def test_a_line_another_process_is_writing_is_read_once_complete(tmp_path):
    """A reader never takes the first part of a line being written for a whole line: the
    record is found once its line is complete."""
    from intake_api.idempotency import IdempotencyRecords

    writer, reader = IdempotencyRecords(tmp_path / "idem"), IdempotencyRecords(tmp_path / "idem")
    writer.root.mkdir()
    writer._write("b" * 64, {"ticket_id": "LY20261128000001"})
    (seg,) = writer.log_dir.glob("*.jsonl")
    whole = seg.read_bytes()
    line = whole.strip().replace(b"b" * 64, b"c" * 64).replace(b"000001", b"000002")
    with seg.open("ab") as fh:
        fh.write(b"\n" + line[:30])
        fh.flush()
        assert reader.get("b" * 64) == {"ticket_id": "LY20261128000001"}
        assert reader.get("c" * 64) is None
        fh.write(line[30:] + b"\n")
    assert reader.get("c" * 64) == {"ticket_id": "LY20261128000002"}


def test_records_log_keeps_what_is_alive_and_prunes_the_rest(tmp_path):
    import os
    import time

    import orjson

    from intake_api.idempotency import IdempotencyRecords

    records = IdempotencyRecords(tmp_path / "idem", ttl_hours=2)
    records.root.mkdir()
    old, new = f"{1:064x}", f"{2:064x}"
    records._write(old, {"ticket_id": "LY20261128000001"})
    records._write(new, {"ticket_id": "LY20261128000002"})
    # The first line was written three hours ago, in its own segment: expired.
    segs = sorted(records.log_dir.glob("*.jsonl"))  # two if the hour turned in between
    first, second = (orjson.loads(line) for seg in segs for line in seg.read_bytes().split(b"\n") if line)
    for seg in segs:
        seg.unlink()
    then = time.time() - 3 * 3600
    seg = records.log_dir / f"{time.strftime('%Y%m%d%H', time.gmtime(second['written']))}.jsonl"
    seg.write_bytes(orjson.dumps(second) + b"\n")
    aged = orjson.dumps({**first, "written": then})
    (records.log_dir / f"{time.strftime('%Y%m%d%H', time.gmtime(then))}.jsonl").write_bytes(aged + b"\n")
    # A record file an earlier version kept per key, as old.
    legacy = records.root / f"{3:064x}.json"
    legacy.write_bytes(b"{}")
    os.utime(legacy, (then, then))
    fresh = IdempotencyRecords(records.root, ttl_hours=2)
    assert fresh.get(new) == {"ticket_id": "LY20261128000002"}
    assert fresh.get(old) is None  # only the live record is known
    assert records.prune() == 2
    assert [p.name for p in records.log_dir.glob("*.jsonl")] == [seg.name]
    assert not legacy.exists()
    assert records.get(new) == {"ticket_id": "LY20261128000002"}


def test_each_hour_appends_to_its_own_segment(tmp_path, monkeypatch):
    """The segment kept open for appends is left for the next one when the hour turns."""
    import time

    from intake_api import idempotency
    from intake_api.idempotency import IdempotencyRecords

    records = IdempotencyRecords(tmp_path / "idem")
    records.root.mkdir()
    hour = (int(time.time()) // 3600 - 1) * 3600
    for i, at in enumerate((hour + 10, hour + 20, hour + 3600 + 10), start=1):
        monkeypatch.setattr(idempotency.time, "time", lambda at=at: at)
        records._write(f"{i:064x}", {"ticket_id": f"LY2026112800000{i}"})
    monkeypatch.undo()
    records.sync_log()
    segs = sorted(records.log_dir.glob("*.jsonl"))
    assert [p.name for p in segs] == [time.strftime("%Y%m%d%H.jsonl", time.gmtime(h)) for h in (hour, hour + 3600)]
    assert [seg.read_bytes().count(b'"ticket_id"') for seg in segs] == [2, 1]
    reader = IdempotencyRecords(records.root)
    assert [reader.get(f"{i:064x}")["ticket_id"] for i in (1, 2, 3)] == [f"LY2026112800000{i}" for i in (1, 2, 3)]
    records.close()

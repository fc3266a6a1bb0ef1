"""Idempotency-Key: one ticket per key, 422 for a reused key, safe under concurrency."""

from __future__ import annotations

import threading

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
    assert any((api_settings.secrets_path / "idempotency").glob("*.json"))


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


def test_concurrent_records_share_their_folder_sync_and_are_all_durable(tmp_path, monkeypatch):
    """Records written at the same time share one sync of their folder; each write
    returns only once a folder sync that began after its rename has finished."""
    import os
    import time

    from intake_api.idempotency import IdempotencyRecords

    records = IdempotencyRecords(tmp_path / "idem")
    (tmp_path / "idem").mkdir()
    real_fsync, syncs, lock = os.fsync, [], threading.Lock()
    names_at_sync: list[set[str]] = []

    def slow_fsync(fd):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            with lock:
                syncs.append(fd)
                names_at_sync.append({p.name for p in (tmp_path / "idem").glob("*.json")})
            time.sleep(0.02)  # a slow disk: writers pile up behind the sync in progress
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    returned: dict[str, set[str]] = {}

    def write(i: int) -> None:
        path = tmp_path / "idem" / f"r{i:02d}.json"
        records._write(path, {"ticket_id": f"LY2026112800{i:04d}"})
        with lock:  # the folder syncs that had begun by now
            returned[path.name] = set().union(*names_at_sync[: len(syncs)])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(returned) == 24
    assert 1 <= len(syncs) < 24  # shared, not one per record
    for name, synced in returned.items():
        assert name in synced, f"{name} returned before a folder sync covered it"

"""Storage faults: disk full -> 507, fsync failure -> 503; nothing half-written; recovery."""

from __future__ import annotations

import errno
import os

import pytest

from intake_api.store import Store
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, Tokens, act, all_files, file_ticket, ticket_files


@pytest.fixture
def durable_app_client(api_settings, clock):
    from fastapi.testclient import TestClient

    from intake_api.app import create_app

    settings = api_settings.model_copy(update={"durable": True})
    with TestClient(create_app(settings, clock=clock), raise_server_exceptions=False) as c:
        yield c


def _fail_writes(monkeypatch, err: int, *, after: int = 0):
    real = os.write
    calls = {"n": 0}

    def write(fd, data):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(err, os.strerror(err))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_disk_full_on_intake_is_507_and_recovers(client, tokens, data_dir, monkeypatch):
    first = file_ticket(client, tokens)
    before = all_files(data_dir)
    with monkeypatch.context() as m:
        _fail_writes(m, errno.ENOSPC)
        r = client.post(
            "/api/v1/tickets",
            json={"channel": "web", "content": FISHING},
            headers=Tokens.auth(tokens.operator),
        )
    assert r.status_code == 507, r.text
    assert r.json()["error"]["code"] == "insufficient_storage"
    after = all_files(data_dir)
    assert {p for p in after - before if not p.endswith(".seq")} == set()
    assert not [p for p in after if p.endswith(".tmp")]
    # Earlier data intact, and the service works again once space returns.
    Store(data_dir).get(first["id"]).verify_chain()
    assert file_ticket(client, tokens)["id"] != first["id"]


def test_disk_full_on_action_keeps_the_old_version(client, tokens, data_dir, monkeypatch):
    t = file_ticket(client, tokens)
    path = ticket_files(data_dir)[0]
    old = path.read_bytes()
    with monkeypatch.context() as m:
        _fail_writes(m, errno.ENOSPC)
        r = act(client, t["id"], tokens.lanshan, action="accept")
    assert r.status_code == 507
    assert path.read_bytes() == old
    assert act(client, t["id"], tokens.lanshan, action="accept").status_code == 200


def test_fsync_failure_is_503(durable_app_client, tokens, data_dir, monkeypatch):
    client = durable_app_client
    with monkeypatch.context() as m:

        def bad_fsync(fd):
            raise OSError(errno.EIO, "Input/output error")

        m.setattr(os, "fsync", bad_fsync)
        r = client.post(
            "/api/v1/tickets",
            json={"channel": "web", "content": FISHING},
            headers=Tokens.auth(tokens.operator),
        )
    assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable"
    assert "retry-after" in r.headers
    assert ticket_files(data_dir) == []
    assert (
        client.post(
            "/api/v1/tickets",
            json={"channel": "web", "content": FISHING},
            headers=Tokens.auth(tokens.operator),
        ).status_code
        == 201
    )

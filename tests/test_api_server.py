"""A real server with two worker processes under 200+ concurrent intakes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from intake_api.auth import TokenStore
from intake_api.store import Store
from tests.conftest import CATALOG_DIR, ROOT

N = 240
SAME_KEY = 20
SAME_PHONE = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    secrets = tmp_path / "secrets"
    token = TokenStore(secrets).create(name="load-test", role="operator")[1]
    port = _free_port()
    env = os.environ | {
        "SHOUFA_DATA_DIR": str(data),
        "SHOUFA_SECRETS_DIR": str(secrets),
        "SHOUFA_SITE_DIR": str(tmp_path / "site"),
        "SHOUFA_TICK_SECONDS": "1",
    }
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "intake_api.app:create_app",
            "--factory",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(
                "server did not start:\n" + (tmp_path / "server.log").read_text(errors="replace")
            )
        time.sleep(0.2)
    try:
        yield base, token, data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


async def _fire(base: str, token: str) -> tuple[list[httpx.Response], list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=N, max_keepalive_connections=N)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one(i: int) -> tuple[httpx.Response, float]:
            body = {
                "channel": "app",
                "content": f"桥上钓鱼很危险，第{i}次反映，请处理。",
                "citizen_phone": f"139{i:08d}",
            }
            h = dict(headers)
            if i < SAME_KEY:  # one logical request retried concurrently
                body = {
                    "channel": "app",
                    "content": "同一个请求重试多次，桥上钓鱼。",
                    "citizen_phone": "13700000000",
                }
                h["Idempotency-Key"] = "load-same-key"
            elif i < SAME_KEY + SAME_PHONE:  # the same citizen again and again: duplicates
                body["citizen_phone"] = "13800000000"
            started = time.perf_counter()
            r = await client.post("/api/v1/tickets", json=body, headers=h)
            return r, time.perf_counter() - started

        results = await asyncio.gather(*(one(i) for i in range(N)))
    return [r for r, _ in results], [t for _, t in results]


def _linked_back(store: Store, ticket_id: str, n: int, timeout: float = 20.0):
    """The ticket once the workers have written its `n` link-backs (after their answers)."""
    deadline = time.monotonic() + timeout
    while True:
        ticket = store.get(ticket_id)
        if len([ln for ln in ticket.state.links if ln["relation"] == "duplicate"]) >= n or time.monotonic() > deadline:
            return ticket
        time.sleep(0.05)


@pytest.mark.slow
def test_concurrent_intakes_on_two_workers(server):
    base, token, data = server
    responses, durations = asyncio.run(_fire(base, token))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: N}, statuses
    ids = [r.json()["id"] for r in responses]
    same_key = {ids[i] for i in range(SAME_KEY)}
    assert len(same_key) == 1, "one Idempotency-Key, one ticket"
    unique = set(ids)
    assert len(unique) == N - SAME_KEY + 1

    store = Store(data)
    paths = list(store.paths())
    assert {p.stem for p in paths} == unique, "files = acknowledged tickets"
    for p in paths:
        store.read_path(p)  # parses, validates, chain verifies
    assert not list((data / "tickets").rglob("*.tmp"))
    journaled = {c.ticket_id for c in store.journal.read_since()[0]}
    assert unique <= journaled, "an acknowledged ticket the site's incremental build would miss"
    # The same citizen's repeats, filed at once on two workers, all link to the first.
    repeats = [
        t for t in map(store.read_path, paths) if t.state.private.citizen_phone == "13800000000"
    ]
    assert len(repeats) == SAME_PHONE
    [first] = [
        t for t in repeats if not any(ln["relation"] == "duplicate_of" for ln in t.state.links)
    ]
    assert all(
        t.state.links == [{"ticket": first.id, "relation": "duplicate_of"}]
        for t in repeats
        if t is not first
    )
    linked = _linked_back(store, first.id, SAME_PHONE - 1).state.links
    assert sorted(link["ticket"] for link in linked) == sorted(t.id for t in repeats if t is not first)
    durations.sort()
    print(
        f"\n{N} concurrent intakes: p50 {durations[N // 2] * 1000:.0f} ms, "
        f"p99 {durations[int(N * 0.99)] * 1000:.0f} ms, max {durations[-1] * 1000:.0f} ms"
    )

    # Sequential latency, one request at a time.
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        seq = []
        for i in range(50):
            started = time.perf_counter()
            r = c.post(
                "/api/v1/tickets", json={"channel": "web", "content": f"路灯不亮第{i}处，请维修。"}
            )
            seq.append(time.perf_counter() - started)
            assert r.status_code == 201
        seq.sort()
        print(f"sequential intake: p50 {seq[25] * 1000:.1f} ms, p99 {seq[-1] * 1000:.1f} ms")

        # A streamed oversized body is cut off at the limit with 413.
        def chunks():
            yield b'{"channel": "web", "content": "'
            for _ in range(200):
                yield b"x" * 1024
            yield b'"}'

        r = c.post(
            "/api/v1/tickets", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert c.get("/healthz").json()["status"] == "ok"


def test_bench_load_client_counts_what_the_server_stored(server):
    """`shoufa bench`'s raw HTTP/1.1 client: every 201 is a stored ticket, a refusal an error."""
    from generator.bench import _fire as bench_fire

    base, token, data = server
    latencies, ids, errors = asyncio.run(bench_fire(base, token, 120, 8))
    assert errors == 0 and len(ids) == len(set(ids)) == len(latencies) == 120
    store = Store(data)
    assert {p.stem for p in store.paths()} == set(ids)
    stored = set(ids)
    latencies, ids, errors = asyncio.run(bench_fire(base, "not-a-token", 10, 3))
    assert (ids, errors, len(latencies)) == ([], 10, 10)
    # With Idempotency-Key: a second run with the same keys files nothing new.
    _, first, errors = asyncio.run(bench_fire(base, token, 30, 5, keys="bench-k", citizens=900_000_000))
    assert errors == 0 and len(set(first)) == 30
    _, again, errors = asyncio.run(bench_fire(base, token, 30, 5, keys="bench-k", citizens=900_000_000))
    assert errors == 0 and set(again) == set(first)
    assert {p.stem for p in store.paths()} == stored | set(first)
    # Each run files new citizens' tickets: none is a repeat linked to an earlier run's.
    linked = [t.id for t in store.scan() if any(e.type == "linked" for e in t.events)]
    assert linked == []
    # A storm: everyone reports the same water cut at one place, on both workers at once.
    # One ticket is the first; every other one is its repeat, linked both ways.
    place = "兰山区柳青街道基准小区7号楼"
    _, storm, errors = asyncio.run(bench_fire(base, token, 60, 10, place=place))
    assert errors == 0 and len(set(storm)) == 60
    tickets = [store.get(tid) for tid in storm]
    firsts = [t for t in tickets if not t.state.links or t.state.links[0]["relation"] != "duplicate_of"]
    assert len(firsts) == 1
    repeats = {t.id for t in tickets if t is not firsts[0]}
    assert all(t.state.links == [{"ticket": firsts[0].id, "relation": "duplicate_of"}] for t in tickets if t.id in repeats)
    # The link-backs are written after the answers, by each worker, in batches.
    first = _linked_back(store, firsts[0].id, len(repeats))
    assert sorted(link["ticket"] for link in first.state.links) == sorted(repeats)

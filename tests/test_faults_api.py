"""Storage faults under the API (issue 9, items 14 and 15), beyond test_api_faults.py.

- a write that cannot be made durable (file, journal or folder sync fails; the disk fills
  midway through a file, or under the idempotency record) answers 503/507, leaves no
  trace, keeps the earlier version, and works again by itself once the fault is gone;
- a real full disk (a tiny tmpfs), not a simulated one, behaves the same;
- uvicorn workers killed with SIGKILL again and again while tickets are being filed:
  every acknowledged ticket is on disk and valid, retries with the same Idempotency-Key
  file nothing twice, and after a restart no temp file is left.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

import intake_api.store
from intake_api.app import create_app
from intake_api.auth import TokenStore
from intake_api.store import Store
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import FISHING, VENDING, Tokens, act, all_files, file_ticket, ticket_files
from tests.conftest import CATALOG_DIR, ROOT


@pytest.fixture
def durable(api_settings, clock, catalog):
    """A client over a durable store (fsync on), so that sync failures can be injected."""
    settings = api_settings.model_copy(update={"durable": True})
    with TestClient(create_app(settings, clock=clock, catalog=catalog), raise_server_exceptions=False) as c:
        yield c


def _eio(*_args, **_kwargs):
    raise OSError(errno.EIO, os.strerror(errno.EIO))


def _intake(client, tokens, content=FISHING, **headers):
    return client.post("/api/v1/tickets", json={"channel": "web", "content": content},
                       headers=Tokens.auth(tokens.operator) | headers)


def _no_trace(data_dir: Path, before: set[str]) -> None:
    after = all_files(data_dir)
    # Only bookkeeping may change: the id counter, the journal (an entry for a change
    # that did not happen is harmless: readers re-read the ticket), the lock files.
    new = {p for p in after - before if not p.endswith((".seq", ".lock")) and not p.startswith("journal/")}
    assert new == set(), new
    assert not [p for p in after if p.endswith(".tmp")]


# -- item 15: sync failures and a disk filling up --------------------------------------------


@pytest.mark.parametrize("what", ["file", "journal", "folder"])
def test_a_sync_failure_on_intake_saves_nothing_and_passes(durable, tokens, data_dir, monkeypatch, what):
    first = file_ticket(durable, tokens)
    before = all_files(data_dir)
    with monkeypatch.context() as m:
        if what == "file":
            m.setattr(os, "fsync", _eio)
        elif what == "journal":
            m.setattr(os, "fdatasync", _eio)
        else:
            m.setattr(intake_api.store, "_fsync_dir", _eio)
        r = _intake(durable, tokens, VENDING)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "storage_unavailable" and "retry-after" in r.headers
    _no_trace(data_dir, before)
    assert [p.stem for p in ticket_files(data_dir)] == [first["id"]]
    # The fault is gone: the next request works, and the earlier ticket is intact.
    assert _intake(durable, tokens, VENDING).status_code == 201
    Store(data_dir).get(first["id"]).verify_chain()


@pytest.mark.parametrize("what", ["file", "journal", "folder"])
def test_a_sync_failure_on_an_action_keeps_the_old_version(durable, tokens, data_dir, monkeypatch, what):
    t = file_ticket(durable, tokens)
    path = ticket_files(data_dir)[0]
    old = path.read_bytes()
    with monkeypatch.context() as m:
        if what == "file":
            m.setattr(os, "fsync", _eio)
        elif what == "journal":
            m.setattr(os, "fdatasync", _eio)
        else:
            m.setattr(intake_api.store, "_fsync_dir", _eio)
        r = act(durable, t["id"], tokens.lanshan, action="accept")
    assert r.status_code == 503, r.text
    assert path.read_bytes() == old, "an answer of 503 must mean the old version is what is stored"
    assert not list(path.parent.glob("*.tmp"))
    r = act(durable, t["id"], tokens.lanshan, action="accept")
    assert r.status_code == 200
    assert [e.type for e in Store(data_dir).get(t["id"]).events][-1] == "accepted"


def test_a_disk_filling_up_midway_through_a_file(client, tokens, data_dir, monkeypatch):
    first = file_ticket(client, tokens)
    before = all_files(data_dir)
    real = os.write

    def half(fd, data):  # the first chunk fits, then the disk is full
        if len(data) > 64:
            return real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(os, "write", half)
        r = _intake(client, tokens, VENDING)
        assert r.status_code == 507 and r.headers.get("retry-after")
        r2 = act(client, first["id"], tokens.lanshan, action="accept")
        assert r2.status_code == 507
    _no_trace(data_dir, before)
    assert [e.type for e in Store(data_dir).get(first["id"]).events][-1] == "dispatched"
    assert _intake(client, tokens, VENDING).status_code == 201
    assert act(client, first["id"], tokens.lanshan, action="accept").status_code == 200


@pytest.mark.parametrize(
    ("call", "err", "status", "under", "fixture"),
    [
        # A full disk while the record's file or its log line is written.
        ("write", errno.ENOSPC, 507, "", "client"),
        # The records log's sync, which the ticket's group commit makes before the
        # ticket goes into place, fails.
        ("fdatasync", errno.EIO, 503, "log", "durable"),
    ],
)
def test_a_failure_under_the_idempotency_record_files_nothing(
    call, err, status, under, fixture, tokens, data_dir, api_settings, monkeypatch, request
):
    client = request.getfixturevalue(fixture)
    before = all_files(data_dir)
    real = getattr(os, call)
    records = str(api_settings.secrets_path / "idempotency" / under)

    def failing_for_records(fd, *args):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(records):
            raise OSError(err, os.strerror(err))
        return real(fd, *args)

    with monkeypatch.context() as m:
        m.setattr(os, call, failing_for_records)
        r = _intake(client, tokens, VENDING, **{"Idempotency-Key": "retry-me"})
    assert r.status_code == status, r.text
    _no_trace(data_dir, before)
    # The fault is gone: the retry with the same key files the ticket, once.
    r1 = _intake(client, tokens, VENDING, **{"Idempotency-Key": "retry-me"})
    r2 = _intake(client, tokens, VENDING, **{"Idempotency-Key": "retry-me"})
    assert r1.status_code == r2.status_code == 201 and r1.json()["id"] == r2.json()["id"]
    assert r2.headers["idempotent-replayed"] == "true"
    assert len(ticket_files(data_dir)) == 1


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs: a real disk that fills up (needs root; skipped elsewhere)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_real_full_disk_is_507_and_heals_when_space_returns(tiny_disk, tmp_path, clock, catalog):
    from intake_api.server import ApiSettings

    data = tiny_disk / "data"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    settings = ApiSettings(data_dir=data, site_dir=tmp_path / "site", secrets_dir=tmp_path / "secrets",
                           content_dir=tmp_path / "content", durable=True, tick_seconds=0)
    with TestClient(create_app(settings, clock=clock, catalog=catalog), raise_server_exceptions=False) as client:
        token = client.app.state.runtime.tokens.create(name="话务员", role="operator")[1]
        dept = client.app.state.runtime.tokens.create(name="兰山", role="department", department="lanshan-gov")[1]
        headers = {"Authorization": f"Bearer {token}"}
        first = client.post("/api/v1/tickets", json={"channel": "web", "content": FISHING}, headers=headers).json()
        path = ticket_files(data)[0]
        old = path.read_bytes()
        # Fill the disk to the last byte.
        filler = tiny_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            for size in (65536, 4096, 1):
                while True:
                    try:
                        os.write(fd, b"\0" * size)
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC
                        break
        finally:
            os.close(fd)
        answers = [client.post("/api/v1/tickets", json={"channel": "web", "content": f"{VENDING}第{i}次"}, headers=headers)
                   for i in range(3)]
        answers.append(client.post(f"/api/v1/tickets/{first['id']}/actions", json={"action": "accept"},
                                   headers={"Authorization": f"Bearer {dept}"}))
        assert [a.status_code for a in answers] == [507] * 4, [a.text for a in answers]
        assert path.read_bytes() == old
        assert [p.stem for p in ticket_files(data)] == [first["id"]]
        assert not list(data.rglob("*.tmp"))
        filler.unlink()  # space returns: no restart needed
        r = client.post("/api/v1/tickets", json={"channel": "web", "content": VENDING}, headers=headers)
        assert r.status_code == 201
        r = client.post(f"/api/v1/tickets/{first['id']}/actions", json={"action": "accept"},
                        headers={"Authorization": f"Bearer {dept}"})
        assert r.status_code == 200
    store = Store(data)
    assert len([store.read_path(p) for p in store.paths()]) == 2


# -- item 14: workers killed with SIGKILL in a loop ---------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`shoufa serve --workers 2 --no-watch` over a data folder, in its own process group."""

    def __init__(self, tmp: Path, data: Path, secrets: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "server.log"
        self.env = os.environ | {
            "SHOUFA_DATA_DIR": str(data),
            "SHOUFA_SECRETS_DIR": str(secrets),
            "SHOUFA_SITE_DIR": str(tmp / "site"),
            "SHOUFA_CONTENT_DIR": str(tmp / "content"),
            "SHOUFA_TICK_SECONDS": "0",
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intake_api.cli", "serve", "--workers", "2", "--no-watch", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200 and len(self.workers()) == 2:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        raise AssertionError("server did not start:\n" + self.log_path.read_text(errors="replace")[-3000:])

    def workers(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        out = []
        for c in children:
            try:
                if "spawn_main" in " ".join(c.cmdline()) and c.status() != psutil.STATUS_ZOMBIE:
                    out.append(c)
            except psutil.Error:
                pass
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


async def _citizens(base: str, token: str, stop: threading.Event, acked: dict[str, str], attempts: list[int]) -> None:
    """Six clients filing tickets one after another; each retries with the same key until
    it gets an answer (as a channel client does after a dropped connection)."""
    headers = {"Authorization": f"Bearer {token}"}

    async def one(client: httpx.AsyncClient, n: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"c{n}-{i}-{uuid.uuid4().hex[:8]}"
            body = {"channel": "app", "content": f"桥上钓鱼很危险，第{n}-{i}次反映，请处理。", "citizen_phone": f"139{n:02d}{i:06d}"}
            give_up = time.monotonic() + 90
            while time.monotonic() < give_up:
                attempts[0] += 1
                try:
                    r = await client.post("/api/v1/tickets", json=body, headers=headers | {"Idempotency-Key": key})
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
                    continue
                if r.status_code == 201:
                    acked[key] = r.json()["id"]
                    break
                assert r.status_code in (502, 503), r.text  # never a 4xx or 500 for a good request
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"request {key} never succeeded")
            i += 1

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(one(client, n) for n in range(6)))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_workers_killed_in_a_loop_lose_no_acknowledged_ticket(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    secrets = tmp_path / "secrets"
    token = TokenStore(secrets).create(name="load-test", role="operator")[1]
    server = Server(tmp_path, data, secrets)
    server.start()
    acked: dict[str, str] = {}
    attempts = [0]
    stop = threading.Event()
    kills = restarts = 0
    try:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(_citizens(server.base, token, stop, acked, attempts))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test below
                errors.append(exc)

        runner = threading.Thread(target=run)
        runner.start()
        started = time.monotonic()
        while kills < 8 and time.monotonic() - started < 60:
            time.sleep(1.0)
            # Kill a worker that is serving (not one uvicorn is still starting).
            serving = [w for w in server.workers() if time.time() - w.create_time() > 1.5]
            if not serving:
                continue
            victim = serving[kills % len(serving)]
            victim.send_signal(signal.SIGKILL)
            kills += 1
            # uvicorn's supervisor starts a new worker; if it does not, restart the server.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and (
                victim.pid in {w.pid for w in server.workers()} or len(server.workers()) < 2
            ):
                time.sleep(0.05)
            if len(server.workers()) < 2:
                server.stop()
                server.start()
                restarts += 1
        stop.set()
        runner.join(120)
        assert not runner.is_alive()
        if errors:
            raise errors[0]
    finally:
        stop.set()
        server.stop()
    assert kills >= 5
    assert len(acked) >= 30, f"only {len(acked)} tickets acknowledged in {attempts[0]} attempts"

    stray = len(list((data / "tickets").rglob("*.tmp")))  # writes cut short by a kill (chance)
    # Restart: `shoufa serve` recovers the store (stray temp files) before serving again.
    server.start()
    try:
        r = httpx.post(f"{server.base}/api/v1/tickets", json={"channel": "web", "content": FISHING},
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 201
        final = r.json()["id"]
    finally:
        server.stop()

    store = Store(data)
    files = {p.stem: p for p in store.paths()}
    # Every acknowledged ticket is stored, once per Idempotency-Key: files = acknowledgements.
    assert len(set(acked.values())) == len(acked), "one key filed two tickets"
    assert set(files) == set(acked.values()) | {final}
    for p in files.values():
        store.read_path(p)  # parses, validates and the chain verifies
    assert not list((data / "tickets").rglob("*.tmp")), "temp files left after the restart"
    assert not (data / "quarantine").exists()
    journalled = {c.ticket_id for c in store.journal.read_since()[0]}
    assert set(files) <= journalled, "a stored ticket the incremental build would never see"
    log = server.log_path.read_text(errors="replace")
    assert token not in log
    print(f"\n{kills} workers killed ({restarts} server restarts); {len(acked)} tickets acknowledged in {attempts[0]} attempts; "
          f"{stray} temp files of cut writes removed at restart")

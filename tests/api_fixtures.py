"""Fixtures for the API tests: an app over a fresh data folder, a fixed clock and tokens.

Import with `from tests.api_fixtures import *  # noqa: F403` in a tests/test_api_*.py file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from intake_api.app import create_app
from intake_api.clock import FixedClock
from intake_api.server import ApiSettings

FISHING = "兰山区通达路大桥上每天都有人桥上钓鱼，甩竿很危险，请管一管。"
VENDING = "小区门口有人占道经营，早上堵塞交通，请处理。"


@dataclass
class Tokens:
    operator: str
    supervisor: str
    editor: str
    admin: str
    lanshan: str  # department lanshan-gov
    urban: str  # department urban

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_settings(data_dir: Path, tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        data_dir=data_dir,
        site_dir=tmp_path / "site",
        secrets_dir=tmp_path / "secrets",
        content_dir=tmp_path / "content",
        durable=False,
        tick_seconds=0,
    )


@pytest.fixture
def app(api_settings: ApiSettings, clock: FixedClock, catalog) -> FastAPI:
    return create_app(api_settings, clock=clock, catalog=catalog)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def tokens(app: FastAPI) -> Tokens:
    store = app.state.runtime.tokens

    def make(name: str, role: str, department: str | None = None) -> str:
        return store.create(name=name, role=role, department=department)[1]

    return Tokens(
        operator=make("话务员", "operator"),
        supervisor=make("督办科", "supervisor"),
        editor=make("首发编辑部", "editor"),
        admin=make("管理员", "admin"),
        lanshan=make("兰山区值班", "department", "lanshan-gov"),
        urban=make("城管值班", "department", "urban"),
    )


def file_ticket(client: TestClient, tokens: Tokens, **fields: Any) -> dict[str, Any]:
    """File a ticket as the operator; return the 201 answer."""
    body = {"channel": "hotline", "content": FISHING} | fields
    r = client.post("/api/v1/tickets", json=body, headers=Tokens.auth(tokens.operator))
    assert r.status_code == 201, r.text
    return r.json()


def act(
    client: TestClient,
    ticket_id: str,
    token: str | None = None,
    *,
    code: str | None = None,
    **action: Any,
):
    headers = Tokens.auth(token) if token else {}
    if code:
        headers["X-Tracking-Code"] = code
    return client.post(f"/api/v1/tickets/{ticket_id}/actions", json=action, headers=headers)


def ticket_files(data_dir: Path) -> list[Path]:
    root = data_dir / "tickets"
    return sorted(p for p in root.rglob("*.json")) if root.exists() else []


def all_files(root: Path) -> set[str]:
    """Every file under root (relative), to prove a request wrote nothing."""
    out = set()
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


__all__ = [
    "FISHING",
    "VENDING",
    "Tokens",
    "act",
    "all_files",
    "api_settings",
    "app",
    "client",
    "file_ticket",
    "ticket_files",
    "tokens",
]

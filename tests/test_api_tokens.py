"""`shoufa token`: tokens printed once, stored hashed outside data/, revocable at once."""

from __future__ import annotations

import logging
import stat

import orjson
import pytest

from intake_api.cli import main
from tests.api_fixtures import *  # noqa: F403
from tests.api_fixtures import Tokens, act, file_ticket


@pytest.fixture
def cli(api_settings, monkeypatch, capsys):
    monkeypatch.setenv("SHOUFA_SECRETS_DIR", str(api_settings.secrets_dir))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(api_settings.data_dir), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_create_list_revoke(cli, client, api_settings, data_dir, caplog):
    caplog.set_level(logging.DEBUG)
    code, out, err = cli(
        "token", "create", "--role", "department", "--department", "urban", "--name", "城管值班"
    )
    assert code == 0
    token = out.strip()
    assert len(token) >= 43 and "\n" not in token
    assert "城管值班" in err
    path = api_settings.secrets_dir / "tokens.json"
    raw = path.read_bytes()
    assert token.encode() not in raw
    [rec] = orjson.loads(raw)["tokens"]
    assert rec["role"] == "department" and rec["department"] == "urban" and len(rec["sha256"]) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.resolve().is_relative_to(data_dir.resolve())

    r = client.get("/api/v1/queues", headers=Tokens.auth(token))
    assert r.status_code == 200 and r.json()["department"] == "urban"

    code, out, _ = cli("token", "list")
    assert code == 0 and "城管值班" in out and "active" in out and token not in out

    code, out, _ = cli("token", "revoke", "城管值班")
    assert code == 0 and "revoked" in out
    r = client.get("/api/v1/queues", headers=Tokens.auth(token))
    assert r.status_code == 401
    code, out, _ = cli("token", "list")
    assert "revoked" in out
    assert token not in caplog.text


def test_create_refuses_bad_input(cli):
    assert (
        cli("token", "create", "--role", "department", "--department", "nowhere", "--name", "x")[0]
        == 2
    )
    assert cli("token", "create", "--role", "department", "--name", "x")[0] == 2
    assert (
        cli("token", "create", "--role", "operator", "--department", "urban", "--name", "x")[0] == 2
    )
    assert cli("token", "create", "--role", "operator", "--name", "话务员A")[0] == 0
    assert cli("token", "create", "--role", "operator", "--name", "话务员A")[0] == 2
    assert cli("token", "revoke", "nobody")[0] == 2


def test_revoke_by_id_and_reuse_the_name(cli):
    _, token, _ = cli("token", "create", "--role", "editor", "--name", "编辑")
    _, out, _ = cli("token", "list")
    tok_id = next(line.split()[0] for line in out.splitlines() if "编辑" in line)
    assert cli("token", "revoke", tok_id)[0] == 0
    assert cli("token", "create", "--role", "editor", "--name", "编辑")[0] == 0


def test_department_token_is_scoped(client, tokens):
    t = file_ticket(client, tokens)  # lanshan-gov
    assert act(client, t["id"], tokens.urban, action="accept").status_code == 403
    r = client.get(
        "/api/v1/queues", params={"department": "lanshan-gov"}, headers=Tokens.auth(tokens.urban)
    )
    assert r.status_code == 403
    r = client.get("/api/v1/queues", headers=Tokens.auth(tokens.urban))
    assert r.status_code == 200 and r.json()["total"] == 0
    r = client.get("/api/v1/queues", headers=Tokens.auth(tokens.lanshan))
    assert [i["id"] for i in r.json()["items"]] == [t["id"]]
    # Department tokens cannot call editor or supervisor actions.
    for action in (
        {"action": "moderate", "decision": "hide", "reason": "x"},
        {"action": "supervise", "level": 2, "reason": "x"},
    ):
        assert act(client, t["id"], tokens.lanshan, **action).status_code == 403


def test_bad_tokens_are_401(client, tokens):
    for header in (
        "Bearer ",
        "Bearer " + "x" * 5000,
        "Bearer " + tokens.operator + "x",
        "Token abc",
        "Bearer",
    ):
        r = client.get("/api/v1/queues", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.json()["error"]["code"] == "unauthorized"

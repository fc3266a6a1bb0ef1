"""The built site at /: per-request symlink resolution, content types, no escape."""

from __future__ import annotations

import os

import pytest

from tests.api_fixtures import *  # noqa: F403


def _build(root, name: str, marker: str):
    d = root / name
    (d / "tickets" / "LY20261120000001").mkdir(parents=True)
    (d / "feeds").mkdir()
    (d / "index.html").write_text(f"<h1>{marker}</h1>", encoding="utf-8")
    (d / "tickets" / "LY20261120000001" / "index.html").write_text("ticket", encoding="utf-8")
    (d / "feeds" / "tickets.xml").write_text("<rss/>", encoding="utf-8")
    (d / "search.json").write_text("{}", encoding="utf-8")
    (d / "style.css").write_text("body{}", encoding="utf-8")
    return d


@pytest.fixture
def site(api_settings, tmp_path):
    builds = tmp_path / "builds"
    a = _build(builds, "a", "build A")
    os.symlink(a, api_settings.site_dir)
    return builds


def test_missing_site_is_503_in_chinese(client):
    r = client.get("/")
    assert r.status_code == 503 and "站点正在生成" in r.text
    assert r.headers["retry-after"]


def test_serves_files_with_types(client, site):
    r = client.get("/")
    assert r.status_code == 200 and "build A" in r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/feeds/tickets.xml").headers["content-type"].startswith("application/xml")
    assert client.get("/search.json").headers["content-type"] == "application/json"
    assert client.get("/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/tickets/LY20261120000001/").text == "ticket"
    r = client.get("/tickets/LY20261120000001", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/tickets/LY20261120000001/"
    assert client.get("/nothing/").status_code == 404
    assert client.head("/").status_code == 200
    etag = client.get("/").headers["etag"]
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_symlink_swap_is_seen_at_once(client, site, api_settings):
    assert "build A" in client.get("/").text
    b = _build(site, "b", "build B")
    tmp = api_settings.site_dir.with_name("site.new")
    os.symlink(b, tmp)
    os.replace(tmp, api_settings.site_dir)
    assert "build B" in client.get("/").text


@pytest.mark.parametrize(
    "path",
    [
        "/../secrets/tokens.json",
        "/%2e%2e/secrets/tokens.json",
        "/..%2F..%2Fetc%2Fpasswd",
        "/a%00b",
        "/%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/escape/passwd",
    ],
)
def test_never_outside_the_site(client, site, tmp_path, path):
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "tokens.json").write_text("SECRET", encoding="utf-8")
    os.symlink("/etc", site / "a" / "escape")
    r = client.get(path)
    assert r.status_code == 404, path
    assert "SECRET" not in r.text and "root:" not in r.text


def test_api_paths_are_not_the_site(client, site):
    r = client.get("/api/v2/whatever")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

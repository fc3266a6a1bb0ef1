"""A real Open311 client no one here wrote (`georeport` from PyPI) against a running server.

uvicorn serves the whole app on a free port over a throwaway copy of the catalog; the
client lists the services (in Chinese) and their definitions, and reads requests back,
in JSON and in XML (which it parses with xmltodict).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import uvicorn
from georeport import GeoReport

from intake_api.app import create_app
from intake_api.catalog import load_catalog
from intake_api.open311.keys import create_api_key
from intake_api.server import ApiSettings

from .conftest import CATALOG_DIR
from .test_open311 import REQUEST, SERVICE, check_json

FISHING = "兰山区通达路大桥上每天都有人桥上钓鱼，甩竿很危险，请管一管。"
VENDING = "罗庄街道菜市场门口有人占道经营，早上堵塞交通，请处理。"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    root: Path = tmp_path_factory.mktemp("open311-live")
    shutil.copytree(CATALOG_DIR, root / "data" / "catalog")
    settings = ApiSettings(
        data_dir=root / "data",
        site_dir=root / "site",
        secrets_dir=root / "secrets",
        durable=False,
        tick_seconds=0,
    )
    app = create_app(settings, catalog=load_catalog(root / "data" / "catalog"))
    key = create_api_key(settings.secrets_path, name="georeport-test")[1]
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def filed(server) -> list[str]:
    """Two requests filed over HTTP, as any Open311 app would (form-urlencoded)."""
    base, key = server
    ids = []
    for code, text, where in (
        ("urban.fishing", FISHING, {"lat": "35.0612", "long": "118.3419"}),
        ("urban.street_vending", VENDING, {"address_string": "罗庄区罗庄街道菜市场门口"}),
    ):
        r = httpx.post(
            f"{base}/open311/v2/requests.json",
            data={"api_key": key, "service_code": code, "description": text, **where},
        )
        assert r.status_code == 200, r.text
        ids.append(r.json()[0]["service_request_id"])
    return ids


def test_client_discovers_and_lists_services_in_chinese(server):
    base, _ = server
    discovery = httpx.get(f"{base}/open311/discovery.json").json()
    root = discovery["endpoints"][0]["url"]
    assert root == f"{base}/open311/v2"
    services = GeoReport(root).get_service_list()
    assert len(services) == 65
    for s in services:
        check_json(s, SERVICE, s["service_code"])
    names = {s["service_code"]: s["service_name"] for s in services}
    assert names["urban.fishing"] == "桥上钓鱼" and names["other.misc"] == "其他诉求"
    xml_services = GeoReport(root, output_format="xml").get_service_list()
    assert [s["service_name"] for s in xml_services] == [s["service_name"] for s in services]
    assert xml_services[0]["metadata"] in ("true", "false")


def test_client_reads_service_definitions(server):
    base, _ = server
    client = GeoReport(f"{base}/open311/v2", jurisdiction="shoufa.example.gov.cn")
    definition = client.get_service_definition("housing.property")
    assert definition["service_code"] == "housing.property"
    assert [a["description"] for a in definition["attributes"]] == ["小区名称", "问题类型"]
    xml = GeoReport(f"{base}/open311/v2", output_format="xml").get_service_definition(
        "housing.property"
    )
    assert xml["attributes"]["attribute"][1]["values"]["value"][0]["name"] == "卫生保洁"


def test_client_reads_requests(server, filed):
    base, _ = server
    client = GeoReport(f"{base}/open311/v2")
    listed = client.get_service_requests()
    assert [r["service_request_id"] for r in listed] == sorted(filed, reverse=True)
    for r in listed:
        check_json(r, REQUEST, r["service_request_id"])
    one = client.get_service_request(filed[0])
    assert one["service_code"] == "urban.fishing" and one["status"] == "open"
    assert one["agency_responsible"] == "兰山区人民政府"
    assert (
        client.get_service_requests(service_code="urban.street_vending")[0]["service_request_id"]
        == filed[1]
    )
    assert client.get_service_requests(status="closed") == []

    xml = GeoReport(f"{base}/open311/v2", output_format="xml")
    assert [r["service_request_id"] for r in xml.get_service_requests()] == sorted(
        filed, reverse=True
    )
    single = xml.get_service_request(filed[1])
    assert single["service_name"] == "占道经营" and single["address"].startswith("临沂市罗庄区")


def test_client_sees_the_standard_errors(server):
    base, _ = server
    client = GeoReport(f"{base}/open311/v2")
    with pytest.raises(requests.HTTPError) as info:
        client.get_service_request("LY20261128999999")
    assert info.value.response.status_code == 404
    assert info.value.response.json()[0]["code"] == 404
    with pytest.raises(requests.HTTPError) as info:
        client.get_service_requests(
            start_date="2026-01-01T00:00:00Z", end_date="2026-12-01T00:00:00Z"
        )
    assert info.value.response.status_code == 400

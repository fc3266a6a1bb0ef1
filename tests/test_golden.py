"""Golden site: a small fixed data set builds to the committed expected site, byte for byte.

The clock, the demo seed and the layout are pinned (the layout is a fixed stub, so a new
mkdocs-material release does not change the golden files; the real shell is covered by
test_shell.py and test_site.py). To accept an intended change of the output:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import difflib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import generator.build as gb
from generator.build import build
from generator.config import BuildConfig
from generator.shell import Layout
from intake_api.catalog import load_catalog
from intake_api.clock import FixedClock
from intake_api.demo import DemoPlan, generate
from intake_api.model import Actor, Role, TicketCreate
from intake_api.service import Service

from .conftest import CATALOG_DIR, ROOT

GOLDEN = Path(__file__).parent / "golden" / "site"
END = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
STUB = Layout(
    head='<!doctype html><html lang="zh"><head><meta charset="utf-8"><title><!--shoufa:title--></title>'
    '<meta name="description" content="<!--shoufa:description-->"><!--shoufa:extra-head--></head><body><h2><!--shoufa:topic--></h2>\n',
    tail="\n</body></html>\n",
    pages=("/about/",),
)
KEEP = (".html", ".xml", ".json", ".csv")


def _stub_shell(*, config_file, out_dir, base_url="/"):
    return STUB


def _build(root: Path) -> Path:
    data = root / "data"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    generate(data_dir=data, catalog_dir=data / "catalog", plan=DemoPlan(tickets=40, days=3, seed=11, end=END), workers=1)
    svc = Service(data_dir=data, catalog=load_catalog(data / "catalog"), clock=FixedClock(END))
    svc.create(TicketCreate(channel="web", area="兰山区", content="<b>加粗</b>{{ x }} 小区噪音扰民，电话13800001111"), actor=Actor(role=Role.OPERATOR))
    config = BuildConfig(
        data_dir=data, content_dir=ROOT / "content", site_dir=root / "site", state_dir=root / "state",
        catalog_dir=data / "catalog", workers=1, now=END, site_url="https://shoufa.example.gov.cn/",
    )
    build(config, full=True)
    return config.site_dir.resolve()


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in KEEP and not str(p.relative_to(root)).startswith(("search/shards", "assets/"))
    }


def test_golden_site(tmp_path, monkeypatch):
    monkeypatch.setattr(gb, "build_shell", _stub_shell)
    monkeypatch.setenv("TZ", "UTC")
    # The tracking code is random and its hash is in the first event: pin it.
    monkeypatch.setattr("intake_api.service.new_tracking_code", lambda: "GOLDEN2345678ABC")
    site = _build(tmp_path)
    got = _files(site)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, data in got.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(data)
        pytest.skip(f"golden site rewritten: {len(got)} files")
    want = _files(GOLDEN)
    assert sorted(got) == sorted(want), "files added or missing; UPDATE_GOLDEN=1 to accept"
    for rel in want:
        if got[rel] != want[rel]:
            diff = "".join(list(difflib.unified_diff(
                want[rel].decode(errors="replace").splitlines(True),
                got[rel].decode(errors="replace").splitlines(True), f"golden/{rel}", f"built/{rel}"))[:60])
            pytest.fail(f"{rel} differs from the golden site:\n{diff}")
